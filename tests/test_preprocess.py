"""Tests of mnist_helpers.preprocess: the MNIST recipe step by step, and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import ExifTags, Image

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


def save_transparent_drawing(path, kind):
    """Save ``dark_bar_on_white``'s black bar on a fully transparent background, as ``kind``.

    Every pixel is black; only transparency tells the bar from the background.
    """
    ink = dark_bar_on_white() == 0
    if kind == "grey PNG, transparent grey level":
        Image.fromarray(np.where(ink, 0, 7).astype(np.uint8)).save(path, transparency=7)
        return
    image = Image.frombytes("P", ink.shape[::-1], ink.astype(np.uint8).tobytes())
    image.putpalette([0, 0, 0, 0, 0, 0])  # index 0 (background) and 1 (ink): both black
    if kind == "palette PNG, transparent index":
        image.save(path, transparency=0)
    elif kind == "palette PNG, alpha table":
        image.save(path, transparency=bytes([0, 255]))
    else:
        assert kind == "palette GIF, transparent index"
        image.save(path, transparency=0)


@pytest.mark.parametrize(
    "kind",
    [
        "palette PNG, transparent index",
        "palette PNG, alpha table",
        "palette GIF, transparent index",
        "grey PNG, transparent grey level",
    ],
)
def test_transparent_background_in_any_image_mode_counts_as_paper(tmp_path, kind):
    path = tmp_path / ("drawing.gif" if "GIF" in kind else "drawing.png")
    save_transparent_drawing(path, kind)
    with Image.open(path) as image:
        assert image.mode in ("P", "L") and "transparency" in image.info  # as a user's file
    assert load_image(path).shape == (120, 80, 4)
    result = mnist_like(path)
    assert result.max() == pytest.approx(1.0)
    assert result[4:24, 12:16].mean() > 0.5  # the bar: 20 rows tall, ~3 columns wide
    np.testing.assert_allclose(result, mnist_like(dark_bar_on_white()), atol=1e-6)


def seven_on_white():
    """A '7' on white paper, 96x64: tall, and different under every rotation and flip."""
    page = np.full((96, 64), 255, dtype=np.uint8)
    page[16:80, 38:46] = 0  # the stem, on the right
    page[16:24, 14:46] = 0  # the bar, at the top, reaching left
    return page


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
@pytest.mark.parametrize(
    ("orientation", "stored_as"),
    [
        (3, Image.Transpose.ROTATE_180),  # upside down
        (6, Image.Transpose.ROTATE_90),  # phone held upright, sensor on its side
        (8, Image.Transpose.ROTATE_270),
        (2, Image.Transpose.FLIP_LEFT_RIGHT),  # a mirrored selfie
    ],
    ids=["orientation 3", "orientation 6", "orientation 8", "orientation 2"],
)
def test_photos_are_turned_upright_as_their_exif_orientation_says(
    tmp_path, suffix, orientation, stored_as
):
    upright = Image.fromarray(seven_on_white())
    plain = tmp_path / f"upright{suffix}"
    upright.save(plain)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    photo = tmp_path / f"photo{suffix}"
    upright.transpose(stored_as).save(photo, exif=exif)
    with Image.open(photo) as image:  # the pixels in the file are not upright
        assert image.getexif()[ExifTags.Base.Orientation] == orientation
        assert np.asarray(image).shape != (96, 64) or orientation in (2, 3)

    assert load_image(photo).shape == (96, 64)
    result = mnist_like(photo)
    rows, cols = np.nonzero(result[..., 0] > 0.5)
    assert np.ptp(rows) > np.ptp(cols)  # tall, as a 7 is
    # the same input as the upright file (any wrong turn or flip differs by 1.0 somewhere)
    assert np.abs(result - mnist_like(plain)).max() < (1e-6 if suffix == ".png" else 0.05)


def a_three_on_paper(height: int = 90, width: int = 70) -> np.ndarray:
    """An 8-bit scan of a rough '3' (three bars and a right side), dark ink on light paper."""
    page = np.full((height, width), 230, dtype=np.uint8)
    for top in (15, 42, 68):
        page[top : top + 7, 15:55] = 20
    page[15:75, 48:55] = 20
    return page


@pytest.mark.parametrize(
    ("mode", "suffix", "dtype", "black", "step"),
    [
        ("I;16", ".png", np.uint16, 1000, 200),  # a 16-bit scan whose black is not 0
        ("I;16", ".png", np.uint16, 40, 16),  # a 12-bit scan stored in 16 bits
        ("I", ".tif", np.int32, -70_000, 900),  # 32-bit integers
        ("F", ".tif", np.float32, -3.5, 0.01),  # 32-bit floats, any range
    ],
    ids=["16-bit", "12-bit in 16", "32-bit integers", "32-bit floats"],
)
def test_deep_grey_images_are_scaled_by_their_real_range_like_their_8_bit_twin(
    tmp_path, mode, suffix, dtype, black, step
):
    page = a_three_on_paper()
    Image.fromarray(page).save(tmp_path / "eight.png")
    deep = tmp_path / f"deep{suffix}"
    Image.fromarray((black + page.astype(np.float64) * step).astype(dtype)).save(deep)
    assert Image.open(deep).mode == mode
    loaded = load_image(deep)
    assert loaded.dtype == np.float32 and loaded.shape == page.shape
    np.testing.assert_allclose(loaded, (page - 20) / (230 - 20), atol=1e-5)  # black 0, white 1
    np.testing.assert_allclose(mnist_like(deep), mnist_like(tmp_path / "eight.png"), atol=2 / 255)


def test_a_flat_deep_grey_image_is_blank_and_a_nan_one_refused(tmp_path):
    flat = tmp_path / "flat.png"
    Image.fromarray(np.full((30, 30), 40_000, dtype=np.uint16)).save(flat)
    with pytest.raises(ImageError, match="no ink found"):
        mnist_like(flat)
    holes = a_three_on_paper().astype(np.float32)
    holes[3, 4] = np.nan
    Image.fromarray(holes).save(tmp_path / "holes.tif")
    with pytest.raises(ImageError, match=r"holes\.tif: 1 pixel values are NaN or infinite"):
        mnist_like(tmp_path / "holes.tif")
