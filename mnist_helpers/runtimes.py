"""Fast predictions from an exported model: LiteRT or ONNX Runtime instead of TensorFlow.

A trained course CNN needs tens of microseconds of arithmetic per image, but every call into
TensorFlow costs about a millisecond of overhead. An exported copy of the model
(:mod:`mnist_helpers.export` writes ``model.tflite`` and ``model.onnx`` beside
``model.keras``), run by a small inference engine, skips that overhead:

* ``litert``: Google's LiteRT (formerly TensorFlow Lite) interpreter, from the
  ``ai-edge-litert`` package, with its XNNPACK CPU kernels: the fastest here, for one
  image and for batches;
* ``onnx``: ONNX Runtime, from the ``onnxruntime`` package: the format most other tools
  (C#, JavaScript, C++) read;
* ``keras``: the :class:`mnist_helpers.predict.Predictor` on the ``.keras`` file, always
  available.

Every predictor here is called the same way: ``predictor(images)`` with one image or a batch
(values in [0, 1]) returns probabilities of shape ``(n, 10)``, checked to be probabilities
(:func:`mnist_helpers.predict.check_probabilities`); ``predict_batches`` bounds memory for
many images. :func:`load_predictor` picks one.

An exported file is used for ``model.keras`` only if it was made from that very file: the
export writes a record beside it, ``model.tflite.sha256`` (or ``model.onnx.sha256``), with
the SHA-256 checksums of both files, in the format ``sha256sum -c`` reads. A copy whose
record does not match the two files (the model trained again, replaced, or either file
damaged) is exported again. Taught in 06.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

import numpy as np

from mnist_helpers.console import quiet_stderr
from mnist_helpers.files import write_text_atomic
from mnist_helpers.predict import (
    IMAGE_SHAPE,
    NUM_DIGITS,
    ModelFileError,
    _as_batch,
    check_model_file,
    check_model_shapes,
    check_probabilities,
)

#: The runtimes in the order ``runtime="auto"`` tries them (fastest first, keras last).
RUNTIMES = ("litert", "onnx", "keras")
#: The file each runtime reads, beside ``model.keras``.
SUFFIXES = {"litert": ".tflite", "onnx": ".onnx", "keras": ".keras"}
#: The module each runtime imports, and the pip package that brings it.
PACKAGES = {"litert": ("ai_edge_litert", "ai-edge-litert"), "onnx": ("onnxruntime", "onnxruntime")}


class MissingRuntimeError(ImportError):
    """The runtime's package is not installed (the message says how to install it)."""


class ExportNeededError(FileNotFoundError):
    """The exported file is missing, or not made from this very ``.keras`` file."""


def exported_path(model_path: str | Path, runtime: str) -> Path:
    """The file ``runtime`` reads for ``model_path``: ``runs/x/model.keras`` -> ``model.tflite``."""
    if runtime not in SUFFIXES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    return Path(model_path).with_suffix(SUFFIXES[runtime])


def runtime_installed(runtime: str) -> bool:
    """Whether ``runtime``'s package can be imported (``keras`` always can)."""
    if runtime == "keras":
        return True
    import importlib.util

    return importlib.util.find_spec(PACKAGES[runtime][0]) is not None


def without_telemetry() -> None:
    """Switch ONNX Runtime's telemetry off, unless the user set it: call before it loads.

    Recent ONNX Runtime releases send usage events to Microsoft (on Linux and macOS too) and
    keep a device id in ``~/.cache``, unless ``ORT_DISABLE_TELEMETRY=1`` is set before the
    library loads. The course sends nothing anywhere.
    """
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


def _import_runtime(runtime: str):
    module, package = PACKAGES[runtime]
    if runtime == "onnx":
        without_telemetry()
    try:
        return __import__(module)
    except ImportError as err:
        raise MissingRuntimeError(
            f"the {runtime} runtime needs the package {package!r}, which is not installed: "
            f"`pip install {package}` (or `pip install mnist_helpers[export]`); "
            "the keras runtime works without it (--runtime keras)"
        ) from err


def record_path(exported: str | Path) -> Path:
    """Where the record of an export's source lives: ``model.tflite`` -> ``model.tflite.sha256``."""
    exported = Path(exported)
    return exported.with_name(exported.name + ".sha256")


def sha256_of(path: str | Path) -> str:
    """The SHA-256 checksum of a file, in hexadecimal (a few milliseconds for a model)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _record_text(model_sha256: str, model_path: Path, exported: Path) -> str:
    """Two lines as ``sha256sum`` writes them: the model's checksum, then the export's."""
    return f"{model_sha256}  {model_path.name}\n{sha256_of(exported)}  {exported.name}\n"


def write_export_record(model_path: Path, exported: Path, model_sha256: str) -> Path:
    """Record that ``exported`` was made from the model file whose checksum is ``model_sha256``.

    Written by :func:`mnist_helpers.export.export_and_check` once its check passed; read by
    :func:`load_predictor`. Returns the record's path.
    """
    return write_text_atomic(
        record_path(exported), _record_text(model_sha256, model_path, exported)
    )


def _check_made_from(model_path: Path, runtime: str) -> Path:
    """The exported file for ``runtime``, if its record says it was made from ``model_path``."""
    exported = exported_path(model_path, runtime)
    export = f"python -m mnist_helpers.export {model_path} --format {runtime}"
    if not exported.is_file():
        raise ExportNeededError(f"{exported}: not exported yet; run `{export}`")
    try:
        recorded = record_path(exported).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        recorded = None
    if recorded != _record_text(sha256_of(model_path), model_path, exported):
        raise ExportNeededError(
            f"{exported} is not known to be made from this {model_path.name} (no record, or "
            f"one of the two files changed since: trained again, replaced or damaged); "
            f"run `{export}`"
        )
    return exported


class LiteRTPredictor:
    """Predict with a ``.tflite`` model in the LiteRT interpreter.

    The interpreter is resized only when the batch size changes, so repeated single images
    cost one copy in, one ``invoke`` and one copy out.

    Args:
        path: a ``.tflite`` file written by :func:`mnist_helpers.export.export_model`.
        num_threads: CPU threads for the XNNPACK kernels (default: all cores).
    """

    runtime = "litert"

    def __init__(self, path: str | Path, num_threads: int | None = None) -> None:
        _import_runtime("litert")
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self._interpreter = Interpreter(
            model_path=str(self.path), num_threads=num_threads or os.cpu_count() or 1
        )
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        check_model_shapes(
            self.path,
            [tuple(int(n) for n in d["shape"][1:]) for d in inputs],
            [tuple(int(n) for n in d["shape"][1:]) for d in outputs],
        )
        self._input, self._output = inputs[0]["index"], outputs[0]["index"]
        self._batch = -1

    def _resize(self, n: int) -> None:
        if n != self._batch:
            self._interpreter.resize_tensor_input(self._input, [n, *IMAGE_SHAPE])
            # the first allocation prints LiteRT's "Created ... XNNPACK delegate" INFO line
            with quiet_stderr() if self._batch < 0 else contextlib.nullcontext():
                self._interpreter.allocate_tensors()
            self._batch = n

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, 10)`` for one image or a batch.

        As :class:`~mnist_helpers.predict.Predictor`.
        """
        batch = _as_batch(images)
        if len(batch) == 0:
            return np.zeros((0, NUM_DIGITS), dtype=np.float32)
        self._resize(len(batch))
        # write into and read from the interpreter's own buffers (views not kept: LiteRT
        # refuses to resize while one is alive)
        self._interpreter.tensor(self._input)()[...] = batch
        self._interpreter.invoke()
        outputs = self._interpreter.tensor(self._output)().copy()
        return check_probabilities(outputs, len(batch), self.path)

    def predict_batches(self, images: np.ndarray, batch_size: int = 2048) -> np.ndarray:
        """Probabilities ``(n, 10)`` for many images, ``batch_size`` at a time."""
        return _in_batches(self, images, batch_size)


class OnnxPredictor:
    """Predict with a ``.onnx`` model in ONNX Runtime (CPU).

    Args:
        path: an ``.onnx`` file written by :func:`mnist_helpers.export.export_model`.
        num_threads: CPU threads (default: all cores).
    """

    runtime = "onnx"

    def __init__(self, path: str | Path, num_threads: int | None = None) -> None:
        ort = _import_runtime("onnx")
        self.path = Path(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads or os.cpu_count() or 1
        options.log_severity_level = 3  # errors only
        self._session = ort.InferenceSession(
            str(self.path), options, providers=["CPUExecutionProvider"]
        )
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()

        def one_image(shape: list) -> tuple:  # sizes the file leaves open are names or None
            return tuple(d if isinstance(d, int) else None for d in shape[1:])

        check_model_shapes(
            self.path, [one_image(i.shape) for i in inputs], [one_image(o.shape) for o in outputs]
        )
        self._input = inputs[0].name

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, 10)`` for one image or a batch.

        As :class:`~mnist_helpers.predict.Predictor`.
        """
        batch = _as_batch(images)
        if len(batch) == 0:
            return np.zeros((0, NUM_DIGITS), dtype=np.float32)
        outputs = self._session.run(None, {self._input: batch})[0]
        return check_probabilities(outputs, len(batch), self.path)

    def predict_batches(self, images: np.ndarray, batch_size: int = 2048) -> np.ndarray:
        """Probabilities ``(n, 10)`` for many images, ``batch_size`` at a time."""
        return _in_batches(self, images, batch_size)


def _in_batches(predictor, images: np.ndarray, batch_size: int) -> np.ndarray:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    batch = _as_batch(images)
    parts = [predictor(batch[i : i + batch_size]) for i in range(0, len(batch), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, NUM_DIGITS), dtype=np.float32)


def choose_runtime(runtime: str = "auto") -> tuple[str, str]:
    """Return ``(runtime, reason)``: the runtime :func:`load_predictor` starts from, and why.

    ``"auto"`` takes the first of :data:`RUNTIMES` whose package is installed (``keras``
    always is); a named runtime is returned as it is.
    """
    if runtime != "auto":
        if runtime not in RUNTIMES:
            raise ValueError(
                f"runtime must be 'auto' or one of {', '.join(RUNTIMES)}, got {runtime!r}"
            )
        return runtime, "asked for"
    missing = []
    for candidate in RUNTIMES[:-1]:
        if runtime_installed(candidate):
            return candidate, "the fastest installed"
        missing.append(f"`pip install {PACKAGES[candidate][1]}` for {candidate}")
    return "keras", "no faster runtime installed: " + ", ".join(missing)


def load_predictor(
    model_path: str | Path,
    runtime: str = "auto",
    num_threads: int | None = None,
    check_images: np.ndarray | None = None,
):
    """A predictor for the model at ``model_path`` (a ``.keras`` file) on ``runtime``.

    The ``litert`` and ``onnx`` runtimes read ``model.tflite`` / ``model.onnx`` beside the
    model, but only if its record (``model.tflite.sha256``) says it was made from this very
    ``model.keras``: the checksums of both files are compared, a few milliseconds. Otherwise
    (no export yet, the model trained again or replaced, a damaged file) it is exported first
    and checked against the Keras model (:func:`mnist_helpers.export.export_and_check`, a
    few seconds, once): the predictor then gives the same digits as the Keras model. With
    ``runtime="auto"``, a failure there falls back to the next runtime, and ``reason`` says
    why; a model file that cannot be used is an error whatever lies beside it.

    Args:
        model_path: the trained model, e.g. ``runs/default/model.keras``.
        runtime: ``"auto"`` (the fastest installed, see :func:`choose_runtime`),
            ``"litert"``, ``"onnx"`` or ``"keras"``.
        num_threads: CPU threads for ``litert`` and ``onnx`` (default: all cores).
        check_images: images to check a new export on (default: MNIST's test images).

    Returns:
        A callable predictor (``predictor(images) -> (n, 10)``) with two attributes:
        ``runtime`` (which one) and ``reason`` (why that one, and whether it was exported now).

    Raises:
        MissingRuntimeError: a named runtime's package is not installed.
        ExportMismatchError: a named runtime's new export did not predict like the model.
        MnistNotFoundError: a new export had no test images to be checked on.
        FileNotFoundError, ModelFileError: the ``.keras`` file cannot be used (missing, not
            a ``.keras`` file, damaged, unsafe, or not a model of ten digits).
    """
    chosen, reason = choose_runtime(runtime)
    model_path = check_model_file(model_path)  # whatever export lies beside it
    candidates = [chosen] if runtime != "auto" else list(RUNTIMES[RUNTIMES.index(chosen) :])
    notes = []
    for candidate in candidates:
        try:
            predictor, how = _load(model_path, candidate, num_threads, check_images)
        except ModelFileError:  # the model itself cannot be used: no runtime can help
            raise
        except (ImportError, OSError, ValueError, RuntimeError, AssertionError) as err:
            if candidate == candidates[-1]:
                raise
            notes.append(f"{candidate}: {err}")
            continue
        predictor.reason = "; ".join([reason if not notes else "fallback", *notes, how])
        return predictor
    raise AssertionError("unreachable: keras is always the last candidate")


def _load(model_path: Path, runtime: str, num_threads: int | None, check_images):
    """One runtime's predictor, exporting first if needed; returns ``(predictor, how)``."""
    if runtime == "keras":
        from mnist_helpers.predict import Predictor, load_model_safely

        return Predictor(load_model_safely(model_path), model_path), f"reads {model_path.name}"
    _import_runtime(runtime)  # a clear error before any export
    exported = exported_path(model_path, runtime)
    try:
        _check_made_from(model_path, runtime)
        how = f"reads {exported.name}"
    except ExportNeededError:
        from mnist_helpers.export import export_and_check

        check = export_and_check(model_path, runtime, x=check_images)
        how = (
            f"exported {exported.name} now, checked: {check.n_different} of "
            f"{check.n_images:,} predictions differ from {model_path.name}"
        )
    cls = LiteRTPredictor if runtime == "litert" else OnnxPredictor
    return cls(exported, num_threads), how
