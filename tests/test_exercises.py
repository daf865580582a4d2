"""Every exercise: its checker accepts the notebook's reference solution and rejects a wrong one.

The reference solutions are read from the notebooks themselves (the lines of each exercise
cell up to its ``check(...)`` call), so a solution and its checker cannot drift apart.
"""

from __future__ import annotations

import re
import struct

import keras
import nbformat
import numpy as np
import pytest

import mnist_helpers.data as data
import mnist_helpers.download as download
from mnist_helpers import exercises
from mnist_helpers.course import notebook_paths
from mnist_helpers.exercises import AUGMENTATIONS, CourseSetupError, hint_for
from mnist_helpers.idx import IDXFormatError

CHECK_CALL = re.compile(r'^check\("(\d\d\.\d)", (\w+)\)$', re.M)


def _naive_cross_entropy(logits, label):
    """02.1's trap: softmax without subtracting the largest logit overflows (quietly here)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return -np.log(np.exp(logits)[label] / np.exp(logits).sum())


#: An obviously wrong answer per exercise: each must be rejected with a hint.
WRONG = {
    "01.1": 0,
    "01.2": -1,
    "01.3": lambda data: (0, ()),
    "02.1": lambda logits, label: _naive_cross_entropy(logits, label),
    "02.2": lambda logits, label: np.exp(logits) / np.exp(logits).sum(),
    "02.3": lambda curvatures: 1 / max(curvatures),
    "03.1": 5 * 5 * 16,
    "03.2": (26, 26),
    "03.3": lambda image, kernel: image,
    "03.4": "a CNN",  # not a model at all; near misses: test_first_cnn_near_misses_get_a_hint
    "04.1": 60_000 // 256,
    "04.2": 400,
    "04.3": lambda history: len(history),
    "04.4": "a lighter CNN",  # not a model; near misses: test_light_head_near_misses_get_a_hint
    "05.1": lambda cm: 1.0,
    "05.2": lambda cm, digit: 0.5,
    "05.3": lambda y_true, proba: 1.0,
    "08.1": set(AUGMENTATIONS),
    "08.2": lambda probabilities: probabilities[0],
    "08.3": lambda accuracy, n: accuracy / n,
    "06.1": lambda gray: gray,
    "06.2": lambda image: (13.5, 13.5),
    "06.3": lambda height, width: (20, 20),
    "07.1": lambda x: (x - x.mean()) / x.std(),  # one mean for the whole batch
    "07.2": lambda x: x,
    "07.3": lambda table: ("mean", float(table["accuracy"].min())),
}


@pytest.fixture(scope="module")
def mnist_raw():
    """The real MNIST as uint8 (01's exercises use it as ``raw``)."""
    from mnist_helpers.data import load_mnist

    return load_mnist(normalize=False, channel_axis=False)


@pytest.fixture(scope="module")
def mnist_data():
    """MNIST as the notebooks load it (floats in [0, 1]; 04's 5,000-image validation split)."""
    from mnist_helpers.data import load_mnist

    return load_mnist(validation_size=5000, seed=42)


def exercise_cells() -> dict[str, str]:
    """Exercise id -> the source of its notebook cell up to and including the check call."""
    found: dict[str, str] = {}
    for path in notebook_paths():
        for cell in nbformat.read(path, as_version=4).cells:
            match = CHECK_CALL.search(cell.source) if cell.cell_type == "code" else None
            if match:
                assert match.group(1) not in found, f"{match.group(1)} is checked twice"
                assert match.group(1).startswith(path.name[:2]), f"{match.group(1)} in {path.name}"
                found[match.group(1)] = cell.source[: match.end()]
    return found


def test_every_exercise_has_a_checker_a_notebook_cell_and_a_wrong_answer():
    assert set(exercise_cells()) == set(exercises.EXERCISES) == set(WRONG)


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.name[:2])
def test_each_notebook_ends_with_three_to_five_exercises_and_records_its_plan(path):
    nb = nbformat.read(path, as_version=4)
    start = next(i for i, c in enumerate(nb.cells) if c.source.startswith("## Exercises"))
    headings = [c for c in nb.cells[start:] if re.match(rf"\*\*{path.name[:2]}\.\d ·", c.source)]
    assert 3 <= len(headings) <= 5
    assert all("### BEGIN SOLUTION" not in c.source for c in nb.cells[:start]), "exercises last"
    plan = nb.metadata["course"]
    assert len(plan["objectives"]) >= 3 and all(isinstance(o, str) for o in plan["objectives"])
    assert plan["minutes"]["teaching"] > 0 and plan["minutes"]["exercises"] > 0


@pytest.mark.real_data
@pytest.mark.parametrize("exercise_id", sorted(exercises.EXERCISES))
def test_reference_solution_is_accepted_and_a_wrong_answer_rejected(
    exercise_id, mnist_raw, mnist_data, capsys
):
    source = exercise_cells()[exercise_id]
    answers = {}
    namespace = {
        "np": np,
        "struct": struct,
        "keras": keras,
        "raw": mnist_raw,
        "data": mnist_data,
        "check": lambda exercise, answer: answers.setdefault(exercise, answer),
    }
    exec(compile(source, f"<exercise {exercise_id}>", "exec"), namespace)
    assert hint_for(exercise_id, answers[exercise_id]) is None
    hint = hint_for(exercise_id, WRONG[exercise_id])
    assert hint, "a wrong answer must get a hint"
    exercises.check(exercise_id, WRONG[exercise_id])
    assert "not yet. Hint:" in capsys.readouterr().out


def first_cnn(pooling=keras.layers.MaxPooling2D, last_activation="softmax"):
    """03.4's model, untrained, or with one layer changed."""
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            pooling(2),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation=last_activation),
        ]
    )


@pytest.mark.real_data
@pytest.mark.parametrize(
    ("near_miss", "hint"),
    [
        (lambda: first_cnn(pooling=keras.layers.AveragePooling2D), "MaxPooling2D, Flatten"),
        (lambda: first_cnn(last_activation=None), "activation='softmax'"),
        (first_cnn, "compile it and fit it"),  # the right layers, never trained
    ],
    ids=["average pooling", "no softmax", "untrained"],
)
def test_first_cnn_near_misses_get_a_hint(near_miss, hint):
    assert hint in hint_for("03.4", near_miss())


def light_cnn(head=keras.layers.GlobalAveragePooling2D, extra_units=None):
    """04.4's model, untrained: the CNN's three blocks, ``head``, (a Dense layer,) softmax."""
    model = keras.Sequential([keras.Input(shape=(28, 28, 1))])
    for filters, size, pool in [(16, 5, True), (32, 3, True), (32, 3, False)]:
        model.add(keras.layers.Conv2D(filters, size, padding="same", use_bias=False))
        if pool:
            model.add(keras.layers.MaxPooling2D(2))
        model.add(keras.layers.BatchNormalization(momentum=0.9))
        model.add(keras.layers.ReLU())
    model.add(head())
    if extra_units:
        model.add(keras.layers.Dense(extra_units, activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    return model


@pytest.mark.real_data
@pytest.mark.parametrize(
    ("near_miss", "hint"),
    [
        (lambda: light_cnn(head=keras.layers.Flatten), "a lighter head has no Flatten"),
        (lambda: light_cnn(head=keras.layers.GlobalMaxPooling2D), "GlobalAveragePooling2D()"),
        (lambda: light_cnn(extra_units=128), "put nothing between the pooling and the output"),
        (light_cnn, "compile it and fit it"),  # the right layers, never trained
    ],
    ids=["flatten", "max pooling", "extra dense layer", "untrained"],
)
def test_light_head_near_misses_get_a_hint(near_miss, hint):
    assert hint in hint_for("04.4", near_miss())


def _fit(model, images, epochs, batch_size, optimizer="adam"):
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    x = np.zeros((images, 28, 28, 1), "float32")
    model.fit(x, np.zeros(images, "int64"), epochs=epochs, batch_size=batch_size, verbose=0)
    return model


@pytest.mark.parametrize(
    ("train", "hint"),
    [
        (lambda m: m, "never compiled: compile it and fit it"),
        (lambda m: _fit(m, 320, 2, 32, optimizer="sgd"), "compile it with Adam"),
        (lambda m: _fit(m, 320, 1, 32), "2 epochs on the first 10,000 training images"),
        (lambda m: _fit(m, 320, 2, 64), "626 steps in all; it took 10"),
    ],
    ids=["untrained", "sgd", "one epoch", "other batches"],
)
def test_the_first_cnn_must_be_trained_as_prescribed(train, hint):
    """03.4 used to pass any model at 80 %: now its training is checked too, by the steps
    Adam took (2 epochs x 313 batches of 32), before the accuracy."""
    assert hint in exercises._training_hint(train(first_cnn()), 2, 10_000, 32)


def test_the_light_head_must_use_adams_default_rate():
    model = light_cnn()
    _fit(model, 64, 1, 32, optimizer=keras.optimizers.Adam(0.01))
    hint = exercises._training_hint(model, 2, 6000, 32, learning_rate=1e-3)
    assert "Adam at its default rate (0.001), got 0.01" in hint
    steps = exercises._training_hint(model, 1, 64, 32, learning_rate=0.01)
    assert steps is None  # as prescribed: no hint


def test_a_stub_answer_raises_not_implemented_error():
    def stub(*args):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        exercises.check("03.3", stub)


def test_a_hint_never_prints_the_right_number(capsys):
    exercises.check("03.1", 1)
    assert str(5 * 5 * 3 * 16 + 16) not in capsys.readouterr().out


# ------------------------------------------------------------------------ set-up vs answer errors


@pytest.mark.parametrize(
    "error",
    [
        download.MnistNotFoundError("Could not get verified MNIST files. Tried: nothing"),
        download.ChecksumError("train-labels-idx1-ubyte: 12 bytes, expected 60008"),
        IDXFormatError("train-labels-idx1-ubyte: truncated"),
        FileNotFoundError("/course/cache lacks train-labels-idx1-ubyte"),
    ],
    ids=lambda err: type(err).__name__,
)
@pytest.mark.parametrize("exercise_id", ["01.1", "01.2"])
def test_missing_mnist_is_a_set_up_problem_not_a_wrong_answer(
    exercise_id, error, monkeypatch, capsys
):
    def failing_loader(*args, **kwargs):
        raise error

    monkeypatch.setattr(data, "load_mnist", failing_loader)
    with pytest.raises(
        CourseSetupError, match=r"course set-up, not your answer.*`make data`"
    ) as info:
        exercises.check(exercise_id, 6265)
    assert str(error) in str(info.value), "the message shows what went wrong"
    assert info.value.__cause__ is error, "the original error stays in the traceback"
    assert capsys.readouterr().out == "", "no verdict, and no hint blaming the answer"
    with pytest.raises(CourseSetupError):
        hint_for(exercise_id, 6265)


def test_a_crash_in_the_learners_function_is_still_a_hint_whatever_its_type(capsys):
    def convolve(image, kernel):
        raise FileNotFoundError("my_kernel.npy")  # the learner's own code failed

    exercises.check("03.3", convolve)
    out = capsys.readouterr().out
    assert "03.3 (a convolution in numpy): not yet. Hint: your answer could not be checked" in out
    assert "FileNotFoundError: my_kernel.npy" in out and "make" not in out


def test_a_wrong_type_of_answer_is_still_a_hint(capsys):
    exercises.check("03.2", ("a", "b"))
    assert "not yet. Hint: your answer could not be checked (ValueError" in capsys.readouterr().out


def test_a_failing_reference_is_a_set_up_problem_that_says_to_reinstall(capsys):
    exercises.EXERCISES.pop("99.2", None)

    def broken_reference(x):
        raise RuntimeError("a bug in the course")

    @exercises.exercise("99.2", "a broken checker")
    def _(answer):
        return exercises.expect_function(answer, [(1,)], broken_reference, "hint")

    try:
        with pytest.raises(
            CourseSetupError, match=r"RuntimeError: a bug in the course.*make setup"
        ):
            exercises.check("99.2", lambda x: x)
        assert capsys.readouterr().out == ""
    finally:
        exercises.EXERCISES.pop("99.2")


def test_top2_reference_agrees_with_scikit_learn():
    from sklearn import metrics

    for seed in (43, 44, 45):
        y_true = np.random.default_rng(seed).integers(0, 10, 300)
        proba = exercises._probabilities(300, seed)
        expected = metrics.top_k_accuracy_score(y_true, proba, k=2, labels=range(10))
        assert exercises._top2_accuracy(y_true, proba) == pytest.approx(expected)
