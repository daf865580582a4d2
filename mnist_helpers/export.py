"""Export a trained model for deployment, and check that the copy predicts the same.

``python -m mnist_helpers.export runs/default --format litert`` (or ``--format onnx``)
writes ``runs/default/model.tflite`` (or ``model.onnx``) with Keras' own ``model.export``,
then runs the Keras model and the exported one on the 10,000 test images and prints the
largest difference between their probabilities, how many predictions differ, and the file's
size. The exported file is kept only if no prediction differs; otherwise the command says so
and exits with status 1. Beside a kept file goes its record, ``model.tflite.sha256``: the
checksums of ``model.keras`` and of the export, by which :mod:`mnist_helpers.runtimes` knows
that the export was made from that very model file.

* **LiteRT** (``.tflite``, formerly TensorFlow Lite): phones, a Raspberry Pi, and the
  fastest predictions on a laptop CPU here (:mod:`mnist_helpers.runtimes`).
* **ONNX** (``.onnx``): the open format that ONNX Runtime runs from Python, C#, C++ or
  JavaScript. Its export needs the ``tf2onnx`` and ``onnx`` packages.

The augmentation layers of 05's models do nothing at prediction time and are left out of
the export (:func:`inference_model`). Taught in 06.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_helpers.files import atomic_path
from mnist_helpers.runtimes import (
    MissingRuntimeError,
    exported_path,
    record_path,
    sha256_of,
    without_telemetry,
    write_export_record,
)

#: The export formats, as Keras' ``model.export`` names them.
FORMATS = ("litert", "onnx")
#: The packages an export needs beyond TensorFlow (module, pip package).
EXPORT_PACKAGES = {"litert": [], "onnx": [("tf2onnx", "tf2onnx"), ("onnx", "onnx")]}


class ExportMismatchError(AssertionError):
    """The exported model does not predict what the Keras model predicts."""


class ExportFailedError(RuntimeError):
    """The runtime cannot load or run the exported file."""


#: Keras' random image layers: they change images in training only, and are left out of an
#: export (their random-number operations are not in every runtime, e.g. ONNX's).
RANDOM_LAYERS = (
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "RandomFlip",
    "RandomContrast",
    "RandomBrightness",
)


def _is_augmentation(layer) -> bool:
    import keras

    if type(layer).__name__ in RANDOM_LAYERS:
        return True
    return (
        isinstance(layer, keras.Sequential)
        and bool(layer.layers)
        and all(_is_augmentation(inner) for inner in layer.layers)
    )


def inference_model(model):
    """``model`` as it predicts: augmentation layers (identity at prediction time) left out.

    05's augmented models are ``Sequential([augmentation block, CNN])``; the block does
    nothing when the model predicts, so the exported model is the CNN alone, sharing its
    weights. Any other model is returned as it is.
    """
    import keras

    if not isinstance(model, keras.Sequential):
        return model
    kept = [layer for layer in model.layers if not _is_augmentation(layer)]
    if len(kept) == len(model.layers):
        return model
    return keras.Sequential([keras.Input(model.input_shape[1:]), *kept], name=model.name)


@dataclass
class ExportCheck:
    """How an exported model compares with the Keras model on the same images."""

    path: Path
    runtime: str
    n_images: int
    max_abs_difference: float
    n_different: int
    size_bytes: int

    def lines(self) -> list[str]:
        """The check as a few printable lines."""
        return [
            f"{self.path} ({self.size_bytes / 1e6:.2f} MB)",
            f"largest difference of a probability from Keras': {self.max_abs_difference:.1e}",
            f"predictions that differ from Keras': {self.n_different} of {self.n_images:,}",
        ]


def _model_path(run_or_model: str | Path) -> Path:
    path = Path(run_or_model)
    return path / "model.keras" if path.is_dir() else path


def _require(fmt: str) -> None:
    if fmt == "onnx":
        without_telemetry()  # tf2onnx may load ONNX Runtime
    missing = []
    for module, package in EXPORT_PACKAGES[fmt]:
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    if missing:
        raise MissingRuntimeError(
            f"exporting to {fmt} needs {', '.join(missing)}, not installed: "
            f"`pip install {' '.join(missing)}` (or `pip install mnist_helpers[export]`)"
        )


def export_model(model, path: str | Path, fmt: str, quantize: bool = False) -> Path:
    """Export a Keras ``model`` to ``path`` in format ``fmt`` (``"litert"`` or ``"onnx"``).

    ``quantize=True`` (LiteRT only) stores the weights as 8-bit integers instead of 32-bit
    floats ("dynamic-range quantisation"): a file about four times smaller, predictions that
    may differ slightly. 06 measures what it does to this model.

    Uses ``model.export(path, format=fmt)``, through a temporary file and a rename, so that
    a failed export leaves nothing behind. Returns ``path``. The file is not checked, so any
    record of an earlier, checked export at ``path`` is removed: :func:`load_predictor
    <mnist_helpers.runtimes.load_predictor>` will not take this one for it.

    Raises:
        ValueError: an unknown format.
        MissingRuntimeError: a package the export needs is not installed.
    """
    path = Path(path)
    record_path(path).unlink(missing_ok=True)
    with atomic_path(path) as tmp:
        _export_to(model, tmp, fmt, quantize)
    return path


def _export_to(model, path: Path, fmt: str, quantize: bool = False) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if quantize and fmt != "litert":
        raise ValueError(f"quantize=True works for the litert format only, not {fmt!r}")
    _require(fmt)
    options = {}
    if quantize:
        import tensorflow as tf

        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
    model = inference_model(model)
    model(np.zeros((1, 28, 28, 1), dtype=np.float32))  # a loaded model must be called once
    with warnings.catch_warnings(), _quiet_tensorflow_info():
        warnings.simplefilter("ignore", FutureWarning)  # Keras' tf2onnx shim pokes at np.object
        model.export(str(path), format=fmt, verbose=False, **options)


@contextlib.contextmanager
def _quiet_tensorflow_info():
    """Keep TensorFlow's INFO lines ("Assets written to: /tmp/...") out of the output."""
    import logging

    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def check_export(model, path: str | Path, x: np.ndarray, runtime: str | None = None) -> ExportCheck:
    """Compare an exported model with the Keras ``model`` on the images ``x``.

    Runs both (the exported one in ``runtime``, by default the one its suffix names) and
    returns the largest absolute difference between their probabilities and the number of
    images whose predicted digit differs.
    """
    from mnist_helpers.predict import Predictor
    from mnist_helpers.runtimes import LiteRTPredictor, OnnxPredictor

    path = Path(path)
    runtime = runtime or ("litert" if path.suffix == ".tflite" else "onnx")
    ours = Predictor(model).predict_batches(x)
    try:
        exported = (LiteRTPredictor if runtime == "litert" else OnnxPredictor)(path)
        theirs = exported.predict_batches(x)
    except ImportError:
        raise
    except Exception as err:  # each runtime has its own error types
        raise ExportFailedError(
            f"{path.name}: the {runtime} runtime cannot run the exported model "
            f"({type(err).__name__}: {str(err).splitlines()[0][:300]})"
        ) from err
    return ExportCheck(
        path=path,
        runtime=runtime,
        n_images=len(x),
        max_abs_difference=float(np.abs(ours - theirs).max()) if len(x) else 0.0,
        n_different=int((ours.argmax(axis=1) != theirs.argmax(axis=1)).sum()),
        size_bytes=path.stat().st_size,
    )


def export_and_check(run_or_model: str | Path, fmt: str, x: np.ndarray | None = None):
    """Export the model of a run (folder or ``.keras`` file) and check it on ``x``.

    ``x``: the images to compare on, by default MNIST's 10,000 test images. Returns the
    :class:`ExportCheck`. A kept export gets its record (see :mod:`mnist_helpers.runtimes`),
    the proof that it was made from this model file.

    Raises:
        ExportMismatchError: some prediction differs; the exported file is then not kept
            (an older one, if any, stays as it was).
        ExportFailedError: the runtime cannot load or run the exported file (not kept).
    """
    from mnist_helpers.predict import check_model_file, load_model_safely

    model_path = check_model_file(_model_path(run_or_model))
    model_sha256 = sha256_of(model_path)  # of the bytes about to be loaded
    model = load_model_safely(model_path)
    if x is None:
        from mnist_helpers.data import load_mnist

        x = load_mnist().x_test
    path = exported_path(model_path, fmt)
    with atomic_path(path) as tmp:  # renamed onto path only if the check passes
        _export_to(model, tmp, fmt)
        check = check_export(model, tmp, x, runtime=fmt)
        check.path = path
        if check.n_different:
            raise ExportMismatchError(
                f"{path}: {check.n_different} of {check.n_images:,} predictions differ from "
                f"the Keras model (largest probability difference "
                f"{check.max_abs_difference:.1e}): not kept, do not ship it"
            )
    write_export_record(model_path, path, model_sha256)
    return check


def main(argv: list[str] | None = None) -> int:
    """``python -m mnist_helpers.export RUN --format litert|onnx``; returns the exit status.

    0: exported and checked; 1: the check found differing predictions; 2: bad input (no
    such run, a refused model file, a missing package, no MNIST to check on).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = argparse.ArgumentParser(
        prog="python -m mnist_helpers.export",
        description="Export a trained model to LiteRT or ONNX and check it on the test set.",
    )
    parser.add_argument("run", type=Path, help="a run folder (runs/default) or a .keras file")
    parser.add_argument("--format", choices=FORMATS, required=True, help="what to export to")
    args = parser.parse_args(argv)
    try:
        check = export_and_check(args.run, args.format)
    except ExportMismatchError as err:
        print(f"export: {err}", file=sys.stderr)
        return 1
    except (OSError, ValueError, ImportError, RuntimeError) as err:
        # no such run, a refused model file, a missing package, MNIST missing for the check
        print(f"export: {err}", file=sys.stderr)
        return 2
    for line in check.lines():
        print(line)
    print(f"predict with it: python -m mnist_helpers.predict IMAGE --runtime {args.format}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
