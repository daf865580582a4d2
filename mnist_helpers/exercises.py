"""Check a learner's answers to the notebooks' exercises, with hints that don't give them away.

``check("02.1", answer)`` prints ``02.1 (its title): correct!`` or ``... not yet. Hint: ...``.
A checker works out the right answer itself and never prints it; an answer that is a function
is called on inputs of its own. An error raised by the answer becomes a hint; one in the
checker's own set-up (MNIST missing, a broken install) is a :class:`CourseSetupError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from numbers import Real

import numpy as np

from mnist_helpers import data
from mnist_helpers.checks import error_line
from mnist_helpers.download import ChecksumError, MnistNotFoundError
from mnist_helpers.idx import IDXFormatError, encode_idx, parse_idx_header
from mnist_helpers.preprocess import box_size, center_of_mass

Checker = Callable[[object], "str | None"]

#: id -> (one-line title, checker). Filled by the ``@exercise`` decorator below.
EXERCISES: dict[str, tuple[str, Checker]] = {}

FIX_DATA = (
    "To fix: in a terminal, in the course folder, run `make data` (or "
    "`python -m mnist_helpers.data`; offline, see its message), then run this cell again."
)
FIX_INSTALL = (
    "To fix: reinstall the course's environment with `make setup` and restart the kernel; "
    "if it happens again, tell your instructor and quote this message."
)


class CourseSetupError(RuntimeError):
    """The checker could not do its own set-up (e.g. MNIST is missing): not the learner's fault."""


@contextmanager
def course_setup(what: str) -> Iterator[None]:
    """Turn any error inside into a :class:`CourseSetupError` that says how to fix the set-up."""
    try:
        yield
    except CourseSetupError:
        raise
    except Exception as err:
        data_problem = (MnistNotFoundError, ChecksumError, IDXFormatError, OSError)
        fix = FIX_DATA if isinstance(err, data_problem) else FIX_INSTALL
        raise CourseSetupError(
            f"this exercise could not be checked because of the course set-up, not your "
            f"answer: getting {what} failed ({type(err).__name__}: {err}). {fix}"
        ) from err


def exercise(exercise_id: str, title: str) -> Callable[[Checker], Checker]:
    """Register a checker for ``exercise_id`` (e.g. ``"02.1"``)."""

    def register(checker: Checker) -> Checker:
        if exercise_id in EXERCISES:
            raise ValueError(f"exercise {exercise_id} is registered twice")
        EXERCISES[exercise_id] = (title, checker)
        return checker

    return register


def hint_for(exercise_id: str, answer: object) -> str | None:
    """Return ``None`` if ``answer`` solves ``exercise_id``, else a hint. Raises ``KeyError``
    (unknown id), ``NotImplementedError`` (a stub) and :class:`CourseSetupError`."""
    if exercise_id not in EXERCISES:
        known = ", ".join(sorted(EXERCISES)) or "none"
        raise KeyError(f"no exercise {exercise_id!r}; the exercises are: {known}")
    try:
        return EXERCISES[exercise_id][1](answer)
    except (NotImplementedError, CourseSetupError):  # not done yet, or not the answer's fault
        raise
    except Exception as err:  # a wrong type of answer should give a hint, not a traceback
        return f"your answer could not be checked ({error_line(err)})"


def check(exercise_id: str, answer: object) -> None:
    """Check ``answer`` to exercise ``exercise_id`` and print the verdict: correct, or a hint.
    Taught in every notebook's exercises."""
    hint = hint_for(exercise_id, answer)
    verdict = "correct!" if hint is None else f"not yet. Hint: {hint}"
    print(f"{exercise_id} ({EXERCISES[exercise_id][0]}): {verdict}")


def expect_number(answer: object, right: float, hint: str) -> str | None:
    """``None`` if ``answer`` is a number within 1e-6 (relative) of ``right``."""
    if isinstance(answer, bool) or not isinstance(answer, Real):
        return f"the answer should be a number, got {type(answer).__name__}"
    return None if abs(float(answer) - right) <= 1e-6 * max(1.0, abs(right)) else hint


def expect_function(
    answer: object, cases: list[tuple], reference: Callable, hint: str, atol: float = 1e-6
) -> str | None:
    """``None`` if the function ``answer`` returns what ``reference`` returns on every case;
    a wrong result names the case's shapes (never the right value), then ``hint``."""
    if not callable(answer):
        return f"the answer should be a function, got {type(answer).__name__}"
    for args in cases:
        with course_setup("the right answer"):
            right = reference(*args)
        got = answer(*args)
        if isinstance(right, tuple):
            ok = isinstance(got, (tuple, list)) and len(got) == len(right)
            ok = ok and all(np.allclose(g, r, atol=atol) for g, r in zip(got, right, strict=True))
        else:
            got = np.asarray(got)
            ok = got.shape == np.shape(right) and np.allclose(got, right, atol=atol)
        if not ok:
            shapes = ", ".join(str(np.shape(a)) if np.ndim(a) else repr(a) for a in args)
            return f"wrong result for arguments of shape/value ({shapes}). {hint}"
    return None


_rng = np.random.default_rng


def _mnist(**options) -> data.MnistData:
    with course_setup("the MNIST data"):
        return data.load_mnist(**options)


def _ink_per_digit() -> int:
    raw = _mnist(normalize=False)
    return int(np.argmax([raw.x_train[raw.y_train == d].mean() for d in range(10)]))


def _convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    windows = np.lib.stride_tricks.sliding_window_view(image, kernel.shape)
    return np.einsum("ijkl,kl->ij", windows, kernel)


def _histories() -> list[tuple]:
    import pandas as pd

    rng = _rng(3)
    accuracies = [rng.random(n).round(2) for n in (3, 6, 12)] + [[0.9, 0.95, 0.95, 0.93]]
    return [(pd.DataFrame({"epoch": range(len(a)), "val_accuracy": a}),) for a in accuracies]


def _confusions(seed: int) -> list[tuple[np.ndarray]]:
    rng = _rng(seed)
    return [
        (rng.integers(0, 50, (10, 10)) + np.diag(rng.integers(100, 900, 10)),) for _ in range(3)
    ]


def _softmax(logits) -> np.ndarray:
    """Softmax over the last axis, the largest logit subtracted first (no overflow)."""
    z = np.asarray(logits, dtype=np.float64)
    exp = np.exp(z - z.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def _probabilities(n: int, seed: int) -> np.ndarray:
    return _softmax(_rng(seed).normal(size=(n, 10)) * 3)


def _top2_accuracy(y_true, proba) -> float:
    top2 = np.argsort(proba, axis=1)[:, -2:]
    return float(np.mean((top2 == np.asarray(y_true)[:, None]).any(axis=1)))


def _standardized(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return (x - x.mean(axis=(1, 2, 3), keepdims=True)) / x.std(axis=(1, 2, 3), keepdims=True)


def _cross_entropy(logits, label) -> float:
    z = np.asarray(logits, dtype=np.float64)
    top = z.max()
    return float(top + np.log(np.exp(z - top).sum()) - z[label])


def _logit_gradient(logits, label) -> np.ndarray:
    return _softmax(logits) - np.eye(len(logits))[label]


def _logit_cases(seed: int) -> list[tuple]:
    rng = _rng(seed)
    cases = [(rng.normal(size=10) * 3, int(rng.integers(10))) for _ in range(3)]
    sure = np.zeros(10)
    sure[3] = 1000.0  # a very sure model: np.exp(1000) overflows
    return [*cases, (sure, 3), (sure, 7)]


#: The exercises answered with a number: id -> (title, the right number when asked, hint).
NUMBER_EXERCISES: dict[str, tuple[str, Callable[[], float], str]] = {
    "01.1": (
        "how many 7s",
        lambda: int(np.sum(_mnist(normalize=False).y_train == 7)),
        "count the training labels equal to 7 (np.sum or bincount)",
    ),
    "01.2": (
        "the digit with the most ink",
        _ink_per_digit,
        "average every pixel of each digit's images, then take argmax",
    ),
    "03.1": (
        "parameters of a Conv2D layer",
        lambda: 5 * 5 * 3 * 16 + 16,
        "each filter has one weight per kernel position per input channel, plus one bias",
    ),
    "04.1": (
        "steps per epoch",
        lambda: -(-60_000 // 256),
        "the last, smaller batch counts as a step too (round up)",
    ),
    "04.2": (
        "the end of the warm-up",
        lambda: (4 * 100) // 8,
        "the warm-up takes the first eighth of all the training steps",
    ),
}

#: The exercises answered with a function: id -> (title, test cases, right function, hint).
FUNCTION_EXERCISES: dict[str, tuple[str, Callable[[], list], Callable, str]] = {
    "02.1": (
        "cross-entropy without overflow",
        lambda: _logit_cases(21),
        _cross_entropy,
        "-log p_y = log(sum of exp(z)) - z_y; subtract the largest logit before np.exp and add "
        "it back after the log, so that exp never sees a huge number",
    ),
    "02.2": (
        "the gradient at the logits",
        lambda: _logit_cases(22),
        _logit_gradient,
        "the softmax of the logits (largest logit subtracted first), then 1 subtracted at the "
        "right digit",
    ),
    "02.3": (
        "the largest learning rate",
        lambda: [((1.0, 10.0),), ((4.0,),), ((0.5, 2.0, 8.0),), ((3.0, 3.0),)],
        lambda curvatures: 2.0 / max(curvatures),
        "a step multiplies w_i by 1 - rate * c_i; gradient descent converges while every "
        "factor stays between -1 and 1, and the steepest curvature leaves first",
    ),
    "01.3": (
        "read an IDX header by hand",
        lambda: [(encode_idx(np.zeros(shape, np.uint8)),) for shape in ((3, 4, 5), 7, (2, 300))],
        lambda blob: (blob[2], parse_idx_header(blob)[1]),  # the type code, then the shape
        "byte 2 is the type code, byte 3 the number of dimensions, then one big-endian "
        "4-byte integer per dimension (struct format '>I')",
    ),
    "03.3": (
        "a convolution in numpy",
        lambda: [
            (_rng(2).random(image), _rng(3).normal(size=kernel))
            for image, kernel in (((6, 6), (3, 3)), ((28, 28), (3, 3)), ((9, 7), (5, 5)))
        ],
        _convolve,
        "'valid' means the output is (H - k + 1, W - k + 1); Keras does not flip the kernel",
    ),
    "04.3": (
        "the best epoch",
        _histories,
        lambda history: int(np.argmax(np.asarray(history["val_accuracy"]))) + 1,
        "epochs are counted from 1, the frame's rows from 0; with a tie, keep the earlier epoch",
    ),
    "05.1": (
        "accuracy from a confusion matrix",
        lambda: _confusions(41),
        lambda cm: np.trace(np.asarray(cm)) / np.asarray(cm).sum(),
        "the right answers are on the diagonal",
    ),
    "05.2": (
        "recall of one digit",
        lambda: [(cm, digit) for (cm,), digit in zip(_confusions(42), (0, 5, 9), strict=True)],
        lambda cm, digit: np.asarray(cm)[digit, digit] / np.asarray(cm)[digit].sum(),
        "recall asks: of the images that truly are this digit (a row), how many were found?",
    ),
    "05.3": (
        "top-2 accuracy",
        lambda: [(_rng(s).integers(0, 10, 200), _probabilities(200, s)) for s in (43, 44)],
        _top2_accuracy,
        "np.argsort sorts each row; the last two are the best two",
    ),
    "08.2": (
        "average an ensemble",
        lambda: [([_probabilities(50, s) for s in range(k)],) for k in (2, 3, 5)],
        lambda probabilities: np.mean(probabilities, axis=0),
        "average the models' probabilities image by image, class by class",
    ),
    "08.3": (
        "the noise of a test accuracy",
        lambda: [(0.996, 10_000), (0.99, 10_000), (0.9, 500)],
        lambda accuracy, n: np.sqrt(accuracy * (1 - accuracy) / n),
        "each test image is a coin toss that comes up right with probability p: "
        "the standard error of a proportion",
    ),
    "06.1": (
        "light paper to black",
        lambda: [(_rng(61).random((5, 5)),), (_rng(62).random((28, 40)),)],
        lambda gray: 1.0 - gray,
        "paper at 1.0 must become 0.0, and ink at 0.0, 1.0",
    ),
    "06.2": (
        "a centre of mass by hand",
        lambda: [
            (_rng(62).random((28, 28)),),
            (np.pad(_rng(63).random((5, 3)), ((2, 10), (7, 1))),),
        ],
        center_of_mass,
        "weight each pixel's row (and column) number by its brightness, then divide by the "
        "total brightness (np.indices gives the numbers)",
    ),
    "06.3": (
        "the 20x20 box",
        lambda: [(204, 132), (100, 100), (30, 300), (7, 5), (500, 3)],
        box_size,
        "the longer side becomes 20; the other is scaled by the same factor, rounded, "
        "and never less than 1 pixel",
    ),
}


def _check_number(right: Callable[[], float], hint: str, answer: object) -> str | None:
    return expect_number(answer, right(), hint)


def _check_function(cases: Callable[[], list], reference: Callable, hint: str, answer: object):
    with course_setup("the test cases"):
        made = cases()
    return expect_function(answer, made, reference, hint)


for _id, (_title, *_spec) in NUMBER_EXERCISES.items():
    exercise(_id, _title)(partial(_check_number, *_spec))
for _id, (_title, *_spec) in FUNCTION_EXERCISES.items():
    exercise(_id, _title)(partial(_check_function, *_spec))


@exercise("03.2", "the shape after conv and pooling")
def _check_03_2(answer):
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return "answer with a pair (height, width)"
    if tuple(int(v) for v in answer) == ((28 - 3 + 1) // 2,) * 2:
        return None
    return (
        "a 'valid' 3x3 convolution loses a pixel on each side; 2x2 pooling halves (rounding down)"
    )


def _layer_types(model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def _not_trained_hint(model) -> str | None:
    """A hint if ``model`` scores under 80 % on the first 2,000 test images, else None."""
    test, images = _mnist(), 2000
    proba = np.asarray(model.predict(test.x_test[:images], batch_size=500, verbose=0))
    accuracy = float(np.mean(proba.argmax(axis=1) == test.y_test[:images]))
    if accuracy >= 0.8:
        return None
    return (
        f"the structure is right, but it scores {accuracy:.0%} on {images:,} test images "
        "(a model that learned nothing scores about 10 %): compile it and fit it on the "
        "training images before checking"
    )


def _training_hint(
    model, epochs: int, images: int, batch_size: int, learning_rate: float | None = None
) -> str | None:
    """A hint unless ``model`` was compiled with Adam (at ``learning_rate``, if given) and fit
    once as the exercise prescribes: ``epochs`` epochs of ``images`` images in batches of
    ``batch_size``, counted by the optimizer's steps."""
    import keras

    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return (
            "the structure is right, but the model was never compiled: compile it and fit it "
            "on the training images before checking"
        )
    if not isinstance(optimizer, keras.optimizers.Adam):
        return f"compile it with Adam (optimizer='adam'), not {type(optimizer).__name__}"
    if learning_rate is not None and not math.isclose(
        float(optimizer.learning_rate), learning_rate, rel_tol=1e-6
    ):
        return (
            f"use Adam at its default rate ({learning_rate}), got "
            f"{float(optimizer.learning_rate):g}"
        )
    steps = epochs * math.ceil(images / batch_size)
    taken = int(optimizer.iterations)
    if taken != steps:
        return (
            f"train it as the exercise says: {epochs} epochs on the first {images:,} training "
            f"images in batches of {batch_size}, {steps} steps in all; it took {taken} (build "
            "the model again before fitting it again: a second fit goes on from the first)"
        )
    return None


def _model_hint(answer, name: str) -> str | None:
    """A hint unless ``answer`` is a Keras model from 28x28x1 images to 10 probabilities."""
    import keras

    if not isinstance(answer, keras.Model):
        return f"answer with the trained Keras model itself ({name}), got {type(answer).__name__}"
    if tuple(answer.input_shape) != (None, 28, 28, 1):
        return (
            "the model should read 28x28 grey images, keras.Input(shape=(28, 28, 1)); its "
            f"input is {answer.input_shape}"
        )
    last = answer.layers[-1] if answer.layers else None
    softmax = getattr(last, "activation", None) is keras.activations.softmax
    if getattr(last, "units", None) != 10 or not softmax:
        return "the last layer gives the 10 probabilities: Dense(10, activation='softmax')"
    return None


@exercise("03.4", "build and train a first CNN")
def _check_03_4(answer):
    import keras

    if hint := _model_hint(answer, "first_cnn"):
        return hint
    layers = ["Conv2D", "MaxPooling2D", "Flatten", "Dense"]
    if _layer_types(answer) != layers:
        return (
            f"the layers should be {', '.join(layers)}, in that order; yours are "
            f"{', '.join(_layer_types(answer)) or 'none'}"
        )
    conv = answer.layers[0]
    if conv.filters != 8 or tuple(conv.kernel_size) != (3, 3) or conv.padding != "valid":
        return "the Conv2D layer should have 8 filters of 3x3, with the default padding ('valid')"
    if conv.activation is not keras.activations.relu:
        return "the Conv2D layer should use activation='relu'"
    # a 3x3 filter per channel plus a bias, then a weight per pooled 13x13x8 value per class
    if answer.count_params() != 8 * (3 * 3 + 1) + 13 * 13 * 8 * 10 + 10:
        return "the layers are right but the parameter count is not: check each layer's settings"
    return _training_hint(answer, epochs=2, images=10_000, batch_size=32) or _not_trained_hint(
        answer
    )


@exercise("04.4", "a lighter head")
def _check_04_4(answer):
    from mnist_helpers.models import NUM_CLASSES, build_cnn

    if hint := _model_hint(answer, "light"):
        return hint
    with course_setup("the reference model"):  # the CNN's blocks, average pooling, Dense(10)
        cnn = build_cnn()
        blocks = cnn.layers[: _layer_types(cnn).index("Flatten")]
        channels = blocks[-1].output.shape[-1]
        expected = sum(layer.count_params() for layer in blocks) + (channels + 1) * NUM_CLASSES
    types = _layer_types(answer)
    if "Flatten" in types:
        return (
            "a lighter head has no Flatten: GlobalAveragePooling2D takes its place (and that of "
            "the 128-unit Dense layer after it)"
        )
    if "GlobalAveragePooling2D" not in types:
        return (
            "after the last block, add keras.layers.GlobalAveragePooling2D(): it averages each "
            "channel's feature map into one number"
        )
    if answer.count_params() != expected:
        return (
            f"the layers are there, but the model has {answer.count_params():,} parameters, not "
            "the lighter head's count: keep the three blocks as given, and put nothing between "
            "the pooling and the output layer"
        )
    prescribed = {"epochs": 2, "images": 6000, "batch_size": 32, "learning_rate": 1e-3}
    return _training_hint(answer, **prescribed) or _not_trained_hint(answer)


LABEL_KEEPING = {
    "rotate by up to 10 degrees",
    "slant by up to 11 degrees",
    "shift by up to 3 pixels",
    "zoom by up to 10%",
}
AUGMENTATIONS = sorted(LABEL_KEEPING | {"flip left-right", "rotate by 180 degrees"})


@exercise("08.1", "augmentations that keep the label")
def _check_08_1(answer):
    if not isinstance(answer, (set, list, tuple)) or not set(answer) <= set(AUGMENTATIONS):
        return f"answer with a set of names taken from {AUGMENTATIONS}"
    if set(answer) == LABEL_KEEPING:
        return None
    return "for each one, picture a 2, a 6 and a 7 after it: are they still the same digit?"


@exercise("07.1", "standardise each image")
def _check_07_1(answer):
    cases = [(_rng(71).random((4, 28, 28, 1)),), (_rng(72).random((3, 5, 5, 1)) * 0.3 + 0.5,)]
    hint = (
        "each image gets its own mean and standard deviation: take them over the pixel axes "
        "(axis=(1, 2, 3), keepdims=True), not over the whole batch"
    )
    if wrong := expect_function(answer, cases, _standardized, hint, atol=1e-4):
        return wrong
    x = cases[0][0]
    if not np.allclose(answer(x + 0.4), _standardized(x), atol=1e-4):
        return "a brighter copy (x + 0.4) should give the same standardised images"
    return None


@exercise("07.2", "a corruption of your own: black ink on white")
def _check_07_2(answer):
    x = _rng(72).integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    original = x.copy()
    hint = "ink (255) must become 0, background (0) 255"
    if wrong := expect_function(answer, [(x,), (x[:1],)], lambda x: 255 - x, hint):
        return wrong
    got = np.asarray(answer(x))
    if got.dtype != np.uint8:
        return f"return uint8 pixels 0-255 like the input, got dtype {got.dtype}"
    if not np.array_equal(x, original):
        return "leave the input as it was: return a new array (255 - x makes one)"
    return None


@exercise("07.3", "the worst case")
def _check_07_3(answer):
    import pandas as pd

    if not callable(answer):
        return f"the answer should be a function, got {type(answer).__name__}"
    rng = _rng(73)
    names = ["clean", "fog", "rotate", "stripe", "mean"]
    for trial in range(3):
        accuracy = rng.random(len(names))
        accuracy[0] = 0.01 if trial == 0 else accuracy[0]  # clean is not a corruption
        accuracy[-1] = 0.001 if trial == 1 else accuracy[-1]  # nor is the mean
        table = pd.DataFrame({"corruption": names, "severity": range(5), "accuracy": accuracy})
        got = answer(table.copy())
        rows = table[~table["corruption"].isin(["clean", "mean"])]
        worst = rows.loc[rows["accuracy"].idxmin()]
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return "return a pair: (name of the corruption, its accuracy)"
        if got[0] in ("clean", "mean"):
            return f"{got[0]!r} is not a corruption: leave the rows clean and mean out"
        if got[0] != worst["corruption"] or not np.isclose(float(got[1]), worst["accuracy"]):
            return "find the corruption row with the lowest accuracy (idxmin helps)"
    return None
