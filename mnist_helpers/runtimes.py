"""Predictors: digit probabilities for images, from a Keras model (:class:`Predictor`) or its
export (:mod:`mnist_helpers.export`) in LiteRT or ONNX Runtime, without TensorFlow's per-call
overhead. All are called alike, ``predictor(images) -> (n, 10)``. Taught in 06.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from pathlib import Path

import numpy as np

from mnist_helpers.checks import check_int
from mnist_helpers.console import quiet_stderr
from mnist_helpers.model_file import (
    IMAGE_SHAPE,
    NUM_DIGITS,
    check_model_shapes,
    check_probabilities,
    keras_model_shapes,
)

#: The runtimes in the order ``runtime="auto"`` tries them (fastest first, keras last).
RUNTIMES = ("litert", "onnx", "keras")
#: The module each runtime imports, and the pip package that brings it.
PACKAGES = {"litert": ("ai_edge_litert", "ai-edge-litert"), "onnx": ("onnxruntime", "onnxruntime")}


class MissingRuntimeError(ImportError):
    """The runtime's package is not installed (the message says how to install it)."""


def without_telemetry() -> None:
    """Switch ONNX Runtime's telemetry (usage events to Microsoft) off before it loads."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


def import_runtime(runtime: str):
    """Import ``runtime``'s package (``litert`` or ``onnx``), or say how to install it."""
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


def choose_runtime(runtime: str = "auto") -> tuple[str, str]:
    """``(runtime, reason)``: for ``"auto"``, the first of :data:`RUNTIMES` installed."""
    if runtime != "auto":
        if runtime not in RUNTIMES:
            raise ValueError(
                f"runtime must be 'auto' or one of {', '.join(RUNTIMES)}, got {runtime!r}"
            )
        return runtime, "asked for"
    missing = []
    for candidate in RUNTIMES[:-1]:
        if importlib.util.find_spec(PACKAGES[candidate][0]):
            return candidate, "the fastest installed"
        missing.append(f"`pip install {PACKAGES[candidate][1]}` for {candidate}")
    return "keras", "no faster runtime installed: " + ", ".join(missing)


def _as_batch(images: np.ndarray) -> np.ndarray:
    """``images`` as a float32 batch ``(n, 28, 28, 1)``, or a ``ValueError`` saying why not."""
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
    """Probabilities from a Keras ``model`` (from the file ``path``) in a ``tf.function``:
    ``predictor(images)`` takes one image ``(28, 28[, 1])`` or a batch ``(n, 28, 28[, 1])``
    of pixels in [0, 1] and returns ``(n, 10)``. The subclasses run an export. Taught in 06."""

    #: Which engine runs the model.
    runtime = "keras"

    def __init__(self, model, path: str | Path | None = None) -> None:
        import tensorflow as tf

        self.source = path if path is not None else f"the model {model.name!r}"
        check_model_shapes(self.source, *keras_model_shapes(model))
        self.model = model
        self._function = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec([None, *IMAGE_SHAPE], tf.float32)],
            reduce_retracing=True,
        )

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self._function(batch).numpy()

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, 10)`` for one image or a batch, checked to be probabilities."""
        return self._checked(_as_batch(images))

    def _checked(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) == 0:  # never run: TensorFlow's oneDNN convolution fails on no images
            return np.zeros((0, NUM_DIGITS), dtype=np.float32)
        return check_probabilities(self._run(batch), len(batch), self.source)

    def predict_batches(self, images: np.ndarray, batch_size: int = 2048) -> np.ndarray:
        """Probabilities ``(n, 10)`` for many images, ``batch_size`` at a time (bounds memory)."""
        batch_size = check_int("batch_size", batch_size)
        batch = _as_batch(images)
        parts = [self._checked(batch[i : i + batch_size]) for i in range(0, len(batch), batch_size)]
        return np.concatenate(parts) if parts else self._checked(batch)


class LiteRTPredictor(Predictor):
    """A :class:`Predictor` on a ``.tflite`` file (:func:`mnist_helpers.export.export_model`)
    in the LiteRT interpreter, resized only when the batch size changes."""

    runtime = "litert"

    def __init__(self, path: str | Path) -> None:
        import_runtime("litert")
        from ai_edge_litert.interpreter import Interpreter

        self.source = Path(path)
        self._interpreter = Interpreter(model_path=str(path), num_threads=os.cpu_count() or 1)
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        check_model_shapes(
            self.source,
            [tuple(int(n) for n in d["shape"][1:]) for d in inputs],
            [tuple(int(n) for n in d["shape"][1:]) for d in outputs],
        )
        self._input, self._output = inputs[0]["index"], outputs[0]["index"]
        self._batch = -1

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) != self._batch:
            self._interpreter.resize_tensor_input(self._input, [len(batch), *IMAGE_SHAPE])
            # the first allocation prints LiteRT's "Created ... XNNPACK delegate" INFO line
            with quiet_stderr() if self._batch < 0 else contextlib.nullcontext():
                self._interpreter.allocate_tensors()
            self._batch = len(batch)
        # the interpreter's own buffers (views not kept: LiteRT will not resize under one)
        self._interpreter.tensor(self._input)()[...] = batch
        self._interpreter.invoke()
        return self._interpreter.tensor(self._output)().copy()


class OnnxPredictor(Predictor):
    """A :class:`Predictor` on an ``.onnx`` file (:func:`mnist_helpers.export.export_model`)
    in ONNX Runtime, on the CPU."""

    runtime = "onnx"

    def __init__(self, path: str | Path) -> None:
        ort = import_runtime("onnx")
        self.source = Path(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        options.log_severity_level = 3  # errors only
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()

        def one_image(shape: list) -> tuple:  # sizes the file leaves open are names or None
            return tuple(d if isinstance(d, int) else None for d in shape[1:])

        check_model_shapes(
            self.source, [one_image(i.shape) for i in inputs], [one_image(o.shape) for o in outputs]
        )
        self._input = inputs[0].name

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: batch})[0]


PREDICTORS = {"litert": LiteRTPredictor, "onnx": OnnxPredictor, "keras": Predictor}
