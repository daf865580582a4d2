"""The argument checks that the course's public functions share, with one message style.

Each returns the checked value (as a plain Python ``int``, ``float``, ...) or raises a
``ValueError`` that names the argument, shows the value it got and says how to fix it::

    >>> check_int("epochs", "ten", hint="e.g. epochs=5")
    Traceback (most recent call last):
    ValueError: epochs must be a positive integer, got 'ten' (e.g. epochs=5)
"""

from __future__ import annotations

from collections.abc import Iterable
from numbers import Integral, Real


def _fail(name: str, wanted: str, value: object, hint: str | None) -> ValueError:
    return ValueError(f"{name} must be {wanted}, got {value!r}" + (f" ({hint})" if hint else ""))


def check_int(
    name: str,
    value: object,
    minimum: int | None = 1,
    maximum: int | None = None,
    hint: str | None = None,
) -> int:
    """Return ``value`` as an ``int`` if it is an integer (not a bool) in [minimum, maximum]."""
    if minimum is not None and maximum is not None:
        wanted = f"an integer from {minimum:,} to {maximum:,}"
    elif minimum == 1:
        wanted = "a positive integer"
    elif minimum is not None:
        wanted = f"an integer >= {minimum:,}"
    else:
        wanted = "an integer" if maximum is None else f"an integer <= {maximum:,}"
    ok = isinstance(value, Integral) and not isinstance(value, bool)
    if not ok or (minimum is not None and value < minimum):
        raise _fail(name, wanted, value, hint)
    if maximum is not None and value > maximum:
        raise _fail(name, wanted, value, hint)
    return int(value)


def check_number(
    name: str,
    value: object,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    hint: str | None = None,
) -> float:
    """Return ``value`` as a ``float`` if it is a real number (not a bool) between ``low`` and
    ``high`` (both included, or ``low`` excluded with ``low_open=True``); ``None``: no bound."""
    left = "(" if low_open else "["
    if low is not None and high is not None:
        wanted = f"a number in {left}{low:g}, {high:g}]"
    elif low is not None:
        wanted = f"a number {'>' if low_open else '>='} {low:g}"
    else:
        wanted = "a number" if high is None else f"a number <= {high:g}"
    if isinstance(value, bool) or not isinstance(value, Real) or value != value:  # NaN
        raise _fail(name, wanted, value, hint)
    too_low = low is not None and (value <= low if low_open else value < low)
    if too_low or (high is not None and value > high):
        raise _fail(name, wanted, value, hint)
    return float(value)


def check_bool(name: str, value: object, hint: str | None = None) -> bool:
    """Return ``value`` if it is ``True`` or ``False`` (not 1, 0 or "yes")."""
    if not isinstance(value, bool):
        raise _fail(name, "True or False", value, hint)
    return value


def check_choice(name: str, value: object, choices: Iterable[str], hint: str | None = None) -> str:
    """Return ``value`` if it is one of ``choices``."""
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise _fail(name, f"one of {choices}", value, hint)
    return value


def error_line(err: BaseException, limit: int = 300) -> str:
    """``"TypeName: first line of the message"``, at most ``limit`` characters: an error
    told in one short line (for a table cell, a log line or a message box)."""
    lines = str(err).strip().splitlines()
    text = f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
