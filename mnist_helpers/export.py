"""Export a model to LiteRT or ONNX, kept only if it predicts the test images as the model does,
with a record of both files' checksums (``model.tflite.sha256``, as ``sha256sum -c`` reads it):
``python -m mnist_helpers.export runs/default --format litert|onnx``. Taught in 06.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import logging
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_helpers.checks import error_line
from mnist_helpers.console import quiet_tensorflow
from mnist_helpers.files import atomic_path, write_text_atomic
from mnist_helpers.model_file import IMAGE_SHAPE, check_model_file, load_model_safely
from mnist_helpers.runtimes import PREDICTORS, MissingRuntimeError, Predictor, without_telemetry

#: The export formats, as Keras' ``model.export`` names them, and their files' suffixes.
SUFFIXES = {"litert": ".tflite", "onnx": ".onnx"}
FORMATS = tuple(SUFFIXES)
#: The packages an export needs beyond TensorFlow (their modules have the same names).
EXPORT_PACKAGES = {"litert": [], "onnx": ["tf2onnx", "onnx"]}


class ExportMismatchError(AssertionError):
    """The exported model does not predict what the Keras model predicts."""


class ExportFailedError(RuntimeError):
    """The runtime cannot load or run the exported file."""


@dataclass
class ExportCheck:
    """How an exported model compares with the Keras model on the same images."""

    path: Path
    runtime: str
    n_images: int
    max_abs_difference: float
    n_different: int
    size_bytes: int


def exported_path(model_path: str | Path, fmt: str) -> Path:
    """The export of ``model_path`` in ``fmt``: ``runs/x/model.keras`` -> ``model.tflite``."""
    return Path(model_path).with_suffix(SUFFIXES[fmt])


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _record(model_path: Path, exported: Path, model_sha256: str | None = None) -> str:
    """Two lines as ``sha256sum`` writes them: the model's checksum, then the export's."""
    model_sha256 = model_sha256 or _sha256(model_path)
    return f"{model_sha256}  {model_path.name}\n{_sha256(exported)}  {exported.name}\n"


def export_matches(model_path: Path, fmt: str) -> bool:
    """Whether ``fmt``'s export beside ``model_path`` was checked and made from this very
    file: its record holds the checksums of both files as they are now."""
    exported = exported_path(model_path, fmt)
    try:
        return Path(f"{exported}.sha256").read_text("utf-8") == _record(model_path, exported)
    except (OSError, UnicodeDecodeError):  # no record, or no export
        return False


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "onnx":
        without_telemetry()  # tf2onnx may load ONNX Runtime
    missing = [name for name in EXPORT_PACKAGES[fmt] if not importlib.util.find_spec(name)]
    if missing:
        raise MissingRuntimeError(
            f"exporting to {fmt} needs {', '.join(missing)}, not installed: "
            f"`pip install {' '.join(missing)}` (or `pip install mnist_helpers[export]`)"
        )


def export_model(model, path: str | Path, fmt: str, quantize: bool = False) -> Path:
    """Export a Keras ``model`` to ``path`` in format ``fmt`` (``"litert"`` or ``"onnx"``),
    unchecked (an earlier export's record goes); ``quantize=True`` (LiteRT only) stores the
    weights as 8-bit integers. Returns ``path``. Taught in 06."""
    _check_format(fmt)
    if quantize and fmt != "litert":
        raise ValueError(f"quantize=True works for the litert format only, not {fmt!r}")
    path = Path(path)
    Path(f"{path}.sha256").unlink(missing_ok=True)
    with atomic_path(path) as tmp:
        _export_to(model, tmp, fmt, quantize)
    return path


def _export_to(model, path: Path, fmt: str, quantize: bool = False) -> None:
    import tensorflow as tf

    from mnist_helpers.models import inference_model  # Keras: only when exporting

    options = {"optimizations": [tf.lite.Optimize.DEFAULT]} if quantize else {}
    model = inference_model(model)  # without its training-only layers (not in every runtime)
    model(np.zeros((1, *IMAGE_SHAPE), dtype=np.float32))  # a loaded model must be called once
    logger = logging.getLogger("tensorflow")  # its INFO lines: "Assets written to: /tmp/..."
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # Keras' tf2onnx shim: np.object
            model.export(str(path), format=fmt, verbose=False, **options)
    finally:
        logger.setLevel(level)


def check_export(model, path: str | Path, x: np.ndarray, runtime: str | None = None) -> ExportCheck:
    """Run the Keras ``model`` and its export at ``path`` (in ``runtime``, by default the one
    its suffix names) on the images ``x``, and return how they compare. Taught in 06."""
    path = Path(path)
    runtime = runtime or ("litert" if path.suffix == ".tflite" else "onnx")
    ours = Predictor(model).predict_batches(x)
    try:
        theirs = PREDICTORS[runtime](path).predict_batches(x)
    except ImportError:
        raise
    except Exception as err:  # each runtime has its own error types
        raise ExportFailedError(
            f"{path.name}: the {runtime} runtime cannot run the exported model ({error_line(err)})"
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
    """Export a run's model (its folder or ``.keras`` file), check it on the images ``x``
    (default: MNIST's test images) and return the :class:`ExportCheck`; kept, with its record,
    only if no prediction differs (else ``ExportMismatchError``). Taught in 06."""
    _check_format(fmt)
    path = Path(run_or_model)
    model_path = check_model_file(path / "model.keras" if path.is_dir() else path)
    model_sha256 = _sha256(model_path)  # of the bytes about to be loaded
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
    write_text_atomic(Path(f"{path}.sha256"), _record(model_path, path, model_sha256))
    return check


def main(argv: list[str] | None = None) -> int:
    """``python -m mnist_helpers.export RUN --format litert|onnx``. Exit status 0: exported
    and checked; 1: some prediction differs; 2: bad input (the message says which)."""
    parser = argparse.ArgumentParser(
        prog="python -m mnist_helpers.export",
        description="Export a trained model to LiteRT or ONNX and check it on the test set.",
    )
    parser.add_argument("run", type=Path, help="a run folder (runs/default) or a .keras file")
    parser.add_argument("--format", choices=FORMATS, required=True, help="what to export to")
    args = parser.parse_args(argv)
    try:
        with quiet_tensorflow():
            check = export_and_check(args.run, args.format)
    except (OSError, ValueError, ImportError, RuntimeError, ExportMismatchError) as err:
        # a differing prediction (1); no such run, a refused model, a missing package or MNIST
        print(f"export: {err}", file=sys.stderr)
        return 1 if isinstance(err, ExportMismatchError) else 2
    print(f"{check.path} ({check.size_bytes / 1e6:.2f} MB)")
    print(f"largest difference of a probability from Keras': {check.max_abs_difference:.1e}")
    print(f"predictions that differ from Keras': {check.n_different} of {check.n_images:,}")
    print(f"predict with it: python -m mnist_helpers.predict IMAGE --runtime {args.format}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
