"""Tests of mnist_helpers.preprocess: the MNIST recipe step by step, and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mnist_helpers.preprocess import (
    ImageError,
    box_size,
    center_of_mass,
    crop_to_ink,
    fit_in_box,
    ink_on_black,
    load_image,
    mnist_like,
    pad_and_center,
    to_grayscale,
)


def dark_bar_on_white(height=120, width=80, top=20, left=50, bar=(60, 10)):
    """A white page with a black vertical bar: a '1' seen by a camera."""
    page = np.ones((height, width), dtype=np.float32)
    page[top : top + bar[0], left : left + bar[1]] = 0.0
    return page


def test_light_background_is_inverted_and_contrast_stretched():
    page = dark_bar_on_white() * 0.6 + 0.3  # grey paper (0.9), grey ink (0.3)
    ink = ink_on_black(page)
    assert ink[0, 0] == 0.0 and ink.max() == pytest.approx(1.0)
    assert ink[30, 55] == pytest.approx(1.0)


def test_dark_background_is_kept():
    image = np.zeros((50, 50), dtype=np.float32)
    image[10:40, 20:25] = 0.8
    ink = ink_on_black(image)
    assert ink[20, 22] == pytest.approx(1.0) and ink[0, 0] == 0.0


def test_crop_to_ink_finds_the_bounding_box():
    ink = ink_on_black(dark_bar_on_white())
    assert crop_to_ink(ink).shape == (60, 10)


def test_fit_in_box_keeps_the_aspect_ratio():
    tall = fit_in_box(np.ones((60, 10), dtype=np.float32))
    assert tall.shape == (20, 3)  # 60x10 -> 20 x round(3.33)
    wide = fit_in_box(np.ones((10, 40), dtype=np.float32))
    assert wide.shape == (5, 20)


@pytest.mark.parametrize(
    "shape, expected",
    [((204, 132), (20, 13)), ((100, 100), (20, 20)), ((30, 300), (2, 20)), ((500, 3), (20, 1))],
)
def test_box_size_fits_the_longer_side_and_never_goes_below_one_pixel(shape, expected):
    assert box_size(*shape) == expected
    assert max(box_size(*shape, box=40)) == 40


def test_pad_and_center_puts_the_centre_of_mass_in_the_middle():
    small = np.zeros((12, 10), dtype=np.float32)
    small[:4, :] = 1.0  # all the mass at the top: it must be moved down
    field = pad_and_center(small)
    assert field.shape == (28, 28)
    row, col = center_of_mass(field)
    assert abs(row - 13.5) <= 0.5 and abs(col - 13.5) <= 0.5
    assert field.sum() == pytest.approx(small.sum())
    # a 20-pixel-tall digit cannot move further than the field allows: it stays inside
    tall = np.zeros((20, 10), dtype=np.float32)
    tall[:5, :] = 1.0
    assert pad_and_center(tall).sum() == pytest.approx(tall.sum())


def test_mnist_like_returns_every_step_and_an_mnist_shaped_input():
    result, steps = mnist_like(dark_bar_on_white(), return_steps=True)
    assert list(steps) == ["grayscale", "ink on black", "cropped", "20x20 box", "28x28 centred"]
    assert result.shape == (28, 28, 1) and result.dtype == np.float32
    assert 0.0 <= result.min() and result.max() <= 1.0
    assert max(steps["20x20 box"].shape) == 20
    row, col = center_of_mass(result[..., 0])
    assert abs(row - 13.5) <= 0.5 and abs(col - 13.5) <= 0.5


def test_rgba_transparent_background_counts_as_paper():
    rgba = np.zeros((40, 40, 4), dtype=np.float32)  # fully transparent everywhere...
    rgba[5:35, 18:22] = [0, 0, 0, 1]  # ...but an opaque black stroke
    gray = to_grayscale(rgba)
    assert gray[0, 0] == pytest.approx(1.0) and gray[20, 20] == pytest.approx(0.0)
    assert mnist_like(rgba).max() == pytest.approx(1.0, abs=0.05)


def test_rgb_and_uint8_inputs_are_accepted():
    page = (dark_bar_on_white() * 255).astype(np.uint8)
    rgb = np.stack([page] * 3, axis=-1)
    np.testing.assert_allclose(mnist_like(rgb), mnist_like(page), atol=1e-5)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.ones((30, 30), dtype=np.float32), "blank"),
        (np.zeros((30, 30), dtype=np.float32), "blank"),
        (np.zeros((0, 30), dtype=np.float32), "empty"),
        (np.zeros((30, 30, 2), dtype=np.float32), "expected a grey"),
        (np.zeros((3, 30, 30, 3), dtype=np.float32), "expected a grey"),
    ],
)
def test_bad_arrays_give_clear_errors(image, message):
    with pytest.raises(ImageError, match=message):
        mnist_like(image)


def test_files_are_read_and_bad_files_refused(tmp_path):
    png = tmp_path / "one.png"
    Image.fromarray((dark_bar_on_white() * 255).astype(np.uint8)).save(png)
    assert mnist_like(png).shape == (28, 28, 1)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ImageError, match="not an image Pillow can read"):
        load_image(text)
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.png")


def test_huge_images_are_refused(tmp_path, monkeypatch):
    import mnist_helpers.preprocess as preprocess

    monkeypatch.setattr(preprocess, "MAX_PIXELS", 100)
    path = tmp_path / "big.png"
    Image.new("L", (20, 20), 255).save(path)
    with pytest.raises(ImageError, match="too large"):
        load_image(path)


def test_large_photos_are_reduced_before_processing(tmp_path):
    path = tmp_path / "photo.jpg"
    Image.fromarray(
        (dark_bar_on_white(2000, 1500, 300, 700, (1200, 150)) * 255).astype(np.uint8)
    ).save(path)
    image = load_image(path)
    assert max(image.shape) <= 512
    assert mnist_like(path).shape == (28, 28, 1)
