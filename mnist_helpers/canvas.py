"""Draw a digit with the mouse and watch the model guess it, live (:func:`draw_and_predict`):
the pad draws in the browser (``static/digit_pad.js``) and sends the drawing at pen-up, which
:func:`drawing_to_input` and :func:`predict_drawing` read (without a browser too). Taught in 06.
"""

from __future__ import annotations

import html
import io
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from mnist_helpers.predict import top_k
from mnist_helpers.preprocess import ImageError, mnist_like

TOP = 3  # how many guesses the widget shows
#: The pad's drawing code (an ES module, no Jupyter in its drawing part: a web page can share it).
PAD_SCRIPT = Path(__file__).parent / "static" / "digit_pad.js"
EMPTY_PAD = "<i>draw a digit on the black square</i>"  # what the pad says while blank


def drawing_to_input(rgba: np.ndarray) -> np.ndarray:
    """A canvas's pixels ``(h, w, 4)`` (RGBA, uint8 or in [0, 1]) as a model input ``(28, 28,
    1)``: on a transparent canvas what is painted is ink, an opaque one is read by brightness.
    ``ImageError`` if the array is not RGBA or nothing is drawn."""
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[-1] != 4:
        raise ImageError(f"expected canvas pixels of shape (h, w, 4) (RGBA), got {rgba.shape}")
    pixels = rgba.astype(np.float32) / 255.0 if rgba.dtype.kind in "ui" else rgba
    alpha = pixels[..., 3].astype(np.float32)
    border = np.concatenate([alpha[0], alpha[-1], alpha[:, 0], alpha[:, -1]])
    if np.median(border) < 0.5:  # a transparent background: what is painted is the ink
        return mnist_like(1.0 - alpha)  # as dark ink on white paper
    return mnist_like(pixels[..., :3])


def predict_drawing(predictor, rgba: np.ndarray, k: int = TOP) -> list[tuple[int, float]]:
    """The ``k`` most likely digits of a drawing (see :func:`drawing_to_input`) with their
    probabilities, best first. ``predictor``: images -> probabilities ``(n, 10)``."""
    return top_k(np.asarray(predictor(drawing_to_input(rgba)))[0], k)


def _guesses_html(guesses: list[tuple[int, float]]) -> str:
    """The guesses as a small HTML table: digit, a bar, the probability."""
    rows = "".join(
        f"<tr><td style='font-size:20px;padding-right:8px'><b>{digit}</b></td>"
        f"<td><div style='width:{max(1, round(probability * 160))}px;height:14px;"
        f"background:{'#1f77b4' if rank == 0 else '#aaaaaa'}'></div></td>"
        f"<td style='padding-left:8px'>{probability:.1%}</td></tr>"
        for rank, (digit, probability) in enumerate(guesses)
    )
    return f"<table>{rows}</table>"


def _png_bytes(image: np.ndarray, scale: int = 4) -> bytes:
    """A model input ``(28, 28, 1)`` as PNG bytes, enlarged ``scale`` times, ink white."""
    pixels = (np.clip(np.squeeze(image), 0, 1) * 255).astype(np.uint8)
    big = PILImage.fromarray(pixels).resize(
        (pixels.shape[1] * scale, pixels.shape[0] * scale), PILImage.Resampling.NEAREST
    )
    buffer = io.BytesIO()
    big.save(buffer, format="PNG")
    return buffer.getvalue()


def pad_pixels(png: bytes, size: int) -> np.ndarray:
    """The pad's drawing, PNG bytes as the browser sends them, as ``(size, size, 4)`` RGBA;
    ``ImageError`` if it is not a PNG of ``size`` x ``size`` pixels."""
    try:
        with PILImage.open(io.BytesIO(png), formats=["PNG"]) as image:
            if image.size != (size, size):
                raise ImageError(
                    f"the pad sent a drawing of {image.size[0]}x{image.size[1]} pixels, "
                    f"expected {size}x{size}: reload the page"
                )
            return np.asarray(image.convert("RGBA"))
    except (UnidentifiedImageError, OSError) as err:
        raise ImageError(
            f"the pad sent a drawing that is not a readable PNG ({len(png):,} bytes: {err}); "
            "reload the page"
        ) from err


try:  # the course or app extra: without it, draw_and_predict says so (the rest works)
    import traitlets
    from anywidget import AnyWidget
    from ipywidgets import HTML, Button, HBox, Image, VBox
    from ipywidgets.widgets.trait_types import bytes_serialization
except ImportError:
    AnyWidget = None
else:

    class DrawingPad(AnyWidget):
        """The black square drawn on in the browser; ``drawing``: PNG bytes sent at pen-up."""

        _esm = PAD_SCRIPT
        size = traitlets.Int(280).tag(sync=True)
        # empty: nothing drawn; from the browser it comes as a memoryview, made bytes here
        drawing = traitlets.Bytes(b"").tag(sync=True, **bytes_serialization)

    class DigitPad(VBox):
        """The pad, a Clear button, the guesses and the 28x28 input the model sees."""

        def __init__(self, predictor, size: int = 280) -> None:
            self.predictor = predictor
            self.blank = _png_bytes(np.zeros((28, 28, 1), np.float32))  # a black picture
            self.canvas = DrawingPad(size=size)
            self.clear_button = Button(description="Clear", icon="eraser")
            self.result = HTML(value=EMPTY_PAD)
            self.preview = Image(value=self.blank, format="png", width=112, height=112)
            side = VBox([self.result, HTML("<small>what the model sees:</small>"), self.preview])
            super().__init__([HBox([self.canvas, side]), self.clear_button])
            self.canvas.observe(lambda _change: self.update(), names="drawing")
            self.clear_button.on_click(lambda _button: self.clear())

        def __repr__(self) -> str:  # what a notebook without widgets (e.g. GitHub) shows
            return "DigitPad: a canvas to draw a digit on (needs a live Jupyter kernel)"

        def clear(self) -> None:
            """Paint the pad black in the browser, forget its drawing, show the empty pad."""
            self.canvas.send({"type": "clear"})
            self.canvas.drawing = b""
            self.update()

        def update(self, rgba: np.ndarray | None = None) -> None:
            """Predict from ``rgba`` (default: the pad's drawing); show the result."""
            try:
                if rgba is None:
                    if not self.canvas.drawing:
                        raise ImageError("nothing drawn: the pad is blank")
                    rgba = pad_pixels(self.canvas.drawing, self.canvas.size)
                image = drawing_to_input(rgba)
            except ImageError as err:  # a blank pad asks for a digit; else, say what is wrong
                error = f"<span style='color:#b00020'>{html.escape(str(err))}</span>"
                self.result.value = EMPTY_PAD if "blank" in str(err) else error
                self.preview.value = self.blank  # black, not a broken-image icon
                return
            guesses = top_k(np.asarray(self.predictor(image))[0], TOP)
            self.preview.value = _png_bytes(image)  # first: the guesses then show beside it
            self.result.value = _guesses_html(guesses)


def draw_and_predict(predictor, size: int = 280) -> DigitPad:
    """The draw-a-digit widget for ``predictor`` (a :class:`~mnist_helpers.runtimes.Predictor`)
    to display. ``size``: the pad's side in screen pixels (the pen is ``size / 14`` wide). Its
    ``update(rgba)`` predicts a drawing made in code. Taught in 06.
    """
    if AnyWidget is None:
        raise ImportError('the digit pad needs ipywidgets: pip install "mnist_helpers[course]"')
    return DigitPad(predictor, size)
