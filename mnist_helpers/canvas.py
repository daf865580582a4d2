"""Draw a digit with the mouse and watch the model guess it, live.

:func:`draw_and_predict` builds the widget: an `ipycanvas <https://ipycanvas.readthedocs.io>`_
blackboard you draw on in white, a *Clear* button, the model's three best guesses with bars,
and the 28x28 picture the model really sees. After each stroke (when you release the mouse)
the canvas sends its pixels back to Python, which runs the same recipe as for a photo
(:func:`mnist_helpers.preprocess.mnist_like`) and the model
(:class:`~mnist_helpers.predict.Predictor`).

The work is done by two plain functions, so it can be tested, and used, without a browser:
:func:`drawing_to_input` (pixels -> model input) and :func:`predict_drawing` (pixels -> top 3).

Without a live Jupyter front end (a notebook on GitHub, or run headlessly by papermill or
nbval) the widget is still built without error, but nothing can be drawn: the notebook then
shows the same functions at work on a sample image.

Taught in 06.
"""

from __future__ import annotations

import io

import numpy as np

from mnist_helpers.predict import top_k
from mnist_helpers.preprocess import ImageError, mnist_like

#: How many guesses the widget shows.
TOP = 3


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


def draw_and_predict(predictor, size: int = 280):
    """Build the draw-a-digit widget: draw with the mouse, see the top-3 guesses live.

    Args:
        predictor: a :class:`mnist_helpers.predict.Predictor` wrapping a trained model.
        size: the canvas's side in screen pixels (10 times MNIST's 28 by default); the pen
            is ``size / 14`` pixels wide, about as thick, relative to the digit, as MNIST's.

    Returns:
        an ``ipywidgets`` box; display it (make it the last line of a cell). Its ``update()``
        re-reads the canvas and refreshes the guesses (called for you after each stroke).

    Taught in 06.
    """
    import ipywidgets as widgets
    from ipycanvas import Canvas

    blank = _png_bytes(np.zeros((28, 28, 1), np.float32))  # what the model sees of nothing

    class DigitPad(widgets.VBox):
        """The canvas, a Clear button, the guesses and the 28x28 input the model sees."""

        def __init__(self) -> None:
            self.canvas = Canvas(width=size, height=size, sync_image_data=True)
            self.canvas.layout.width = f"{size}px"
            self.canvas.layout.height = f"{size}px"
            self.canvas.layout.border = "1px solid #888"
            self.clear_button = widgets.Button(description="Clear", icon="eraser")
            self.result = widgets.HTML(value="<i>draw a digit on the black square</i>")
            self.preview = widgets.Image(value=blank, format="png", width=112, height=112)
            side = widgets.VBox(
                [self.result, widgets.HTML("<small>what the model sees:</small>"), self.preview]
            )
            super().__init__([widgets.HBox([self.canvas, side]), self.clear_button])
            self._drawing = False
            self._last = (0.0, 0.0)
            self.canvas.on_mouse_down(self._down)
            self.canvas.on_mouse_move(self._move)
            self.canvas.on_mouse_up(self._up)
            self.canvas.on_mouse_out(self._up)
            # Painted when a browser shows the canvas, not now: commands sent before a front
            # end exists are replayed by Voila ahead of the canvas, which then stays blank.
            self.canvas.on_client_ready(self.clear)
            # the front end sends the pixels after it has drawn: predict when they arrive
            self.canvas.observe(self._pixels_arrived, names="image_data")
            self.clear_button.on_click(lambda _button: self.clear())

        def __repr__(self) -> str:  # what a notebook without widgets (e.g. GitHub) shows
            return "DigitPad: a canvas to draw a digit on (needs a live Jupyter kernel)"

        def clear(self) -> None:
            """Paint the canvas black and set the pen: white, round, size/14 wide."""
            self.canvas.fill_style = "black"
            self.canvas.fill_rect(0, 0, size, size)
            self.canvas.stroke_style = "white"
            self.canvas.line_width = size / 14
            self.canvas.line_cap = "round"
            self.canvas.line_join = "round"

        def _down(self, x: float, y: float) -> None:
            self._drawing, self._last = True, (x, y)
            self.canvas.stroke_line(x, y, x, y)  # a click makes a dot

        def _move(self, x: float, y: float) -> None:
            if self._drawing:
                self.canvas.stroke_line(*self._last, x, y)
                self._last = (x, y)

        def _up(self, x: float, y: float) -> None:
            if self._drawing:
                self._drawing = False
                self.update()

        def _pixels_arrived(self, _change) -> None:
            if not self._drawing:  # not mid-stroke: a finished stroke, or Clear
                self.update()

        def update(self, rgba: np.ndarray | None = None) -> None:
            """Predict from ``rgba`` (default: the canvas's latest pixels); show the result."""
            if rgba is None:
                if self.canvas.image_data is None:  # no front end has sent pixels yet
                    return
                rgba = self.canvas.get_image_data()
            try:
                image = drawing_to_input(rgba)
            except ImageError:
                self.result.value = "<i>draw a digit on the black square</i>"
                self.preview.value = blank  # black, not a broken-image icon
                return
            guesses = top_k(np.asarray(predictor(image))[0], TOP)
            self.result.value = _guesses_html(guesses)
            self.preview.value = _png_bytes(image)

    return DigitPad()
