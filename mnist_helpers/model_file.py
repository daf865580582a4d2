"""A trained model's file, opened safely (no code stored in it ever runs), and what its model
must take and give: ``(28, 28, 1)`` images in, 10 probabilities out. Taught in 06.
"""

from __future__ import annotations

import contextlib
import zipfile
from pathlib import Path

import numpy as np

from mnist_helpers.checks import error_line


class ModelFileError(ValueError):
    """The model file cannot be used: not a ``.keras`` file, or not a valid Keras model."""


class UnsafeModelError(ModelFileError):
    """The model file would need unsafe deserialisation (arbitrary code) to load."""


class ModelOutputError(ModelFileError):
    """The model's outputs are not probabilities over the ten digits (raw scores, NaN, ...)."""


MODEL_SUFFIX = ".keras"  # the zip format that model.save("model.keras") writes
HDF5_SUFFIXES = (".h5", ".hdf5")  # the legacy format, refused with an explanation
IMAGE_SHAPE = (28, 28, 1)  # one model input: a 28x28 grey image with one channel
NUM_DIGITS = 10  # what a model gives for one image: a probability for each digit
#: How far from 1 a row of probabilities may sum (float32 softmax rows are off by ~1e-7).
PROBA_SUM_TOLERANCE = 1e-3
GET_A_MODEL = "train one with `make run`, or notebook 04"
RETRAIN = "copy it again, or train a new one (`make run`, or notebook 04)"


def load_model_safely(path: str | Path):
    """Load a ``.keras`` model file with Keras' safe mode on, and return the model; else a
    ``ModelFileError`` saying why: another suffix, a damaged file, code in the file (a
    ``Lambda`` layer), no 10 probabilities for a blank image. Taught in 06."""
    path = check_model_file(path)

    import keras

    import mnist_helpers.models  # noqa: F401  (registers the course's own layers for loading)

    try:  # safe mode forced, even after keras.config.enable_unsafe_deserialization()
        from keras.src.saving.serialization_lib import SafeModeScope
    except ImportError:  # a future Keras moved it; safe_mode=True still applies
        SafeModeScope = contextlib.nullcontext
    try:
        with SafeModeScope(True):
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
            f"({error_line(err)}); {RETRAIN}"
        ) from err
    check_model_shapes(path, *keras_model_shapes(model))
    try:
        outputs = np.asarray(model(np.zeros((1, *IMAGE_SHAPE), np.float32), training=False))
    except Exception as err:  # a layer that cannot run (its weights damaged, say)
        raise ModelFileError(
            f"{path}: Keras loads it but cannot run it on an image ({error_line(err)}); {RETRAIN}"
        ) from err
    check_probabilities(outputs, 1, path)
    return model


def check_model_file(path: str | Path) -> Path:
    """The checks of :func:`load_model_safely` that need no Keras: the name, that the file
    exists and is a zip archive. Returns ``path`` as a ``Path``."""
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
            f'{got}; save a model with model.save("model.keras"), as in notebook 04'
        )
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no such model file; train one first (`make run`, or notebook 04)"
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


def keras_model_shapes(model) -> tuple[list, list]:
    """The shapes of a Keras model's inputs and outputs, one image each (no batch axis)."""
    try:
        inputs, outputs = model.inputs or [], model.outputs or []
    except (AttributeError, ValueError):  # a model never built: it has no shapes yet
        return [], []
    return [tuple(t.shape[1:]) for t in inputs], [tuple(t.shape[1:]) for t in outputs]


def check_model_shapes(source: object, inputs: list[tuple], outputs: list[tuple]) -> None:
    """Refuse (``ModelFileError``) a model that does not take one ``(28, 28, 1)`` image and
    give 10 numbers. ``inputs``, ``outputs``: one image's shapes (``None``: any size);
    ``source`` names the model in the message."""

    def fits(shapes: list[tuple], expected: tuple) -> bool:  # one shape; None: any size
        one = shapes[0] if len(shapes) == 1 else ()
        return len(one) == len(expected) and all(
            one[i] in (None, e) for i, e in enumerate(expected)
        )

    if fits(inputs, IMAGE_SHAPE) and fits(outputs, (NUM_DIGITS,)):
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
    """Return a model's outputs for ``n`` images if they are probabilities over ten digits:
    shape ``(n, 10)``, values in [0, 1], rows summing to 1. Else ``ModelOutputError``, saying
    how they are not; ``source`` names the model in the message."""
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
    if p.min() >= 0 and np.abs(sums - 1).max() <= PROBA_SUM_TOLERANCE:
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
