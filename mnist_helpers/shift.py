"""Corrupted MNIST, made on the fly: how well does a model read digits that look a bit different?

A model that scores 99% on MNIST's test set has only been tested on digits that look like its
training digits. This module makes 15 kinds of *distribution shift* from the test images
themselves, in the spirit of MNIST-C (Mu & Gilmer, 2019, "MNIST-C: A Robustness Benchmark for
Computer Vision", https://arxiv.org/abs/1906.02337): noise, blur, affine changes (shear, scale,
rotate, translate), a brighter background, inverted stripes, fog, spatter, lines drawn across
the digit, and edge images. At the benchmark severities a person still reads the digits
(the strongest blurs are hard even for people); the question is whether the model does.

Nothing is downloaded: every corruption is computed here from the uint8 test images (white ink
on black, 0-255, shape ``(n, 28, 28)``), with numpy and scipy, and is deterministic given a
seed. Each corruption has five graded severities (1 = mild, 5 = strong; what they mean, in
pixels or degrees, is in each function's docstring and in :func:`corruption_table`), and one
*benchmark* severity (:data:`MNIST_C_SEVERITY`), MNIST-C's.

Use it like this::

    from mnist_helpers.data import load_mnist
    from mnist_helpers.shift import corrupt, corruption_table, evaluate_shifts

    data = load_mnist(normalize=False, channel_axis=False)    # uint8 images, 0-255
    rotated = corrupt(data.x_test, "rotate", severity=3)      # (10000, 28, 28) uint8
    corruption_table()                                        # what each corruption does
    evaluate_shifts(model, data.x_test, data.y_test)          # accuracy on each corruption

or from a terminal, on a trained model (``make run`` trains ``runs/default/model.keras``)::

    python -m mnist_helpers.shift runs/default/model.keras --n 2000

Differences from MNIST-C, said once here: the images are made by this module's own numpy/scipy
code rather than MNIST-C's (which needs scikit-image, OpenCV and ImageMagick), so the
corruptions follow the paper's descriptions and parameters but are not bit-for-bit the same
images; where a function departs from MNIST-C (glass blur's pixel swaps, shear, fog's fractal,
the edge detector, severities of the corruptions MNIST-C defines only once) its docstring
says how.

Taught in 07.
"""

from __future__ import annotations

import argparse
import json
import sys
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from mnist_helpers.evaluation import accuracy, check_labels, predict_proba
from mnist_helpers.predict import ModelOutputError, load_model_safely

#: Side of an MNIST image, in pixels.
SIZE = 28
#: The image centre (row and column), about which rotate, shear and scale turn the digit.
CENTRE = (SIZE - 1) / 2
#: The severities every corruption takes: 1 (mild) to 5 (strong).
SEVERITIES = (1, 2, 3, 4, 5)

# --------------------------------------------------------------------------- parameters
# One entry per severity, 1 to 5. Where MNIST-C publishes values they are MNIST-C's.

#: shot_noise: photons caught by a full-white pixel (fewer photons, more noise).
SHOT_NOISE_PHOTONS = (60, 25, 12, 5, 3)
#: impulse_noise: share of pixels set to pure white or pure black.
IMPULSE_NOISE_AMOUNT = (0.03, 0.06, 0.09, 0.17, 0.27)
#: glass_blur: (Gaussian sigma in px, largest pixel jump in px, rounds of jumps).
GLASS_BLUR = ((0.7, 1, 2), (0.9, 2, 1), (1.0, 2, 3), (1.1, 3, 2), (1.5, 4, 2))
#: motion_blur: (radius in px, Gaussian sigma in px) of ImageMagick's motion blur.
MOTION_BLUR = ((10, 3.0), (15, 5.0), (15, 8.0), (15, 12.0), (20, 15.0))
#: shear: sideways shift of a row, in px per row of distance from the centre row.
SHEAR = (0.2, 0.4, 0.6, 0.8, 1.0)
#: scale: the digit's new size, as a share of its old size.
SCALE = (0.9, 0.8, 0.7, 0.6, 0.5)
#: rotate: the angle, in radians (0.2 rad is about 11.5 degrees).
ROTATE_RADIANS = (0.2, 0.4, 0.6, 0.8, 1.0)
#: brightness: what is added to every pixel: 10%, 20%, ... 50% of white (255), rounded.
BRIGHTNESS = (26, 51, 77, 102, 128)
#: translate: the shift, in px, along each axis (so diagonally).
TRANSLATE_PIXELS = (1, 2, 3, 4, 5)
#: stripe: width, in px, of the inverted band at the left and at the right edge.
STRIPE_WIDTH = (3, 5, 7, 9, 11)
#: fog: (fog strength relative to the ink, roughness: a lower value gives finer fog).
FOG = ((1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))
#: spatter: (mean, spread, smoothing sigma in px, threshold, mask sigma in px) of the blobs.
SPATTER = (
    (0.65, 0.3, 4.0, 0.69, 0.6),
    (0.65, 0.3, 3.0, 0.68, 0.6),
    (0.65, 0.3, 2.0, 0.68, 0.5),
    (0.65, 0.3, 1.0, 0.65, 1.5),
    (0.67, 0.4, 1.0, 0.65, 1.5),
)
#: spatter: the grey of the mud blobs (MNIST-C's 63 of 255).
SPATTER_GREY = 63
#: spatter: the share of the image the blobs cover, on average (measured; tested).
SPATTER_COVERAGE = (0.09, 0.17, 0.26, 0.14, 0.21)
#: dotted_line: how many dotted lines cross the image.
DOTTED_LINES = (1, 2, 3, 4, 5)
#: zigzag: how many zigzag lines cross the image.
ZIGZAGS = (1, 2, 3, 4, 5)
#: canny_edges: Gaussian smoothing sigma, in px, before the edges are found.
CANNY_SIGMA = (1.0, 1.5, 2.0, 2.5, 3.0)
#: canny_edges: (low, high) hysteresis thresholds on the Sobel gradient of [0, 1] pixels.
CANNY_THRESHOLDS = (0.1, 0.2)

_ROWS, _COLS = np.indices((SIZE, SIZE)).astype(np.float32)


# --------------------------------------------------------------------------- input checks


def _check_images(x: object, *, one_image_ok: bool = False) -> np.ndarray:
    """Return ``x`` as a uint8 array of shape (n, 28, 28) (or (28, 28)), or raise ValueError."""
    images = np.asarray(x)
    if images.dtype != np.uint8:
        raise ValueError(
            f"x must hold uint8 pixels 0-255 (white ink on black, as "
            f"load_mnist(normalize=False) gives), got dtype {images.dtype}; turn floats in "
            "[0, 1] into bytes with (x * 255).round().astype(np.uint8)"
        )
    shapes = "(n, 28, 28) or one image (28, 28)" if one_image_ok else "(n, 28, 28)"
    ndims = (2, 3) if one_image_ok else (3,)
    if images.ndim not in ndims or images.shape[-2:] != (SIZE, SIZE):
        raise ValueError(
            f"x must be a batch of images of shape {shapes}, got shape {images.shape}; drop "
            "a channel axis with x[..., 0], or load with load_mnist(channel_axis=False)"
        )
    return images


def _check_severity(severity: object) -> int:
    """Return ``severity`` as an int from 1 to 5, or raise a ValueError that names it."""
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)):
        raise ValueError(
            f"severity must be an integer from 1 to 5, got {severity!r} "
            f"({type(severity).__name__}); e.g. severity=3"
        )
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be an integer from 1 to 5, got {severity}; e.g. 3")
    return int(severity)


def _check_rng(rng: object) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a numpy.random.Generator, e.g. np.random.default_rng(0), got {rng!r}"
        )
    return rng


def _level(table: tuple, severity: object):
    """The entry of a parameter table for ``severity`` (checked: an int from 1 to 5)."""
    return table[_check_severity(severity) - 1]


def _floats(x: object) -> np.ndarray:
    """A checked (n, 28, 28) uint8 batch as float32 values in [0, 1]."""
    return _check_images(x).astype(np.float32) / 255


def _bytes(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (clipped) back to uint8 pixels 0-255, rounded."""
    return np.clip(np.rint(np.asarray(values) * 255), 0, 255).astype(np.uint8)


def _signs(rng: np.random.Generator, shape) -> np.ndarray:
    """Random -1 or +1, one per entry of ``shape``."""
    return rng.integers(0, 2, size=shape) * 2 - 1


# --------------------------------------------------------------------------- geometry helpers


def _shift(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``images`` moved down by ``rows`` and right by ``cols`` pixels, filled with black."""
    out = np.zeros_like(images)
    if abs(rows) >= SIZE or abs(cols) >= SIZE:
        return out
    r0, r1 = max(0, rows), min(SIZE, SIZE + rows)
    c0, c1 = max(0, cols), min(SIZE, SIZE + cols)
    out[:, r0:r1, c0:c1] = images[:, r0 - rows : r1 - rows, c0 - cols : c1 - cols]
    return out


def _warp(images: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Bilinear resampling of float images about the centre: an output pixel at offset ``d``
    from the centre takes the input's value at offset ``matrix @ d`` (black outside)."""
    if len(images) == 0:
        return images.copy()
    full = np.eye(3)
    full[1:, 1:] = matrix
    centre = np.array([0.0, CENTRE, CENTRE])
    return ndimage.affine_transform(
        images, full, offset=centre - full @ centre, order=1, mode="constant", cval=0.0
    )


def _warp_each_way(
    images: np.ndarray, signs: np.ndarray, matrix_for: Callable[[int], np.ndarray]
) -> np.ndarray:
    """:func:`_warp` each image with ``matrix_for(sign)``, its sign being -1 or +1."""
    out = np.empty_like(images)
    for sign in (-1, 1):
        chosen = signs == sign
        out[chosen] = _warp(images[chosen], matrix_for(sign))
    return out


def _blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of each image (not across images) with ``sigma`` pixels."""
    return ndimage.gaussian_filter(images, sigma=(0, sigma, sigma), mode="nearest")


def _ink(distance: np.ndarray, reach: float) -> np.ndarray:
    """A soft stroke: full ink on its centre line, fading linearly to none ``reach`` px away."""
    return np.clip(1 - distance / reach, 0.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------- noise and blur


def shot_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Photon noise: each pixel's brightness is a random count of photons (Poisson noise).

    A full-white pixel catches on average 60, 25, 12, 5 or 3 photons (severity 1 to 5), a
    black one none, so the ink turns grainy and the black background stays black. As MNIST-C.

    Args:
        x: uint8 images, shape (n, 28, 28), white ink on black.
        severity: 1 (mild) to 5 (strong).
        rng: the random generator, e.g. ``np.random.default_rng(0)``.

    Returns:
        New uint8 images, same shape; ``x`` is not changed. Taught in 07.
    """
    photons = _level(SHOT_NOISE_PHOTONS, severity)
    images = _floats(x)
    return _bytes(_check_rng(rng).poisson(images * photons) / photons)


def impulse_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Salt-and-pepper noise: random pixels turned pure white or pure black.

    3%, 6%, 9%, 17% or 27% of the pixels (severity 1 to 5), half white, half black. As MNIST-C.
    Arguments and result as :func:`shot_noise`. Taught in 07.
    """
    amount = _level(IMPULSE_NOISE_AMOUNT, severity)
    images = _check_images(x)
    draw = _check_rng(rng).random(images.shape)
    out = images.copy()
    out[draw < amount / 2] = 255
    out[(draw >= amount / 2) & (draw < amount)] = 0
    return out


def glass_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Frosted glass: blur, let pixels jump to random nearby places, blur again.

    Per severity 1 to 5, (Gaussian sigma, largest jump, rounds): (0.7 px, 1 px, 2),
    (0.9, 2, 1), (1.0, 2, 3), (1.1, 3, 2), (1.5, 4, 2), MNIST-C's values. In each round every
    pixel, with probability 1/2, takes the value of a random pixel up to that many px away
    along each axis. MNIST-C swaps pixel pairs one by one in a slow Python loop; this
    vectorised version copies instead of swapping (a value may be copied twice and another
    lost), a close stand-in. Arguments and result as :func:`shot_noise`. Taught in 07.
    """
    sigma, reach, rounds = _level(GLASS_BLUR, severity)
    images = _blur(_floats(x), sigma)
    rng = _check_rng(rng)
    which = np.arange(len(images))[:, None, None]
    rows, cols = np.indices((SIZE, SIZE))
    for _ in range(rounds):
        jumps = rng.random(images.shape) < 0.5
        dr = rng.integers(-reach, reach + 1, size=images.shape) * jumps
        dc = rng.integers(-reach, reach + 1, size=images.shape) * jumps
        images = images[which, np.clip(rows + dr, 0, SIZE - 1), np.clip(cols + dc, 0, SIZE - 1)]
    return _bytes(_blur(images, sigma))


def _runs(*keys: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of consecutive entries on which all ``keys`` agree."""
    if len(keys[0]) == 0:
        return []
    change = np.zeros(len(keys[0]) - 1, dtype=bool)
    for key in keys:
        change |= np.diff(key) != 0
    edges = [0, *(np.flatnonzero(change) + 1).tolist(), len(keys[0])]
    return list(zip(edges[:-1], edges[1:], strict=True))


def motion_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Camera shake: each digit smeared along a random direction, leaving a fading trail.

    ImageMagick's motion blur, as MNIST-C uses it: a pixel becomes a weighted mean of the
    pixels 0, 1, ..., 2 x radius px away along a direction drawn per image within 45 degrees
    of horizontal, with Gaussian weights exp(-d^2 / (2 sigma^2)) (offsets rounded to whole
    pixels). (radius, sigma) per severity 1 to 5: (10, 3), (15, 5), (15, 8), (15, 12),
    (20, 15) px, MNIST-C's values: severity 1 smears over about 7 px, severity 5 over the
    whole image, which makes the digit faint. Arguments and result as :func:`shot_noise`.
    Taught in 07.
    """
    radius, sigma = _level(MOTION_BLUR, severity)
    images = _floats(x)
    angles = np.deg2rad(_check_rng(rng).uniform(-45, 45, size=len(images)))
    distances = np.arange(2 * radius + 1)
    weights = np.exp(-(distances**2) / (2 * sigma**2))
    weights /= weights.sum()
    order = np.argsort(angles, kind="stable")  # images with equal offsets sit side by side
    ordered, angles = images[order], angles[order]
    blurred = np.zeros_like(ordered)
    for distance, weight in zip(distances, weights, strict=True):
        rows = np.rint(distance * np.sin(angles)).astype(int)
        cols = np.rint(distance * np.cos(angles)).astype(int)
        for start, stop in _runs(rows, cols):
            blurred[start:stop] += weight * _shift(ordered[start:stop], -rows[start], -cols[start])
    out = np.empty_like(blurred)
    out[order] = blurred
    return _bytes(out)


# --------------------------------------------------------------------------- affine and brightness


def shear(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Slant each digit sideways (a horizontal shear), leaning left or right at random.

    Each row moves sideways by s px per row of distance from the centre row, with s = 0.2,
    0.4, 0.6, 0.8 or 1.0 (severity 1 to 5): the top and bottom of a 20-px-tall digit move
    2, 4, 6, 8 or 10 px in opposite directions. The direction is drawn per image. MNIST-C
    uses the same five numbers as scikit-image shear angles in radians, which also stretches
    the digit vertically; this is a pure shear. Bilinear resampling. Arguments and result as
    :func:`shot_noise`. Taught in 07.
    """
    amount = _level(SHEAR, severity)
    images = _floats(x)
    signs = _signs(_check_rng(rng), len(images))
    return _bytes(
        _warp_each_way(images, signs, lambda sign: np.array([[1, 0], [sign * amount, 1]]))
    )


def scale(x: np.ndarray, severity: int) -> np.ndarray:
    """Shrink each digit about the image centre.

    The digit's new size is 90%, 80%, 70%, 60% or 50% of its old size (severity 1 to 5), so
    a 20-px-tall digit becomes 18, 16, 14, 12 or 10 px tall. As MNIST-C. Not random: no
    ``rng``. Bilinear resampling. Arguments and result as :func:`shot_noise`. Taught in 07.
    """
    size = _level(SCALE, severity)
    return _bytes(_warp(_floats(x), np.eye(2) / size))


def rotate(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Rotate each digit about the image centre, clockwise or anticlockwise at random.

    By 0.2, 0.4, 0.6, 0.8 or 1.0 radians (about 11, 23, 34, 46 and 57 degrees) for severity
    1 to 5, MNIST-C's angles; the direction is drawn per image. Bilinear resampling.
    Arguments and result as :func:`shot_noise`. Taught in 07.
    """
    angle = _level(ROTATE_RADIANS, severity)
    images = _floats(x)
    signs = _signs(_check_rng(rng), len(images))

    def turn(sign: int) -> np.ndarray:
        cos, sin = np.cos(sign * angle), np.sin(sign * angle)
        return np.array([[cos, -sin], [sin, cos]])

    return _bytes(_warp_each_way(images, signs, turn))


def brightness(x: np.ndarray, severity: int) -> np.ndarray:
    """Brighten the whole image: the same value added to every pixel, background included.

    26, 51, 77, 102 or 128 (10% to 50% of white, severity 1 to 5) is added to every pixel and
    the result clipped at 255, so the black background turns grey and the ink stays white, as
    MNIST-C (which adds to the value channel in HSV, the same thing for grey images). A model
    that only ever saw black backgrounds can collapse here. Not random: no ``rng``.
    Arguments and result as :func:`shot_noise`. Taught in 07.
    """
    added = _level(BRIGHTNESS, severity)
    images = _check_images(x)
    return np.minimum(images.astype(np.int16) + added, 255).astype(np.uint8)


def translate(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Move each digit diagonally, by whole pixels, in one of four directions at random.

    1, 2, 3, 4 or 5 px (severity 1 to 5) up or down *and* as many px left or right (so 1.4
    to 7.1 px diagonally), the two directions drawn per image, as MNIST-C. Ink moved past the
    border is lost; MNIST's digits have a 4-px blank margin. Arguments and result as
    :func:`shot_noise`. Taught in 07.
    """
    distance = _level(TRANSLATE_PIXELS, severity)
    images = _check_images(x)
    signs = _signs(_check_rng(rng), (len(images), 2))
    out = np.empty_like(images)
    for down in (-1, 1):
        for right in (-1, 1):
            chosen = (signs[:, 0] == down) & (signs[:, 1] == right)
            out[chosen] = _shift(images[chosen], down * distance, right * distance)
    return out


# --------------------------------------------------------------------------- occlusion and clutter


def stripe(x: np.ndarray, severity: int) -> np.ndarray:
    """Invert two vertical bands, at the left and right edges: black turns white and back.

    Each band is 3, 5, 7, 9 or 11 px wide (severity 1 to 5); MNIST-C inverts 7-px bands
    (severity 3). Ink inside a band shows black on white. Not random: no ``rng``.
    Arguments and result as :func:`shot_noise`. Taught in 07.
    """
    width = _level(STRIPE_WIDTH, severity)
    out = _check_images(x).copy()
    out[:, :, :width] = 255 - out[:, :, :width]
    out[:, :, SIZE - width :] = 255 - out[:, :, SIZE - width :]
    return out


def _plasma(count: int, roughness: float, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """``count`` fractal clouds of shape (size, size), values 0 to 1 (diamond-square algorithm).

    Starting from one corner, each round sets the centre of every square to the mean of its
    4 corners plus noise, then the middle of every edge to the mean of its 4 neighbours plus
    noise, halving the squares; the noise shrinks by ``roughness**2`` a round (as MNIST-C's
    ``plasma_fractal``). The map wraps around at its edges.
    """
    maps = np.zeros((count, size, size), dtype=np.float32)
    step, noise = size, 1.0
    while step >= 2:
        half = step // 2
        corners = maps[:, ::step, ::step]
        around = corners + np.roll(corners, -1, axis=1)
        around = around + np.roll(around, -1, axis=2)
        maps[:, half::step, half::step] = around / 4 + rng.uniform(-noise, noise, around.shape)
        centres = maps[:, half::step, half::step]
        on_rows = corners + np.roll(corners, -1, axis=2) + centres + np.roll(centres, 1, axis=1)
        maps[:, ::step, half::step] = on_rows / 4 + rng.uniform(-noise, noise, on_rows.shape)
        on_cols = corners + np.roll(corners, -1, axis=1) + centres + np.roll(centres, 1, axis=2)
        maps[:, half::step, ::step] = on_cols / 4 + rng.uniform(-noise, noise, on_cols.shape)
        step, noise = half, noise / roughness**2
    low = maps.min(axis=(1, 2), keepdims=True)
    high = maps.max(axis=(1, 2), keepdims=True)
    return (maps - low) / np.maximum(high - low, 1e-12)


def fog(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Fog: a smooth random cloud added to the image, which is then dimmed to fit.

    A fractal cloud (diamond-square "plasma", values 0 to 1) times a strength of 1.5, 2, 2.5,
    2.5 or 3 (severity 1 to 5) is added, then everything is scaled by m / (m + strength), m
    being the image's brightest pixel: the ink dims to 40%, 33%, 29%, 29% or 25% of its
    brightness and the cloud fills the rest; higher severities also have finer-grained fog.
    As MNIST-C, except that each image's cloud is the top-left 28x28 of a 64x64 map rather
    than of a 256x256 one (for speed), so it varies more within the image. Arguments and
    result as :func:`shot_noise`. Taught in 07.
    """
    strength, roughness = _level(FOG, severity)
    images = _floats(x)
    rng = _check_rng(rng)
    chunks = [
        _plasma(len(images[i : i + 1000]), roughness, rng)[:, :SIZE, :SIZE]
        for i in range(0, len(images), 1000)
    ]
    clouds = np.concatenate(chunks) if chunks else np.zeros_like(images)
    brightest = images.max(axis=(1, 2), keepdims=True)
    return _bytes((images + strength * clouds) * brightest / (brightest + strength))


def spatter(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Mud spatter: random grey blobs (63 of 255) that hide what is under them.

    As MNIST-C: Gaussian noise is smoothed, thresholded into blobs, and the blobs' smoothed
    mask (kept where above 0.8) paints grey over the image. With MNIST-C's parameters
    (:data:`SPATTER`) the blobs cover on average 9%, 17%, 26%, 14% and 21% of the image
    (:data:`SPATTER_COVERAGE`, severity 1 to 5): severities 1 to 3 have larger, then more,
    blobs (noise smoothed with sigma 4, 3, 2 px), 4 and 5 many small ones (sigma 1 px). At
    severity 1 about 3% of the images get no blob at all.
    Arguments and result as :func:`shot_noise`. Taught in 07.
    """
    mean, spread, sigma, threshold, mask_sigma = _level(SPATTER, severity)
    images = _floats(x)
    liquid = _blur(_check_rng(rng).normal(mean, spread, images.shape).astype(np.float32), sigma)
    mask = _blur((liquid > threshold).astype(np.float32), mask_sigma)
    mask[mask < 0.8] = 0
    return _bytes(images * (1 - mask) + SPATTER_GREY / 255 * mask)


def _line_ink(row0: np.ndarray, row1: np.ndarray) -> np.ndarray:
    """Ink (n, 28, 28) of a straight line per image, from (row0, column 0) to (row1, column 27)."""
    rise = (row1 - row0)[:, None, None]
    length = np.hypot(rise, SIZE - 1)
    offset = (_ROWS - row0[:, None, None]) * (SIZE - 1) - _COLS * rise
    return _ink(np.abs(offset) / length, reach=1.5)


def dotted_line(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Dotted lines drawn across the digit, from the left edge to the right edge.

    1, 2, 3, 4 or 5 lines (severity 1 to 5), each about 3 px wide (soft-edged, as MNIST-C's),
    in 2-px dashes with 2-px gaps (by column), from a random row at the left edge to a random
    row at the right edge.
    MNIST-C draws one (severity 1). The same seed draws the same lines, so severity 2 shows
    severity 1's line and one more. Arguments and result as :func:`shot_noise`. Taught in 07.
    """
    count = _level(DOTTED_LINES, severity)
    images = _floats(x)
    ends = _check_rng(rng).integers(0, SIZE - 1, size=(len(images), max(DOTTED_LINES), 2))
    ink = np.zeros_like(images)
    for k in range(count):
        ink = np.maximum(ink, _line_ink(ends[:, k, 0], ends[:, k, 1]))
    ink *= (np.arange(SIZE) // 2) % 2 == 1  # dashes: columns 2-3, 6-7, ... are drawn
    return _bytes(images + ink)


#: zigzag: half the length of one zig (px along the line) and its height (px across).
ZIGZAG_STEP, ZIGZAG_HEIGHT = 2.0, 2.0


def _zigzag_ink(row0: np.ndarray, row1: np.ndarray) -> np.ndarray:
    """Ink (n, 28, 28) of a zigzag per image, from (row0, column 2) to (row1, column 25).

    Along the line, the zigzag's offset is a triangle wave: 0 at the start, +height after
    one step, -height after three, and so on. A pixel's distance to it is its offset from
    the wave times the cosine of the zigzag's slope (exact away from the corners).
    """
    start, end = 2, SIZE - 3
    rise = (row1 - row0)[:, None, None]
    length = np.hypot(rise, end - start)
    down, right = _ROWS - row0[:, None, None], _COLS - start
    along = (down * rise + right * (end - start)) / length
    across = (down * (end - start) - right * rise) / length
    period = 4 * ZIGZAG_STEP
    wave = -ZIGZAG_HEIGHT * (1 - np.abs((along - ZIGZAG_STEP) % period - period / 2) / ZIGZAG_STEP)
    slope_cos = ZIGZAG_STEP / np.hypot(ZIGZAG_STEP, ZIGZAG_HEIGHT)
    distance = np.abs(across - wave) * slope_cos
    distance = np.where((along >= 0) & (along <= length), distance, np.inf)
    return _ink(distance, reach=1.0)


def zigzag(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Zigzag lines drawn across the digit.

    1, 2, 3, 4 or 5 zigzags (severity 1 to 5), each about 2 px wide (soft-edged, as
    MNIST-C's), from column 2 to column 25, starting at a random row and ending up to 5 rows
    higher or lower; each zig goes 2 px along and 2 px across (4 px from peak to trough).
    MNIST-C draws one (severity 1). The same seed draws the same zigzags at every severity.
    Arguments and result as :func:`shot_noise`. Taught in 07.
    """
    count = _level(ZIGZAGS, severity)
    images = _floats(x)
    rng = _check_rng(rng)
    starts = rng.integers(0, SIZE - 1, size=(len(images), max(ZIGZAGS))).astype(np.float32)
    rises = rng.integers(-5, 5, size=(len(images), max(ZIGZAGS))).astype(np.float32)
    ink = np.zeros_like(images)
    for k in range(count):
        ink = np.maximum(ink, _zigzag_ink(starts[:, k], starts[:, k] + rises[:, k]))
    return _bytes(images + ink)


def _sobel(images: np.ndarray, axis: int) -> np.ndarray:
    """Sobel derivative of each image along ``axis`` (1: down, 2: right).

    Not ``ndimage.sobel``, which also smooths along the batch axis, mixing neighbouring images.
    """
    derivative = ndimage.correlate1d(images, [-1, 0, 1], axis=axis, mode="nearest")
    return ndimage.correlate1d(derivative, [1, 2, 1], axis=3 - axis, mode="nearest")


def _thin_edges(magnitude: np.ndarray, d_rows: np.ndarray, d_cols: np.ndarray) -> np.ndarray:
    """Non-maximum suppression: keep a pixel only where its gradient is at least its two
    neighbours' along the gradient direction (rounded to 0, 45, 90 or 135 degrees)."""
    angle = np.rad2deg(np.arctan2(d_rows, d_cols)) % 180
    sector = np.rint(angle / 45).astype(int) % 4
    padded = np.pad(magnitude, ((0, 0), (1, 1), (1, 1)))
    keep = np.zeros(magnitude.shape, dtype=bool)
    for k, (dr, dc) in enumerate(((0, 1), (1, 1), (1, 0), (1, -1))):
        ahead = padded[:, 1 + dr : 1 + dr + SIZE, 1 + dc : 1 + dc + SIZE]
        behind = padded[:, 1 - dr : 1 - dr + SIZE, 1 - dc : 1 - dc + SIZE]
        keep |= (sector == k) & (magnitude >= ahead) & (magnitude >= behind)
    return np.where(keep, magnitude, 0.0)


def canny_edges(x: np.ndarray, severity: int) -> np.ndarray:
    """Edge image: the outlines of the strokes, in white on black, instead of the strokes.

    A compact Canny edge detector built from scipy.ndimage: Gaussian smoothing (sigma 1, 1.5,
    2, 2.5 or 3 px for severity 1 to 5), Sobel gradients, thinning to 1-px edges
    (non-maximum suppression, the direction rounded to 45 degrees) and hysteresis (edges
    above 0.1, kept where connected to one above 0.2, on [0, 1] pixels). MNIST-C uses
    scikit-image's ``canny`` with its defaults (sigma 1, severity 1 here); this is not that
    implementation, and its edges can differ by a pixel. Larger sigma gives rounder outlines
    that lose small details. Not random: no ``rng``. Arguments and result as
    :func:`shot_noise`. Taught in 07.
    """
    sigma = _level(CANNY_SIGMA, severity)
    smooth = _blur(_floats(x), sigma)
    d_rows, d_cols = _sobel(smooth, axis=1), _sobel(smooth, axis=2)
    thin = _thin_edges(np.hypot(d_rows, d_cols), d_rows, d_cols)
    low, high = CANNY_THRESHOLDS
    within_image = np.zeros((3, 3, 3), dtype=bool)
    within_image[1] = True  # 8-connected inside an image, never across images
    labels, _ = ndimage.label(thin > low, structure=within_image)
    strong = np.zeros(labels.max(initial=0) + 1, dtype=bool)
    strong[labels[thin > high]] = True
    strong[0] = False
    return (strong[labels] * 255).astype(np.uint8)


# --------------------------------------------------------------------------- the suite

Corruption = Callable[..., np.ndarray]

#: The 15 MNIST-C corruptions, name -> function, in MNIST-C's order. A random one is called
#: as ``f(x, severity, rng)``, the others (see :data:`RANDOM_CORRUPTIONS`) as ``f(x, severity)``.
CORRUPTIONS: dict[str, Corruption] = {
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "glass_blur": glass_blur,
    "motion_blur": motion_blur,
    "shear": shear,
    "scale": scale,
    "rotate": rotate,
    "brightness": brightness,
    "translate": translate,
    "stripe": stripe,
    "fog": fog,
    "spatter": spatter,
    "dotted_line": dotted_line,
    "zigzag": zigzag,
    "canny_edges": canny_edges,
}

#: The corruptions that draw random numbers (they take an ``rng``); the other four give the
#: same images whatever the seed.
RANDOM_CORRUPTIONS = frozenset(CORRUPTIONS) - {"scale", "brightness", "stripe", "canny_edges"}

#: The one severity per corruption of the one-number benchmark: MNIST-C's (the default
#: severity of each corruption in its code, github.com/google-research/mnist-c). For the four
#: that MNIST-C defines only once (stripe, dotted_line, zigzag, canny_edges) it is the
#: severity that matches MNIST-C's single setting.
MNIST_C_SEVERITY: dict[str, int] = {
    "shot_noise": 5,
    "impulse_noise": 4,
    "glass_blur": 1,
    "motion_blur": 1,
    "shear": 2,
    "scale": 3,
    "rotate": 2,
    "brightness": 5,
    "translate": 3,
    "stripe": 3,
    "fog": 5,
    "spatter": 4,
    "dotted_line": 1,
    "zigzag": 1,
    "canny_edges": 1,
}

#: What severities 1 to 5 mean, in words, per corruption (shown by :func:`corruption_table`).
SEVERITY_MEANING: dict[str, tuple[str, ...]] = {
    "shot_noise": tuple(f"{p} photons per white pixel" for p in SHOT_NOISE_PHOTONS),
    "impulse_noise": tuple(f"{a:.0%} of pixels" for a in IMPULSE_NOISE_AMOUNT),
    "glass_blur": tuple(
        f"blur σ {s} px, jumps ≤{j} px, {r} round{'s' if r > 1 else ''}" for s, j, r in GLASS_BLUR
    ),
    "motion_blur": tuple(f"trail σ {s:g} px, at most {2 * r} px" for r, s in MOTION_BLUR),
    "shear": tuple(f"{s:g} px sideways per row (±{10 * s:g} px at ±10 rows)" for s in SHEAR),
    "scale": tuple(f"{s:.0%} size" for s in SCALE),
    "rotate": tuple(f"{np.rad2deg(a):.0f}°" for a in ROTATE_RADIANS),
    "brightness": tuple(f"+{b} ({b / 255:.0%} of white)" for b in BRIGHTNESS),
    "translate": tuple(f"{p} px down/up and {p} px left/right" for p in TRANSLATE_PIXELS),
    "stripe": tuple(f"two {w}-px bands" for w in STRIPE_WIDTH),
    "fog": tuple(f"strength {s:g}, ink dimmed to {1 / (1 + s):.0%}" for s, _ in FOG),
    "spatter": tuple(
        f"grey blobs over ~{c:.0%} of the image ({'large' if s > 1 else 'small'})"
        for c, (_, _, s, _, _) in zip(SPATTER_COVERAGE, SPATTER, strict=True)
    ),
    "dotted_line": tuple(f"{k} dotted line{'s' if k > 1 else ''}" for k in DOTTED_LINES),
    "zigzag": tuple(f"{k} zigzag{'s' if k > 1 else ''}" for k in ZIGZAGS),
    "canny_edges": tuple(f"smoothing σ {s:g} px" for s in CANNY_SIGMA),
}


def _check_name(name: object) -> str:
    if not isinstance(name, str) or name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; choose one of: {', '.join(CORRUPTIONS)}")
    return name


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}; e.g. seed=0")
    return int(seed)


def corruption_rng(name: str, seed: int = 0) -> np.random.Generator:
    """The random generator :func:`corrupt` uses for corruption ``name`` and ``seed``.

    It depends on both (through a fixed checksum of the name, the same on every machine and
    every run), so each corruption has its own random draws, whatever else is run before it.
    """
    return np.random.default_rng([_check_seed(seed), zlib.crc32(_check_name(name).encode())])


def corrupt(x: np.ndarray, name: str, severity: int | None = None, seed: int = 0) -> np.ndarray:
    """Corrupt MNIST images with one of the 15 corruptions, reproducibly.

    Args:
        x: uint8 images, white ink on black (0-255): a batch ``(n, 28, 28)`` or one image
            ``(28, 28)``, e.g. ``load_mnist(normalize=False, channel_axis=False).x_test``.
        name: one of :data:`CORRUPTIONS`, e.g. ``"rotate"``.
        severity: 1 (mild) to 5 (strong); ``None`` uses the benchmark severity,
            :data:`MNIST_C_SEVERITY`.
        seed: the same ``(x, name, severity, seed)`` always gives the same images; another
            seed gives other random draws (for the :data:`RANDOM_CORRUPTIONS`). Most random
            corruptions make the same random choices at every severity (the way each digit
            turns or moves, where the lines go, which pixels the salt and pepper hit), so
            severities can be compared image by image.

    Returns:
        New uint8 images of the same shape as ``x``; ``x`` is not changed.

    Raises:
        ValueError: unknown ``name``, a ``severity`` that is not an integer from 1 to 5,
            ``x`` not uint8 or not of shape (n, 28, 28) or (28, 28); the message says which.

    Taught in 07.
    """
    name = _check_name(name)
    severity = MNIST_C_SEVERITY[name] if severity is None else _check_severity(severity)
    images = _check_images(x, one_image_ok=True)
    rng = corruption_rng(name, seed)
    batch = images[np.newaxis] if images.ndim == 2 else images
    if name in RANDOM_CORRUPTIONS:
        out = CORRUPTIONS[name](batch, severity, rng)
    else:
        out = CORRUPTIONS[name](batch, severity)
    return out.reshape(images.shape)


def corruption_table() -> pd.DataFrame:
    """One row per corruption: what it does, and what its severities mean.

    Columns: ``corruption`` (its name in :data:`CORRUPTIONS`), ``description`` (one
    sentence), ``random`` (whether the seed matters), ``benchmark_severity``
    (:data:`MNIST_C_SEVERITY`), ``severity_1`` and ``severity_5`` (what the mildest and the
    strongest severity mean, e.g. "11°" and "57°"). Taught in 07.
    """
    return pd.DataFrame(
        {
            "corruption": name,
            "description": (function.__doc__ or "").strip().splitlines()[0],
            "random": name in RANDOM_CORRUPTIONS,
            "benchmark_severity": MNIST_C_SEVERITY[name],
            "severity_1": SEVERITY_MEANING[name][0],
            "severity_5": SEVERITY_MEANING[name][-1],
        }
        for name, function in CORRUPTIONS.items()
    )


def _accuracy(model, images: np.ndarray, labels: np.ndarray, batch_size: int) -> float:
    """The model's accuracy on uint8 images, fed as float32 [0, 1] with a channel axis."""
    inputs = (images.astype(np.float32) / 255)[..., np.newaxis]
    probabilities = predict_proba(model, inputs, batch_size)  # checked: (n, 10) probabilities
    return accuracy(labels, probabilities.argmax(axis=1))


def evaluate_shifts(
    model,
    x: np.ndarray,
    y: np.ndarray,
    names: Iterable[str] | None = None,
    severities: Iterable[int] | None = None,
    seed: int = 0,
    batch_size: int = 1000,
) -> pd.DataFrame:
    """The model's accuracy on clean and on corrupted test images: a tidy table.

    Each corruption is applied to all of ``x`` (with :func:`corrupt`, so with its own random
    draws from ``seed`` and its name: the results do not depend on the order of ``names``),
    the images are turned into float32 in [0, 1] of shape (n, 28, 28, 1), as the course's
    models expect, and the model predicts them.

    Args:
        model: a Keras model, or anything with ``predict(x, batch_size=..., verbose=0)``
            returning probabilities of shape (n, 10) (anything else is a
            :class:`~mnist_helpers.predict.ModelOutputError` that says what it gave).
        x: uint8 test images (n, 28, 28), e.g. ``load_mnist(normalize=False,
            channel_axis=False).x_test``.
        y: their integer labels, shape (n,).
        names: the corruptions to run (one name, or several), default all 15 in
            :data:`CORRUPTIONS`' order.
        severities: the severities to run each at, e.g. ``range(1, 6)`` for a curve of
            accuracy against severity; default: each corruption's :data:`MNIST_C_SEVERITY`.
        seed: seed of the random corruptions.
        batch_size: how many images the model predicts at a time.

    Returns:
        A DataFrame with columns ``corruption``, ``severity`` (nullable integer) and
        ``accuracy`` (0 to 1), one row per (corruption, severity) in the order given, plus a
        first row ``clean`` (the uncorrupted images, severity 0) and a last row ``mean``
        (the mean accuracy of all the corruption rows, not counting clean; severity <NA>).
        With the default severities, ``mean`` is the one-number MNIST-C-style score.

    Taught in 07.
    """
    images = _check_images(x)
    if len(images) == 0:
        raise ValueError("x holds no images; pass at least one, e.g. data.x_test[:1000]")
    labels = check_labels("y", y)  # 1-D digits 0-9, as evaluation checks them
    if len(labels) != len(images):
        raise ValueError(
            f"y must hold one integer label 0-9 per image, shape ({len(images)},), got "
            f"{len(labels)} labels; pass the labels that go with x, e.g. data.y_test[:n] "
            "with data.x_test[:n]"
        )
    if isinstance(names, str):  # one name, e.g. names="fog"
        names = [names]
    names = list(CORRUPTIONS) if names is None else [_check_name(n) for n in names]
    if severities is not None:
        severities = [_check_severity(s) for s in severities]
        if not severities:
            raise ValueError("severities is empty; give some from 1 to 5, or None")
    if not names:
        raise ValueError(f"names is empty; give some of: {', '.join(CORRUPTIONS)}, or None")
    rows = [("clean", 0, _accuracy(model, images, labels, batch_size))]
    for name in names:
        for severity in severities or [MNIST_C_SEVERITY[name]]:
            corrupted = corrupt(images, name, severity, seed)
            rows.append((name, severity, _accuracy(model, corrupted, labels, batch_size)))
    table = pd.DataFrame(rows, columns=["corruption", "severity", "accuracy"])
    mean = table["accuracy"].iloc[1:].mean()
    table.loc[len(table)] = ["mean", None, mean]
    table["severity"] = table["severity"].astype("Int64")
    return table


def batch_norm_drift(model, x: np.ndarray, batch_size: int = 1000) -> pd.DataFrame:
    """How far the inputs of each batch-normalisation layer are from what it learned to expect.

    A ``BatchNormalization`` layer, at test time, subtracts the mean and divides by the
    standard deviation that its inputs had *during training* (its running statistics). If
    shifted images move those inputs, the layer no longer centres and scales them, and every
    layer after it sees numbers it never saw in training. For each such layer of ``model``
    this measures, channel by channel, the mean of its inputs over ``x`` minus its running
    mean, in units of its running standard deviation (0: as expected; 3: three standard
    deviations off), and the ratio of the standard deviations (1: as expected).

    Args:
        model: a Keras model whose layers are not nested (e.g. ``build_cnn()``, trained).
        x: images as the model takes them, float32 ``(n, 28, 28, 1)`` in [0, 1].
        batch_size: images per forward pass.

    Returns:
        A DataFrame with one row per batch-normalisation layer: ``layer``, ``mean shift``
        (the average over channels of the absolute shift, in standard deviations) and
        ``spread ratio`` (the average over channels of the standard deviation's ratio).

    Taught in 07.
    """
    import keras

    found = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not found:
        raise ValueError(
            f"model {model.name!r} has no BatchNormalization layer of its own (nested models "
            "are not searched); pass a model built with batch_norm=True, e.g. build_cnn()"
        )
    probe = keras.Model(model.inputs[0], [layer.input for layer in found])
    images = np.asarray(x, dtype=np.float32)
    # called batch by batch (not probe.predict): a new probe per call must not make
    # TensorFlow trace a new function each time, and warn about it
    batches = [probe(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
    outputs = [np.concatenate([np.asarray(b[k]) for b in batches]) for k in range(len(found))]
    rows = []
    for layer, values in zip(found, outputs, strict=True):
        values = values.astype(np.float64).reshape(-1, values.shape[-1])
        running_mean = np.asarray(layer.moving_mean, dtype=np.float64)
        running_std = np.sqrt(np.asarray(layer.moving_variance, dtype=np.float64) + layer.epsilon)
        shift = np.abs(values.mean(axis=0) - running_mean) / running_std
        spread = values.std(axis=0) / running_std
        rows.append(
            {"layer": layer.name, "mean shift": shift.mean(), "spread ratio": spread.mean()}
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- command line


def _table_text(table: pd.DataFrame) -> str:
    """The evaluation table as aligned text, accuracies in percent."""
    lines = [f"{'corruption':<14} {'severity':>8} {'accuracy':>9}"]
    for corruption, severity, score in table.itertuples(index=False):
        shown = "-" if pd.isna(severity) else str(severity)
        lines.append(f"{corruption:<14} {shown:>8} {score:>9.2%}")
    return "\n".join(lines)


def _table_records(table: pd.DataFrame) -> list[dict]:
    """The evaluation table as JSON-ready rows (severity null for the mean row)."""
    return [
        {
            "corruption": corruption,
            "severity": None if pd.isna(severity) else int(severity),
            "accuracy": float(score),
        }
        for corruption, severity, score in table.itertuples(index=False)
    ]


#: How to get a model, said when the model file cannot be used.
GET_A_MODEL = "`make run` trains runs/default/model.keras (or see notebook 03)"


def _model_error(path: Path, err: BaseException) -> str:
    """One line: what is wrong with the model file, and how to get a model."""
    if isinstance(err, FileNotFoundError):
        return f"{path}: no such model file; train one first: {GET_A_MODEL}"
    text = " ".join(str(err).split()) or type(err).__name__
    return f"{text}; to get a model, {GET_A_MODEL}"


def main(argv: list[str] | None = None) -> int:
    """Command line; returns the exit status.

    0: the table was printed; 2: the model file is missing, refused or invalid, its outputs
    are not probabilities over ten digits, or the MNIST test set cannot be loaded (a
    one-line reason on stderr).
    """
    parser = argparse.ArgumentParser(
        prog="python -m mnist_helpers.shift",
        description="Accuracy of a model on MNIST's test set, clean and under the 15 "
        "MNIST-C corruptions (each at its benchmark severity).",
    )
    parser.add_argument("model", type=Path, help="a .keras file, e.g. runs/default/model.keras")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--n", type=int, default=None, help="use the first N test images (default: all 10,000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random corruptions")
    args = parser.parse_args(argv)
    if args.n is not None and args.n < 1:
        parser.error(f"--n must be a positive integer, got {args.n}")
    if args.seed < 0:
        parser.error(f"--seed must be a non-negative integer, got {args.seed}")

    from mnist_helpers.console import quiet_stderr
    from mnist_helpers.data import MnistNotFoundError, load_mnist

    try:
        with quiet_stderr():  # TensorFlow's start-up lines are not for the user
            model = load_model_safely(args.model)
    except (OSError, ValueError) as err:  # FileNotFoundError, ModelFileError, UnsafeModelError
        print(f"shift: {_model_error(args.model, err)}", file=sys.stderr)
        return 2
    try:
        data = load_mnist(normalize=False, channel_axis=False)
    except (MnistNotFoundError, OSError, ValueError) as err:
        reason = " ".join(str(err).split())
        print(f"shift: cannot load the MNIST test set ({reason}); run `make data`", file=sys.stderr)
        return 2
    n = len(data.x_test) if args.n is None else min(args.n, len(data.x_test))
    try:
        with quiet_stderr():
            table = evaluate_shifts(model, data.x_test[:n], data.y_test[:n], seed=args.seed)
    except ModelOutputError as err:  # NaN for some corrupted images, say
        print(f"shift: {args.model}: {_model_error(args.model, err)}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(_table_records(table), indent=2))
    else:
        print(f"{args.model}: {n:,} MNIST test images, MNIST-C severities, seed {args.seed}")
        print(_table_text(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
