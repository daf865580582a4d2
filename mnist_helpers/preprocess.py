"""Turn a photo or a drawing of a digit into a 28x28 MNIST-like input, the way MNIST was made.

MNIST's digits were scanned black-on-white, then: the ink was size-normalised to fit a 20x20
box keeping its aspect ratio (anti-aliasing makes grey levels), and the result was placed in a
28x28 field so that its centre of mass sits in the centre. :func:`mnist_like` does the same:

1. grayscale (an alpha channel is laid onto white first; a file is first turned upright as
   its EXIF orientation says, see :func:`load_image`);
2. invert when the background is light, so ink is bright on black like MNIST, and stretch
   the contrast so the background is 0 and the darkest ink 1;
3. crop to the ink's bounding box;
4. scale into a 20x20 box keeping the aspect ratio;
5. pad to 28x28, centred by centre of mass.

Taught in 06.
"""

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
    """Read an image file into a float array in [0, 1]: ``(h, w)``, ``(h, w, 3)`` or ``(h, w, 4)``.

    Any format Pillow reads is accepted (PNG, JPEG, GIF, BMP, WebP, TIFF, ...). The image is
    turned upright as the camera's EXIF orientation tag says (phone photos are often stored on
    their side), and transparency is kept as an alpha channel whatever form it takes: RGBA,
    grey with alpha, or a palette (GIF, small PNGs) with a transparent colour. Grey images of
    more than 8 bits (16-bit scans, 32-bit integers or floats) are scaled by their own range:
    their darkest pixel becomes 0, their brightest 1. Large images are reduced to at most
    ``WORKING_SIZE`` pixels on the long side.

    Raises:
        ImageError: the file is missing, not an image Pillow can read, empty, too large, or
            has NaN pixels.
    """
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


#: Pillow's modes of grey images deeper than 8 bits: 16-bit (three byte orders), 32-bit integer
#: and 32-bit float. Converted to 8 bits as Pillow does, values above 255 would all be white.
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
    """Return a ``(h, w)`` float image in [0, 1]; colour is averaged with luminance weights.

    An alpha channel is composited onto white (transparent = paper). Integer images are
    scaled from 0-255.

    Raises:
        ImageError: not 2-D, or a channel count other than 1, 3 or 4.
    """
    image = np.asarray(image)
    if image.size == 0:
        raise ImageError(f"the image is empty (shape {image.shape})")
    if image.dtype.kind in "ui":
        image = image.astype(np.float32) / 255.0
    image = image.astype(np.float32)
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
    if image.shape[-1] == 4:
        alpha = image[..., 3]
        rgb = rgb * alpha + (1.0 - alpha)
    return rgb


def ink_on_black(gray: np.ndarray) -> np.ndarray:
    """Make ink bright on a black background, the contrast stretched to [0, 1].

    The background level is the median of the border pixels: if it is light, the image is
    inverted. Then the background becomes 0 and the strongest ink 1.

    Raises:
        ImageError: the image is one flat colour (blank): there is no ink to find.
    """
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


def crop_to_ink(ink: np.ndarray, threshold: float = INK_THRESHOLD) -> np.ndarray:
    """Crop to the bounding box of the pixels brighter than ``threshold``."""
    rows = np.flatnonzero((ink > threshold).any(axis=1))
    cols = np.flatnonzero((ink > threshold).any(axis=0))
    if rows.size == 0:
        raise ImageError(f"no ink above {threshold} found: the digit is too faint")
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def box_size(height: int, width: int, box: int = 20) -> tuple[int, int]:
    """Return the ``(height, width)`` that fits ``box`` pixels on the longer side.

    The aspect ratio is kept: the other side is scaled by the same factor and rounded to
    whole pixels, never below 1.
    """
    scale = box / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def fit_in_box(ink: np.ndarray, box: int = 20) -> np.ndarray:
    """Scale so the longer side is ``box`` pixels, keeping the aspect ratio (anti-aliased)."""
    from PIL import Image

    new_height, new_width = box_size(*ink.shape, box=box)
    image = Image.fromarray((ink * 255).astype(np.uint8)).resize(
        (new_width, new_height), Image.Resampling.LANCZOS
    )
    return np.asarray(image, dtype=np.float32) / 255.0


def center_of_mass(image: np.ndarray) -> tuple[float, float]:
    """Return the ``(row, column)`` of the intensity-weighted centre of ``image``."""
    total = float(image.sum())
    if total == 0:
        raise ImageError("cannot centre an empty image")
    rows, cols = np.indices(image.shape)
    return float((rows * image).sum() / total), float((cols * image).sum() / total)


def pad_and_center(small: np.ndarray, size: int = 28) -> np.ndarray:
    """Place ``small`` in a ``size`` x ``size`` field with its centre of mass in the centre."""
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
    """Turn an image (array or file path) into a ``(28, 28, 1)`` float32 MNIST-like input.

    Args:
        image: a path to an image file (any format Pillow reads; see :func:`load_image`
            for EXIF rotation and transparency), or an array ``(h, w)`` grey, ``(h, w, 3)``
            RGB or ``(h, w, 4)`` RGBA, floats in [0, 1] or integers 0-255. Transparent
            pixels count as white paper.
        return_steps: also return a dict of the intermediate images, in order:
            ``grayscale``, ``ink on black``, ``cropped``, ``20x20 box``, ``28x28 centred``.

    Raises:
        ImageError: unreadable file, wrong channels, empty or blank image (clear message).

    Taught in 06.
    """
    array = load_image(image) if isinstance(image, (str, Path)) else np.asarray(image)
    steps = {"grayscale": to_grayscale(array)}
    steps["ink on black"] = ink_on_black(steps["grayscale"])
    steps["cropped"] = crop_to_ink(steps["ink on black"])
    steps["20x20 box"] = fit_in_box(steps["cropped"])
    steps["28x28 centred"] = pad_and_center(steps["20x20 box"])
    result = steps["28x28 centred"][..., np.newaxis]
    return (result, steps) if return_steps else result
