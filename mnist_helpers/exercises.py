"""Check a learner's answers to the notebooks' exercises, with hints that don't give them away.

Each exercise has an id ``"NN.k"`` (notebook NN, exercise k). In a notebook::

    ### BEGIN SOLUTION
    answer = ...
    ### END SOLUTION
    check("02.1", answer)

prints ``02.1: correct!`` or ``02.1: not yet: <hint>``. The lines between the SOLUTION markers
are replaced by ``# YOUR CODE HERE`` and ``raise NotImplementedError()`` in the student edition
(``make student``; see :mod:`mnist_helpers.editions`).

A checker gets the answer and returns ``None`` when it is right, or a hint. Checkers compute
the right answer themselves (from the data or the package), so no answer is written here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Checker = Callable[[object], "str | None"]

#: id -> (one-line title, checker). Filled by the ``@exercise`` decorator below.
EXERCISES: dict[str, tuple[str, Checker]] = {}


def exercise(exercise_id: str, title: str) -> Callable[[Checker], Checker]:
    """Register a checker for ``exercise_id`` (e.g. ``"02.1"``)."""

    def register(checker: Checker) -> Checker:
        if exercise_id in EXERCISES:
            raise ValueError(f"exercise {exercise_id} is registered twice")
        EXERCISES[exercise_id] = (title, checker)
        return checker

    return register


def check(exercise_id: str, answer: object) -> bool:
    """Check ``answer`` to exercise ``exercise_id``; print the verdict and return it.

    Taught in every notebook's exercises.
    """
    if exercise_id not in EXERCISES:
        known = ", ".join(sorted(EXERCISES)) or "none"
        raise KeyError(f"no exercise {exercise_id!r}; the exercises are: {known}")
    title, checker = EXERCISES[exercise_id]
    try:
        hint = checker(answer)
    except Exception as err:  # a wrong type of answer should give a hint, not a traceback
        hint = f"your answer could not be checked ({type(err).__name__}: {err})"
    if hint is None:
        print(f"{exercise_id} ({title}): correct!")
        return True
    print(f"{exercise_id} ({title}): not yet. Hint: {hint}")
    return False


# --------------------------------------------------------------------------- helpers for checkers


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def expect_number(answer: object, right: float, hint: str, tolerance: float = 1e-6) -> str | None:
    """``None`` if ``answer`` is a number within ``tolerance`` (relative) of ``right``."""
    if not _is_number(answer):
        return f"the answer should be a number, got {type(answer).__name__}"
    if abs(float(answer) - right) <= tolerance * max(1.0, abs(right)):
        return None
    return hint


def expect_array(answer: object, right: np.ndarray, hint: str, atol: float = 1e-5) -> str | None:
    """``None`` if ``answer`` is an array of ``right``'s shape with values within ``atol``."""
    answer = np.asarray(answer)
    if answer.shape != right.shape:
        return f"the shape should be {right.shape}, got {answer.shape}"
    if np.allclose(answer, right, atol=atol):
        return None
    return hint
