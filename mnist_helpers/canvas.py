"""Draw a digit with the mouse and watch the model guess it, live.

:func:`draw_and_predict` builds the widget: a black pad you draw on in white, a *Clear*
button, the model's three best guesses with bars, and the 28x28 picture the model really sees.
The strokes are drawn in the browser (``mnist_helpers/static/digit_pad.js``, an
`anywidget <https://anywidget.dev>`_), as fast as the mouse moves; when you release the mouse,
the browser sends the whole drawing to Python in one message (a PNG), and Python runs the same
recipe as for a photo (:func:`mnist_helpers.preprocess.mnist_like`) and the model
(:class:`~mnist_helpers.predict.Predictor`) on it. So the guess is always of the whole
drawing, even on a busy machine.

The work is done by two plain functions, so it can be tested, and used, without a browser:
:func:`drawing_to_input` (pixels -> model input) and :func:`predict_drawing` (pixels -> top 3).

Without a live Jupyter front end (a notebook on GitHub, or run headlessly by papermill or
nbval) the widget is still built without error, but nothing can be drawn: the notebook then
shows the same functions at work on a sample image.

Taught in 06.
"""

from __future__ import annotations

import html
import io
from pathlib import Path

import numpy as np

from mnist_helpers.predict import top_k
from mnist_helpers.preprocess import ImageError, mnist_like

#: How many guesses the widget shows.
TOP = 3

#: The pad's drawing code (an ES module, no Jupyter in its drawing part: a web page can share it).
PAD_SCRIPT = Path(__file__).parent / "static" / "digit_pad.js"

#: What the pad says while nothing is drawn on it.
EMPTY_PAD = "<i>draw a digit on the black square</i>"


def drawing_to_input(rgba: np.ndarray) -> np.ndarray:
    """Turn a canvas's pixels ``(h, w, 4)`` (RGBA, uint8 or float in [0, 1]) into a model input.

    On a transparent canvas (its border mostly transparent), whatever was painted counts as
    ink, in any colour: white strokes work as well as black ones. An opaque canvas (say,
    filled black and drawn on in white, or the reverse) is read by brightness.
    Either way :func:`~mnist_helpers.preprocess.mnist_like` then crops, scales and centres
    the digit the MNIST way.

    Returns:
        a ``(28, 28, 1)`` float32 array in [0, 1], white ink on black.

    Raises:
        ImageError: not an ``(h, w, 4)`` array, or nothing drawn yet (a blank canvas).
    """
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
    """The ``k`` most likely digits of a drawing, with their probabilities, best first.

    Args:
        predictor: a :class:`mnist_helpers.predict.Predictor` (or any callable that maps
            ``(n, 28, 28, 1)`` images to ``(n, 10)`` probabilities).
        rgba: the canvas's pixels, see :func:`drawing_to_input`.

    Raises:
        ImageError: nothing drawn yet, or not RGBA pixels.
    """
    probabilities = np.asarray(predictor(drawing_to_input(rgba)))[0]
    return top_k(probabilities, k)


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
    from PIL import Image

    pixels = (np.clip(np.squeeze(image), 0, 1) * 255).astype(np.uint8)
    big = Image.fromarray(pixels).resize(
        (pixels.shape[1] * scale, pixels.shape[0] * scale), Image.Resampling.NEAREST
    )
    buffer = io.BytesIO()
    big.save(buffer, format="PNG")
    return buffer.getvalue()


def pad_pixels(png: bytes, size: int) -> np.ndarray:
    """The pad's drawing, PNG bytes as the browser sends them, as ``(size, size, 4)`` RGBA.

    Raises:
        ImageError: not a PNG of ``size`` x ``size`` pixels (checked before decoding it).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
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


def draw_and_predict(predictor, size: int = 280):
    """Build the draw-a-digit widget: draw with the mouse, see the top-3 guesses live.

    Args:
        predictor: a :class:`mnist_helpers.predict.Predictor` wrapping a trained model.
        size: the pad's side in screen pixels (10 times MNIST's 28 by default); the pen
            is ``size / 14`` pixels wide, about as thick, relative to the digit, as MNIST's.

    Returns:
        an ``ipywidgets`` box; display it (make it the last line of a cell). Its
        ``update(rgba)`` predicts a drawing made in code (``(h, w, 4)`` pixels, see
        :func:`drawing_to_input`) and shows the guesses; ``update()`` re-reads the pad's
        drawing (called for you each time the mouse is released).

    Taught in 06.
    """
    import anywidget
    import ipywidgets as widgets
    import traitlets
    from ipywidgets.widgets.trait_types import bytes_serialization

    blank = _png_bytes(np.zeros((28, 28, 1), np.float32))  # what the model sees of nothing

    class DrawingPad(anywidget.AnyWidget):
        """The black square drawn on in the browser; ``drawing``: PNG bytes sent at pen-up."""

        _esm = PAD_SCRIPT
        size = traitlets.Int(280).tag(sync=True)
        # empty: nothing drawn; from the browser it comes as a memoryview, made bytes here
        drawing = traitlets.Bytes(b"").tag(sync=True, **bytes_serialization)

    class DigitPad(widgets.VBox):
        """The pad, a Clear button, the guesses and the 28x28 input the model sees."""

        def __init__(self) -> None:
            self.canvas = DrawingPad(size=size)
            self.clear_button = widgets.Button(description="Clear", icon="eraser")
            self.result = widgets.HTML(value=EMPTY_PAD)
            self.preview = widgets.Image(value=blank, format="png", width=112, height=112)
            side = widgets.VBox(
                [self.result, widgets.HTML("<small>what the model sees:</small>"), self.preview]
            )
            super().__init__([widgets.HBox([self.canvas, side]), self.clear_button])
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
                    rgba = pad_pixels(self.canvas.drawing, size)
                image = drawing_to_input(rgba)
            except ImageError as err:  # a blank pad asks for a digit; else, say what is wrong
                self.result.value = EMPTY_PAD if "blank" in str(err) else _error_html(err)
                self.preview.value = blank  # black, not a broken-image icon
                return
            guesses = top_k(np.asarray(predictor(image))[0], TOP)
            self.preview.value = _png_bytes(image)  # first: the guesses then show beside it
            self.result.value = _guesses_html(guesses)

    return DigitPad()


def _error_html(err: Exception) -> str:
    """An error, escaped, in red: what went wrong with the drawing."""
    return f"<span style='color:#b00020'>{html.escape(str(err))}</span>"
