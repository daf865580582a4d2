"""Turn a photo or a drawing of a digit into a 28x28 MNIST-like input, the way MNIST was made.

:func:`mnist_like`: grayscale, ink bright on black with the contrast stretched, crop to the
ink, scale into a 20x20 box keeping the aspect ratio, centre by centre of mass in 28x28.
Taught in 06."""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: Images with more pixels than this are refused (a 40-megapixel photo is plenty).
MAX_PIXELS = 40_000_000
#: Long side an image is first reduced to, for speed; the digit only needs 20 pixels.
WORKING_SIZE = 512
#: After contrast stretching, pixels above this count as ink when cropping.
INK_THRESHOLD = 0.2


class ImageError(ValueError):
    """An image cannot become an MNIST input; the message says why and what to do."""


def load_image(path: str | Path) -> np.ndarray:
    """Read any image Pillow reads into floats in [0, 1]: ``(h, w)``, ``(h, w, 3)`` or
    ``(h, w, 4)``, turned upright as its EXIF tag says, transparency kept as alpha, reduced to
    :data:`WORKING_SIZE` on the long side. Grey images deeper than 8 bits are scaled by their
    own range. An :class:`ImageError` says why a file cannot be used."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height == 0:
                raise ImageError(f"{path}: the image is empty ({width}x{height} pixels)")
            if width * height > MAX_PIXELS:
                raise ImageError(
                    f"{path}: {width}x{height} is too large ({width * height / 1e6:.0f} "
                    f"megapixels, the limit is {MAX_PIXELS / 1e6:.0f}); resize it first"
                )
            image.draft("L", (WORKING_SIZE, WORKING_SIZE))  # fast JPEG decoding at low size
            image = ImageOps.exif_transpose(image)  # upright, as the camera says
            if {"A", "a"} & set(image.getbands()) or "transparency" in image.info:
                if image.mode != "RGBA":  # e.g. a palette with a transparent colour
                    image = image.convert("RGBA")
            elif image.mode in DEEP_GREY_MODES:
                return _scaled_by_range(path, image.convert("F"))
            elif image.mode not in ("L", "RGB"):
                image = image.convert("RGB")
            if max(image.size) > WORKING_SIZE:
                image.thumbnail((WORKING_SIZE, WORKING_SIZE))
            return np.asarray(image, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as err:
        raise ImageError(f"{path}: not an image Pillow can read ({err})") from err


#: Pillow's modes of grey images deeper than 8 bits (16- and 32-bit integers, 32-bit floats).
DEEP_GREY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def _scaled_by_range(path: Path, image) -> np.ndarray:
    """A deep grey (mode ``F``) image as floats, its darkest pixel 0 and its brightest 1."""
    if max(image.size) > WORKING_SIZE:
        image.thumbnail((WORKING_SIZE, WORKING_SIZE))
    values = np.asarray(image, dtype=np.float32)
    bad = int((~np.isfinite(values)).sum())
    if bad:
        raise ImageError(f"{path}: {bad} pixel values are NaN or infinite; save the image again")
    low, high = float(values.min()), float(values.max())
    if high == low:  # one flat colour: blank, as ink_on_black will say
        return np.zeros_like(values)
    return (values - low) / (high - low)


def to_grayscale(image: np.ndarray) -> np.ndarray:
    """A ``(h, w)`` float image in [0, 1]: colour averaged with luminance weights, alpha laid
    onto white paper, integers scaled from 0-255."""
    image = np.asarray(image)
    if image.size == 0:
        raise ImageError(f"the image is empty (shape {image.shape})")
    image = image.astype(np.float32) / (255.0 if image.dtype.kind in "ui" else 1.0)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        return image
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise ImageError(
            f"expected a grey (h, w), RGB (h, w, 3) or RGBA (h, w, 4) image, got shape "
            f"{image.shape}"
        )
    rgb = image[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if image.shape[-1] == 4:  # transparent: white paper
        rgb = rgb * image[..., 3] + (1.0 - image[..., 3])
    return rgb


def ink_on_black(gray: np.ndarray) -> np.ndarray:
    """Ink bright on black (inverted if the border's median is light), the background 0 and
    the strongest ink 1; an :class:`ImageError` for a blank image."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    ink = 1.0 - gray if np.median(border) > 0.5 else gray.copy()
    background = float(np.median(np.concatenate([ink[0], ink[-1], ink[:, 0], ink[:, -1]])))
    ink = np.clip(ink - background, 0.0, None)
    peak = float(ink.max())
    if peak < 0.1:
        raise ImageError(
            "no ink found: the image is blank (one flat colour); draw or photograph a digit"
        )
    return ink / peak


def crop_to_ink(ink: np.ndarray) -> np.ndarray:
    """Crop to the bounding box of the pixels brighter than :data:`INK_THRESHOLD`."""
    rows = np.flatnonzero((ink > INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink > INK_THRESHOLD).any(axis=0))
    if rows.size == 0:
        raise ImageError(f"no ink above {INK_THRESHOLD} found: the digit is too faint")
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def box_size(height: int, width: int) -> tuple[int, int]:
    """The ``(height, width)`` with 20 pixels on the longer side, the other scaled alike and
    rounded, never below 1. Taught in 06."""
    scale = 20 / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def fit_in_box(ink: np.ndarray) -> np.ndarray:
    """Scale (anti-aliased) to :func:`box_size`: 20 pixels on the longer side."""
    from PIL import Image

    size = box_size(*ink.shape)[::-1]  # Pillow's (width, height)
    image = Image.fromarray((ink * 255).astype(np.uint8)).resize(size, Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.float32) / 255.0


def center_of_mass(image: np.ndarray) -> tuple[float, float]:
    """The ``(row, column)`` of the intensity-weighted centre of ``image``. Taught in 06."""
    total = float(image.sum())
    if total == 0:
        raise ImageError("cannot centre an empty image")
    rows, cols = np.indices(image.shape)
    return float((rows * image).sum() / total), float((cols * image).sum() / total)


def pad_and_center(small: np.ndarray) -> np.ndarray:
    """Place ``small`` in a 28x28 field with its centre of mass in the centre."""
    size = 28
    height, width = small.shape
    if height > size or width > size:
        raise ImageError(f"a {height}x{width} image does not fit in {size}x{size}")
    row, col = center_of_mass(small)
    middle = (size - 1) / 2
    top = int(np.clip(round(middle - row), 0, size - height))
    left = int(np.clip(round(middle - col), 0, size - width))
    field = np.zeros((size, size), dtype=np.float32)
    field[top : top + height, left : left + width] = small
    return field


def mnist_like(image: np.ndarray | str | Path, return_steps: bool = False):
    """Turn an image (a file, or an array: grey, RGB or RGBA, floats in [0, 1] or 0-255) into
    a ``(28, 28, 1)`` float32 input; ``return_steps=True`` also returns the steps' images by
    name. An :class:`ImageError` says why an image cannot be used. Taught in 06."""
    array = load_image(image) if isinstance(image, (str, Path)) else np.asarray(image)
    steps = {"grayscale": to_grayscale(array)}
    steps["ink on black"] = ink_on_black(steps["grayscale"])
    steps["cropped"] = crop_to_ink(steps["ink on black"])
    steps["20x20 box"] = fit_in_box(steps["cropped"])
    steps["28x28 centred"] = pad_and_center(steps["20x20 box"])
    result = steps["28x28 centred"][..., np.newaxis]
    return (result, steps) if return_steps else result
