"""Tests of mnist_helpers.canvas: a drawing's pixels become a prediction, with no browser."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from conftest import tiny_model
from mnist_helpers.canvas import (
    PAD_SCRIPT,
    _guesses_html,
    _png_bytes,
    draw_and_predict,
    drawing_to_input,
    pad_pixels,
    predict_drawing,
)
from mnist_helpers.preprocess import ImageError, center_of_mass
from mnist_helpers.runtimes import Predictor


def stroke(background: str, size: int = 140) -> np.ndarray:
    """RGBA canvas pixels (uint8) with a white vertical stroke: a '1' drawn in white.

    ``background`` is "transparent" (alpha 0 around the stroke) or "black" (opaque).
    """
    rgba = np.zeros((size, size, 4), dtype=np.uint8)
    edge = (255, 255, 255, 128)  # anti-aliased: half-transparent white...
    if background == "black":
        rgba[..., 3] = 255
        edge = (128, 128, 128, 255)  # ...or, on an opaque canvas, grey
    rgba[20:120, 60:75] = 255  # white, opaque
    rgba[20:120, 59] = rgba[20:120, 75] = edge
    return rgba


@pytest.fixture(scope="module")
def predictor():
    return Predictor(tiny_model())  # untrained: only the plumbing is tested


@pytest.mark.parametrize("background", ["transparent", "black"])
def test_drawing_to_input_makes_a_centred_white_on_black_digit(background):
    image = drawing_to_input(stroke(background))
    assert image.shape == (28, 28, 1) and image.dtype == np.float32
    assert image.max() == pytest.approx(1.0) and image[0, 0, 0] == 0.0
    row, col = center_of_mass(image[..., 0])
    assert abs(row - 13.5) <= 0.501 and abs(col - 13.5) <= 0.501  # whole-pixel shifts
    assert np.count_nonzero(image[..., 0].max(axis=1) > 0.5) == 20  # the stroke is 20 px tall


def test_black_strokes_on_white_and_float_pixels_give_the_same_input():
    white_on_black = stroke("black")
    black_on_white = white_on_black.copy()
    black_on_white[..., :3] = 255 - black_on_white[..., :3]
    np.testing.assert_allclose(
        drawing_to_input(black_on_white), drawing_to_input(white_on_black), atol=1e-5
    )
    np.testing.assert_allclose(
        drawing_to_input(white_on_black / 255.0), drawing_to_input(white_on_black), atol=1e-5
    )


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        (np.zeros((50, 50, 4), dtype=np.uint8), "blank"),  # nothing drawn (transparent)
        (np.full((50, 50, 4), (0, 0, 0, 255), dtype=np.uint8), "blank"),  # black, nothing drawn
        (np.zeros((50, 50, 3), dtype=np.uint8), "expected canvas pixels"),
    ],
)
def test_blank_or_wrong_canvases_give_clear_errors(pixels, message):
    with pytest.raises(ImageError, match=message):
        drawing_to_input(pixels)


def test_predict_drawing_returns_three_sorted_pairs(predictor):
    guesses = predict_drawing(predictor, stroke("transparent"))
    assert len(guesses) == 3
    digits = [d for d, _ in guesses]
    probabilities = [p for _, p in guesses]
    assert len(set(digits)) == 3 and all(isinstance(d, int) and 0 <= d <= 9 for d in digits)
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(0.0 <= p <= 1.0 for p in probabilities)


def test_widget_is_built_without_a_front_end_and_updates_its_guesses(predictor):
    import ipywidgets

    pad = draw_and_predict(predictor, size=140)
    assert isinstance(pad, ipywidgets.Widget)
    assert pad.canvas.size == 140 and pad.canvas.drawing == b""
    assert "draw a digit" in pad.result.value and "DigitPad" in repr(pad)
    pad.update()  # no front end, nothing drawn: the pad still asks for a digit
    assert "draw a digit" in pad.result.value

    pad.update(stroke("black"))
    best_digit, best_probability = predict_drawing(predictor, stroke("black"))[0]
    assert pad.result.value.count("%") == 3
    assert (
        f"<b>{best_digit}</b>" in pad.result.value and f"{best_probability:.1%}" in pad.result.value
    )
    assert bytes(pad.preview.value).startswith(b"\x89PNG")  # the 28x28 input, enlarged

    pad.update(np.full((140, 140, 4), (0, 0, 0, 255), dtype=np.uint8))  # a black pad
    assert "draw a digit" in pad.result.value
    assert _png_pixels(pad.preview.value).max() == 0  # a black picture, not a broken image


def _png_pixels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(bytes(png))) as image:
        return np.asarray(image)


def _png(rgba: np.ndarray) -> bytes:
    """``rgba`` as PNG bytes: what the browser's pad sends when the pen lifts."""
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG")
    return buffer.getvalue()


def _pen_up(pad, drawing: bytes) -> None:
    """What the browser's pad does when the pen lifts: sync its drawing, as Jupyter sends it
    (a comm message whose binary part arrives in Python as a memoryview)."""
    state = {"method": "update", "state": {}, "buffer_paths": [["drawing"]]}
    pad.canvas._handle_msg({"content": {"data": state}, "buffers": [memoryview(drawing)]})


def test_the_pad_shows_a_black_picture_before_anything_is_drawn(predictor):
    pad = draw_and_predict(predictor, size=140)
    assert _png_pixels(pad.preview.value).shape == (112, 112)
    assert _png_pixels(pad.preview.value).max() == 0


def test_the_guess_is_of_the_whole_drawing_the_browser_sends_at_pen_up(predictor):
    """The browser draws every stroke itself and sends the finished drawing in one message:
    Python predicts from that message alone, never from pixels still on their way."""
    pad = draw_and_predict(predictor, size=140)
    seven = np.zeros((140, 140, 4), dtype=np.uint8)
    seven[..., 3] = 255
    seven[20:34, 30:110] = 255  # the bar...
    for row in range(34, 120):  # ...and the stem, down to the left
        column = 100 - (row - 34) * 40 // 86
        seven[row, column : column + 14] = 255
    _pen_up(pad, _png(seven))
    expected = predict_drawing(predictor, seven)
    assert pad.result.value == _guesses_html(expected)
    assert pad.preview.value == _png_bytes(drawing_to_input(seven))  # what the model saw
    top_bar_only = seven.copy()
    top_bar_only[34:] = (0, 0, 0, 255)
    assert not np.array_equal(drawing_to_input(top_bar_only), drawing_to_input(seven))


def test_clear_empties_the_pad_in_the_browser_and_its_guesses(predictor, monkeypatch):
    pad = draw_and_predict(predictor, size=140)
    sent = []
    monkeypatch.setattr(pad.canvas, "send", sent.append)
    _pen_up(pad, _png(stroke("black")))
    assert pad.result.value.count("%") == 3
    pad.clear_button.click()
    assert sent == [{"type": "clear"}]  # the browser paints its canvas black
    assert pad.canvas.drawing == b"" and "draw a digit" in pad.result.value
    assert _png_pixels(pad.preview.value).max() == 0


@pytest.mark.parametrize(
    ("drawing", "message"),
    [
        (b"<svg>not a png</svg>", "not a readable PNG"),
        (_png(np.zeros((50, 70, 4), dtype=np.uint8)), "70x50 pixels, expected 140x140"),
    ],
)
def test_a_drawing_the_pad_cannot_read_is_shown_as_an_error_not_a_guess(
    predictor, drawing, message
):
    with pytest.raises(ImageError, match=message):
        pad_pixels(drawing, 140)
    pad = draw_and_predict(predictor, size=140)
    _pen_up(pad, drawing)
    assert message in pad.result.value and "%" not in pad.result.value
    assert "<svg>" not in pad.result.value  # escaped, never markup


def test_the_pad_script_is_a_standalone_module_with_the_widget_as_its_default_export():
    """The website's pad will import the drawing part without Jupyter: no imports at all."""
    script = PAD_SCRIPT.read_text()
    assert "export function createPad(" in script and "export default { render }" in script
    assert not re.search(r"^\s*import\b|\brequire\(", script, re.M)
    assert "@jupyter" not in script


def test_without_the_widget_packages_the_functions_work_and_the_pad_says_what_to_install():
    """``pip install .`` alone: 06's imports work; only the pad needs the course extra."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['anywidget'] = None; import numpy as np\n"
        "from mnist_helpers import canvas\n"
        "pixels = np.zeros((50, 50, 4), np.uint8); pixels[10:40, 20:25] = 255\n"
        "print(canvas.drawing_to_input(pixels).shape)\n"
        "canvas.draw_and_predict(None)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "(28, 28, 1)"
    last = done.stderr.strip().splitlines()[-1]
    assert (
        last == 'ImportError: the digit pad needs ipywidgets: pip install "mnist_helpers[course]"'
    )
