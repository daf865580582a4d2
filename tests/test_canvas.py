"""Tests of mnist_helpers.canvas: a drawing's pixels become a prediction, with no browser."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mnist_helpers.canvas import draw_and_predict, drawing_to_input, predict_drawing
from mnist_helpers.models import build_keras_example_cnn
from mnist_helpers.predict import Predictor
from mnist_helpers.preprocess import ImageError, center_of_mass


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
    keras.utils.set_random_seed(0)
    return Predictor(build_keras_example_cnn())  # untrained: only the plumbing is tested


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
    assert pad.canvas.width == 140 and pad.canvas.sync_image_data
    assert "draw a digit" in pad.result.value and "DigitPad" in repr(pad)
    pad.update()  # no front end, no pixels yet: nothing happens
    assert "draw a digit" in pad.result.value

    pad.update(stroke("black"))
    best_digit, best_probability = predict_drawing(predictor, stroke("black"))[0]
    assert pad.result.value.count("%") == 3
    assert (
        f"<b>{best_digit}</b>" in pad.result.value and f"{best_probability:.1%}" in pad.result.value
    )
    assert bytes(pad.preview.value).startswith(b"\x89PNG")  # the 28x28 input, enlarged

    pad.update(np.full((140, 140, 4), (0, 0, 0, 255), dtype=np.uint8))  # after Clear
    assert "draw a digit" in pad.result.value
    assert _png_pixels(pad.preview.value).max() == 0  # a black picture, not a broken image


def _png_pixels(png: bytes) -> np.ndarray:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(bytes(png))) as image:
        return np.asarray(image)


def test_the_pad_shows_a_black_picture_before_anything_is_drawn(predictor):
    pad = draw_and_predict(predictor, size=140)
    assert _png_pixels(pad.preview.value).shape == (112, 112)
    assert _png_pixels(pad.preview.value).max() == 0


def test_a_stroke_from_the_front_end_updates_the_guesses_when_its_pixels_arrive(predictor):
    import io

    from PIL import Image

    pad = draw_and_predict(predictor, size=140)
    events = [("mouse_down", 67, 20), ("mouse_move", 67, 70), ("mouse_move", 67, 120)]
    for event, x, y in events:  # what the browser sends while the learner draws
        pad.canvas._handle_frontend_event(None, {"event": event, "x": x, "y": y}, [])
    pad.canvas._handle_frontend_event(None, {"event": "mouse_up", "x": 67, "y": 120}, [])
    assert "draw a digit" in pad.result.value  # no pixels have come back yet
    png = io.BytesIO()
    Image.fromarray(stroke("black")).save(png, format="PNG")
    pad.canvas.set_trait("image_data", png.getvalue())  # the front end syncs its pixels
    assert pad.result.value.count("%") == 3
