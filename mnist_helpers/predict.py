"""Predict digits in image files with a trained model, fast.

``python -m mnist_helpers.predict IMAGE... --model runs/default/model.keras [--json]`` prints
the three most likely digits of each image with their probabilities. Each image goes through
:func:`mnist_helpers.preprocess.mnist_like` first. Only ``.keras`` model files are accepted,
and they are loaded with Keras' safe mode on: a file that would need unsafe deserialisation
(a ``Lambda`` layer's Python code, say) is refused, never run; a corrupt file is reported as
such, not as a missing one. The model must take ``(28, 28, 1)`` images and give 10
probabilities, and what it gives is checked on every call: raw scores or NaN are an error,
never an answer. A faster exported copy beside the model is used only if it was made from
that very file (see :mod:`mnist_helpers.runtimes`).

Taught in 06.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from mnist_helpers.paths import runs_dir


class ModelFileError(ValueError):
    """The model file cannot be used: not a ``.keras`` file, or not a valid Keras model."""


class UnsafeModelError(ModelFileError):
    """The model file would need unsafe deserialisation (arbitrary code) to load."""


class ModelOutputError(ModelFileError):
    """The model's outputs are not probabilities over the ten digits (raw scores, NaN, ...)."""


#: The only model file suffix accepted: the zip format that ``model.save("model.keras")`` writes.
MODEL_SUFFIX = ".keras"
#: Model file suffixes of the legacy HDF5 format, refused with an explanation.
HDF5_SUFFIXES = (".h5", ".hdf5")
#: The shape of one model input: a 28x28 grey image with one channel.
IMAGE_SHAPE = (28, 28, 1)
#: What a model gives for one image: a probability for each digit.
NUM_DIGITS = 10
#: How far from 1 a row of probabilities may sum (float32 softmax rows are off by ~1e-7).
PROBA_SUM_TOLERANCE = 1e-3
#: How to get a model that fits, said when one does not.
GET_A_MODEL = "train one with `make run`, or notebook 03"
#: What to do about a damaged model file.
RETRAIN = "copy it again, or train a new one (`make run`, or notebook 03)"


def _forced_safe_mode():
    """Keras' scope that forces safe mode for one load.

    ``keras.config.enable_unsafe_deserialization()``, called anywhere in the same process (in
    an earlier notebook cell, say), would otherwise win over ``safe_mode=True``.
    """
    try:
        from keras.src.saving.serialization_lib import SafeModeScope
    except ImportError:  # a future Keras moved it; safe_mode=True still applies
        return contextlib.nullcontext()
    return SafeModeScope(True)


def _short(err: BaseException) -> str:
    """The first line of an error message, cut to a readable length."""
    lines = str(err).strip().splitlines()
    text = lines[0] if lines else type(err).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def load_model_safely(path: str | Path):
    """Load a ``.keras`` model file with Keras' safe mode on, refusing anything else.

    Safe mode means that loading never runs Python code stored in the file: a model with a
    ``Lambda`` layer, for instance, is refused, even if
    ``keras.config.enable_unsafe_deserialization()`` was called earlier in the same session.
    Only ``.keras`` files (what ``model.save("model.keras")`` writes, as in notebook 03) are
    accepted: the legacy HDF5 format (``.h5``, ``.hdf5``) is refused, because loading it has
    bypassed safe mode before (published Keras vulnerabilities). So is a model that is not
    one of this course's: it must take ``(28, 28, 1)`` images and give 10 probabilities (it
    is run once on a blank image to see that it does).

    Args:
        path: the ``.keras`` file, e.g. ``runs/default/model.keras``.

    Returns:
        The Keras model.

    Raises:
        FileNotFoundError: no such file (the message says how to train one).
        ModelFileError: the name does not end in ``.keras``, or the file is not a valid Keras
            model file (empty, truncated, corrupt, or something else renamed ``.keras``), or
            the model takes other inputs or gives other outputs than the course's.
        UnsafeModelError: the file holds code (e.g. a Lambda layer) that safe mode refuses.
        ModelOutputError: the model gives no probabilities (no softmax, or NaN weights).

    Taught in 06.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    path = check_model_file(path)

    import keras

    import mnist_helpers.models  # noqa: F401  (registers the course's own layers for loading)

    try:
        with _forced_safe_mode():
            model = keras.models.load_model(path, safe_mode=True)
    except Exception as err:  # Keras reports a bad archive in many ways
        if "safe_mode" in str(err) or "unsafe" in str(err).lower():
            raise UnsafeModelError(
                f"{path}: refused: loading it would run code stored in the file (e.g. a "
                "Lambda layer), which safe mode forbids. Only a model you built yourself "
                "should ever be loaded with safe_mode=False."
            ) from err
        raise ModelFileError(
            f"{path}: not a valid Keras model file: Keras cannot load it "
            f"({type(err).__name__}: {_short(err)}); {RETRAIN}"
        ) from err
    check_model_shapes(path, *_keras_shapes(model))
    blank = np.zeros((1, *IMAGE_SHAPE), dtype=np.float32)  # what it gives must be probabilities
    try:
        outputs = np.asarray(model(blank, training=False))
    except Exception as err:  # a layer that cannot run (its weights damaged, say)
        raise ModelFileError(
            f"{path}: Keras loads it but cannot run it on an image "
            f"({type(err).__name__}: {_short(err)}); {RETRAIN}"
        ) from err
    check_probabilities(outputs, 1, path)
    return model


def check_model_file(path: str | Path) -> Path:
    """Refuse a model file before reading it: its name, whether it exists, whether it is a zip.

    The checks of :func:`load_model_safely` that need no Keras (milliseconds); returns
    ``path`` as a ``Path``. Raises as :func:`load_model_safely` does.
    """
    path = Path(path)
    if path.suffix.lower() in HDF5_SUFFIXES:
        raise ModelFileError(
            f"{path}: refused: only {MODEL_SUFFIX} model files are accepted, not the legacy "
            f"HDF5 format ({path.suffix}), whose loading has bypassed Keras' safe mode before "
            "(published Keras vulnerabilities), so a file from elsewhere could run code. Use "
            f"a {MODEL_SUFFIX} file; a model you built yourself can be re-saved with "
            'model.save("model.keras")'
        )
    if path.suffix != MODEL_SUFFIX:
        got = f"{path.suffix!r}" if path.suffix else "no suffix"
        raise ModelFileError(
            f"{path}: not a model file name: expected a name ending in {MODEL_SUFFIX}, got "
            f'{got}; save a model with model.save("model.keras"), as in notebook 03'
        )
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no such model file; train one first (`make run`, or notebook 03)"
        )
    if not path.is_file():
        raise ModelFileError(f"{path}: is a folder, not a {MODEL_SUFFIX} model file")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{path}: not a valid Keras model file: a {MODEL_SUFFIX} file is a zip archive "
            f"and this one ({path.stat().st_size:,} bytes) is not; it is empty, truncated "
            f"(an interrupted copy or download) or not a model at all; {RETRAIN}"
        )
    return path


def _keras_shapes(model) -> tuple[list, list]:
    """The shapes of a Keras model's inputs and outputs, one image each (no batch axis)."""
    try:
        inputs, outputs = model.inputs or [], model.outputs or []
    except (AttributeError, ValueError):  # a model never built: it has no shapes yet
        return [], []
    return [tuple(t.shape[1:]) for t in inputs], [tuple(t.shape[1:]) for t in outputs]


def _fits(shape: tuple, expected: tuple) -> bool:
    return len(shape) == len(expected) and all(
        d in (None, e) for d, e in zip(shape, expected, strict=True)
    )


def check_model_shapes(source: object, inputs: list[tuple], outputs: list[tuple]) -> None:
    """Refuse a model that does not take one ``(28, 28, 1)`` image and give 10 numbers.

    ``inputs`` and ``outputs`` are the shapes of one image's input and output (no batch
    axis; ``None`` for a size the model leaves open). ``source`` names the model in the
    message (its file).

    Raises:
        ModelFileError: another input or output shape, or several inputs or outputs.
    """
    if len(inputs) == 1 and len(outputs) == 1:
        if _fits(inputs[0], IMAGE_SHAPE) and _fits(outputs[0], (NUM_DIGITS,)):
            return

    def shown(shapes: list[tuple]) -> str:
        text = ", ".join(str(tuple(shape)) for shape in shapes) or "no defined shape"
        return text.replace("None", "any")

    gives = (
        f"{outputs[0][-1]} outputs per image (shape {shown(outputs)})"
        if len(outputs) == 1 and outputs[0]
        else f"outputs of shape {shown(outputs)}"
    )
    raise ModelFileError(
        f"{source}: not a model for this course's digits: it takes images of shape "
        f"{shown(inputs)} and gives {gives}, but the course's models take (28, 28, 1) "
        f"images and give 10 probabilities, one per digit; {GET_A_MODEL}"
    )


def check_probabilities(probabilities: np.ndarray, n: int, source: object) -> np.ndarray:
    """Return a model's outputs for ``n`` images if they are probabilities over ten digits.

    That is: shape ``(n, 10)``, every value finite and in [0, 1], every row summing to 1
    (within :data:`PROBA_SUM_TOLERANCE`). Every predictor checks what its model gives,
    in a few microseconds, so that a damaged file or a model without a softmax is an error
    and never a wrong answer. ``source`` names the model in the message (its file).

    Raises:
        ModelOutputError: the outputs are not such probabilities; the message says how not.
    """
    p = probabilities
    if p.shape != (n, NUM_DIGITS):
        raise ModelOutputError(
            f"{source}: the model gave outputs of shape {p.shape} for {n} images, not "
            f"({n}, 10), 10 probabilities per image, one per digit; {GET_A_MODEL}"
        )
    if n == 0:
        return p
    sums = p.sum(axis=1)
    # no value below 0 and rows summing to 1: none above 1 either. NaN fails every comparison
    tolerance = PROBA_SUM_TOLERANCE
    if p.min() >= 0 and 1 - tolerance <= sums.min() and sums.max() <= 1 + tolerance:
        return p
    bad = ~np.isfinite(p).all(axis=1)
    if bad.any():
        raise ModelOutputError(
            f"{source}: {bad.sum()} of {n} images got NaN or infinite outputs: the model "
            f"file is damaged or its weights broken; {RETRAIN}"
        )
    raise ModelOutputError(
        f"{source}: the model's outputs are not probabilities: values from {p.min():.3g} to "
        f"{p.max():.3g}, rows summing to {sums.min():.3g} to {sums.max():.3g}, where each "
        "should be in [0, 1] and each row sum to 1. A model whose last layer has no "
        'softmax gives raw scores (logits): end it with Dense(10, activation="softmax"), as '
        "the course's models do"
    )


def _as_batch(images: np.ndarray) -> np.ndarray:
    """Return ``images`` as a float32 batch ``(n, 28, 28, 1)`` (see :class:`Predictor`)."""
    raw = np.asarray(images)
    if raw.dtype.kind not in "buif":
        raise ValueError(f"expected an array of pixel values in [0, 1], got dtype {raw.dtype}")
    low, high = (raw.min(), raw.max()) if raw.size else (0, 0)
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(
            f"expected pixel values in [0, 1], got {(~np.isfinite(raw)).sum()} NaN or "
            f"infinite values (of {raw.size}): the images are damaged; make them again "
            "(mnist_like() turns an image file into a valid input)"
        )
    if raw.dtype == np.uint8 or high > 1:
        raise ValueError(
            f"expected pixel values in [0, 1], as the model was trained on, got "
            f"{raw.dtype} values up to {high}: divide raw MNIST bytes by 255 (or use "
            "load_mnist(), which does), or mnist_like() for a file"
        )
    if low < 0:
        raise ValueError(
            f"expected pixel values in [0, 1], as the model was trained on, got "
            f"{raw.dtype} values down to {low:.3g}: ink is 1 and background 0, nothing "
            "below; use images as load_mnist() or mnist_like() give them (not standardised)"
        )
    images = raw.astype(np.float32)
    shape = images.shape
    if shape == (0,):  # an empty list: no images
        return images.reshape((0, *IMAGE_SHAPE))
    if shape in (IMAGE_SHAPE, IMAGE_SHAPE[:2]):  # one image
        return images.reshape((1, *IMAGE_SHAPE))
    if images.ndim == 3 and shape[1:] == IMAGE_SHAPE[:2]:  # (n, 28, 28)
        return images[..., np.newaxis]
    if images.ndim == 4 and shape[1:] == IMAGE_SHAPE:
        return images
    raise ValueError(
        f"expected one image of shape (28, 28) or (28, 28, 1), or a batch of shape "
        f"(n, 28, 28) or (n, 28, 28, 1), got shape {shape}; turn a photo or a drawing into "
        "an input with mnist_helpers.preprocess.mnist_like, and np.stack several of them"
    )


class Predictor:
    """A model wrapped in a compiled ``tf.function`` for low-latency predictions.

    ``Predictor(model)(images)`` returns probabilities ``(n, 10)``, one row per image, for
    float32 pixels in [0, 1] (what :func:`mnist_helpers.preprocess.mnist_like` returns):

    * one image, ``(28, 28)`` or ``(28, 28, 1)``: shape ``(1, 10)``;
    * a batch, ``(n, 28, 28)`` or ``(n, 28, 28, 1)``: shape ``(n, 10)``;
    * no images (``n = 0``, or an empty list): shape ``(0, 10)``.

    Any other shape, and pixels outside [0, 1] (NaN included), are a ``ValueError`` that
    names them; outputs that are not probabilities (a model without a softmax, a damaged
    file) a :class:`ModelOutputError` (see :func:`check_probabilities`). ``model.predict``
    spends ~40 ms of set-up on every call; a traced function called directly costs well
    under a millisecond for one image.

    Args:
        model: a Keras model that takes ``(28, 28, 1)`` images and gives 10 probabilities
            (anything else is a :class:`ModelFileError` here).
        path: the file the model was loaded from, to name in error messages.

    Taught in 06. :mod:`mnist_helpers.runtimes` has faster ones, on an exported model.
    """

    #: Which engine runs the model (see :mod:`mnist_helpers.runtimes`).
    runtime = "keras"

    def __init__(self, model, path: str | Path | None = None) -> None:
        import tensorflow as tf

        self.source = path if path is not None else f"the model {model.name!r}"
        check_model_shapes(self.source, *_keras_shapes(model))
        self.model = model
        self._function = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec([None, *IMAGE_SHAPE], tf.float32)],
            reduce_retracing=True,
        )

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, 10)`` for one image or a batch (see the class docstring)."""
        batch = _as_batch(images)
        if len(batch) == 0:
            # Not run through the model: on some CPUs (AVX-512 ones, seen in CI) TensorFlow's
            # oneDNN convolution fails on an empty batch ("input depth must be evenly
            # divisible by filter depth").
            return np.zeros((0, NUM_DIGITS), dtype=np.float32)
        return check_probabilities(self._function(batch).numpy(), len(batch), self.source)

    def predict_batches(self, images: np.ndarray, batch_size: int = 2048) -> np.ndarray:
        """Probabilities ``(n, 10)`` for many images, ``batch_size`` at a time.

        ``images`` take the same shapes as :meth:`__call__`; ``batch_size`` bounds memory.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        images = _as_batch(images)
        if len(images) == 0:
            return self(images)
        return np.concatenate(
            [self(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
        )


def top_k(probabilities: np.ndarray, k: int = 3) -> list[tuple[int, float]]:
    """The ``k`` most likely digits and their probabilities, most likely first."""
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [(int(d), float(probabilities[d])) for d in order]


def main(argv: list[str] | None = None) -> int:
    """Command line; returns the exit status.

    0: every image was predicted; 1: some image could not be read (the others are still
    predicted); 2: no image was given, or the model file is missing, refused or invalid,
    its outputs are not probabilities over ten digits, or the runtime asked for is not
    installed or its export failed.
    """
    parser = argparse.ArgumentParser(
        prog="python -m mnist_helpers.predict",
        description="Print the top-3 digits, with probabilities, for each image.",
    )
    parser.add_argument("images", nargs="*", type=Path, help="image files (PNG, JPEG, ...)")
    parser.add_argument(
        "--model", type=Path, default=None, help="a .keras file (default: runs/default/model.keras)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--top", type=int, default=3, help="how many digits to show (1-10)")
    parser.add_argument(
        "--runtime",
        choices=("auto", "litert", "onnx", "keras"),
        default="auto",
        help="the engine that runs the model (default: the fastest installed; litert and onnx "
        "export the model beside it first if needed, see python -m mnist_helpers.export)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="say which runtime is used, and why (stderr)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.top <= 10:
        parser.error(f"--top must be from 1 to 10, got {args.top}")
    if not args.images:
        print(
            "predict: no image files given, nothing to predict; name one or more, e.g. "
            "`python -m mnist_helpers.predict samples/pen_3.png`",
            file=sys.stderr,
        )
        if args.json:
            print("[]")
        return 2

    from mnist_helpers.console import quiet_stderr
    from mnist_helpers.preprocess import ImageError, mnist_like
    from mnist_helpers.runtimes import load_predictor

    model_path = args.model or runs_dir() / "default" / "model.keras"
    try:
        with quiet_stderr():  # TensorFlow's start-up lines are not for the user
            predictor = load_predictor(model_path, args.runtime)
    except (OSError, ValueError, ImportError, RuntimeError, AssertionError) as err:
        # FileNotFoundError, ModelFileError, UnsafeModelError, MissingRuntimeError,
        # ExportMismatchError, MnistNotFoundError
        print(f"predict: {err}", file=sys.stderr)
        return 2
    if args.verbose:
        print(f"predict: runtime {predictor.runtime} ({predictor.reason})", file=sys.stderr)

    results, failed = [], 0
    for path in args.images:
        try:
            probabilities = predictor(mnist_like(path))[0]
        except ImageError as err:
            print(f"predict: {err}", file=sys.stderr)
            failed += 1
            results.append({"image": str(path), "error": str(err)})
            continue
        except ModelOutputError as err:  # the model, not the image: no answer can be trusted
            print(f"predict: {err}", file=sys.stderr)
            return 2
        best = top_k(probabilities, args.top)
        results.append(
            {"image": str(path), "top": [{"digit": d, "probability": p} for d, p in best]}
        )
        if not args.json:
            shown = "  ".join(f"{d}: {p:6.2%}" for d, p in best)
            print(f"{path}: {shown}")
    if args.json:
        print(json.dumps(results, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
