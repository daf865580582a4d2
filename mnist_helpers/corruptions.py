"""MNIST-C's 15 corruptions (Mu & Gilmer 2019) of uint8 images (n, 28, 28), white ink on black,
made on the fly with numpy and scipy at severities 1 (mild) to 5 (strong). They follow MNIST-C's
paper and parameters, not its code; a docstring says where one departs. :func:`corrupt` makes
them, :data:`CORRUPTIONS` describes them. Taught in 07."""

from __future__ import annotations

import inspect
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from mnist_helpers.checks import check_choice, check_int

SIZE = 28  #: side of an MNIST image, in pixels
CENTRE = (SIZE - 1) / 2  #: the centre (row and column) that rotate, shear and scale turn about

# One entry per severity, 1 to 5. Where MNIST-C publishes values they are MNIST-C's.
SHOT_NOISE_PHOTONS = (60, 25, 12, 5, 3)  #: photons caught by a full-white pixel
IMPULSE_NOISE_AMOUNT = (0.03, 0.06, 0.09, 0.17, 0.27)  #: share of pixels turned white or black
#: glass_blur: (Gaussian sigma in px, largest pixel jump in px, rounds of jumps).
GLASS_BLUR = ((0.7, 1, 2), (0.9, 2, 1), (1.0, 2, 3), (1.1, 3, 2), (1.5, 4, 2))
#: motion_blur: (radius in px, Gaussian sigma in px) of ImageMagick's motion blur.
MOTION_BLUR = ((10, 3.0), (15, 5.0), (15, 8.0), (15, 12.0), (20, 15.0))
SHEAR = (0.2, 0.4, 0.6, 0.8, 1.0)  #: px a row moves sideways per row from the centre row
SCALE = (0.9, 0.8, 0.7, 0.6, 0.5)  #: the digit's new size, as a share of its old size
ROTATE_RADIANS = (0.2, 0.4, 0.6, 0.8, 1.0)  #: the angle of rotate, in radians
BRIGHTNESS = (26, 51, 77, 102, 128)  #: added to every pixel: 10% to 50% of white (255)
TRANSLATE_PIXELS = (1, 2, 3, 4, 5)  #: px moved along each axis (so diagonally)
STRIPE_WIDTH = (3, 5, 7, 9, 11)  #: px width of the inverted band at each edge
#: fog: (strength relative to the ink, roughness: a lower value gives finer fog).
FOG = ((1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))
#: spatter: (mean, spread, smoothing sigma in px, threshold, mask sigma in px) of the blobs.
SPATTER = (
    (0.65, 0.3, 4.0, 0.69, 0.6),
    (0.65, 0.3, 3.0, 0.68, 0.6),
    (0.65, 0.3, 2.0, 0.68, 0.5),
    (0.65, 0.3, 1.0, 0.65, 1.5),
    (0.67, 0.4, 1.0, 0.65, 1.5),
)
SPATTER_GREY = 63  #: the grey of the mud blobs (MNIST-C's)
SPATTER_COVERAGE = (0.09, 0.17, 0.26, 0.14, 0.21)  #: share of the image the blobs cover (tested)
LINES = (1, 2, 3, 4, 5)  #: how many dotted lines or zigzags cross the image
ZIGZAG_STEP, ZIGZAG_HEIGHT = 2.0, 2.0  #: a zig: px along the line, px across it
CANNY_SIGMA = (1.0, 1.5, 2.0, 2.5, 3.0)  #: px of smoothing before the edges are found
CANNY_THRESHOLDS = (0.1, 0.2)  #: (low, high) hysteresis thresholds on [0, 1] pixels' gradient

_ROWS, _COLS = np.indices((SIZE, SIZE)).astype(np.float32)


def check_images(x: object, *, one_image_ok: bool = False) -> np.ndarray:
    """Return ``x`` as a uint8 array of shape (n, 28, 28) (or (28, 28)), or raise ValueError."""
    images = np.asarray(x)
    if images.dtype != np.uint8:
        raise ValueError(
            f"x must hold uint8 pixels 0-255 (white ink on black, as "
            f"load_mnist(normalize=False) gives), got dtype {images.dtype}; turn floats in "
            "[0, 1] into bytes with (x * 255).round().astype(np.uint8)"
        )
    shapes = "(n, 28, 28) or one image (28, 28)" if one_image_ok else "(n, 28, 28)"
    if images.ndim not in ((2, 3) if one_image_ok else (3,)) or images.shape[-2:] != (SIZE, SIZE):
        raise ValueError(
            f"x must be a batch of images of shape {shapes}, got shape {images.shape}; drop "
            "a channel axis with x[..., 0], or load with load_mnist(channel_axis=False)"
        )
    return images


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
    """Bilinear resampling about the centre: an output pixel at offset ``d`` from the centre
    takes the input's value at offset ``matrix @ d`` (black outside)."""
    if len(images) == 0:
        return images.copy()
    full = np.eye(3)
    full[1:, 1:] = matrix
    centre = np.array([0.0, CENTRE, CENTRE])
    return ndimage.affine_transform(images, full, offset=centre - full @ centre, order=1)


def _warp_by_sign(images: np.ndarray, rng: np.random.Generator, matrix_for: Callable) -> np.ndarray:
    """:func:`_warp` each image with ``matrix_for(sign)``, its sign -1 or +1 drawn at random."""
    signs = rng.integers(0, 2, len(images)) * 2 - 1
    out = np.empty_like(images)
    for sign in (-1, 1):
        out[signs == sign] = _warp(images[signs == sign], matrix_for(sign))
    return out


def _blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of each image (not across images) with ``sigma`` pixels."""
    return ndimage.gaussian_filter(images, sigma=(0, sigma, sigma), mode="nearest")


@dataclass(frozen=True)
class Corruption:
    """One of :data:`CORRUPTIONS`: its function, what it does, MNIST-C's severity for it, what
    severities 1 to 5 mean and whether it is random. The function takes float32 images (n, 28,
    28) in [0, 1], a severity 1 to 5 and, if random, a numpy Generator, all checked by
    :func:`corrupt`, and returns new images (which corrupt rounds to uint8)."""

    function: Callable[..., np.ndarray]
    description: str
    benchmark_severity: int
    severities: tuple[str, ...]
    random: bool


#: The 15 MNIST-C corruptions by name, in MNIST-C's order. Each benchmark severity is MNIST-C's
#: default; for the four it defines once (stripe, lines, edges), the one that matches it.
CORRUPTIONS: dict[str, Corruption] = {}


def _corruption(description: str, benchmark_severity: int, severities: Iterable[str]):
    """Add the decorated function to :data:`CORRUPTIONS`, under its name."""

    def add(function: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        random = "rng" in inspect.signature(function).parameters
        entry = Corruption(function, description, benchmark_severity, tuple(severities), random)
        CORRUPTIONS[function.__name__] = entry
        return function

    return add


@_corruption(
    "Photon noise: each pixel's brightness is a random count of photons (Poisson noise).",
    5,
    [f"{p} photons per white pixel" for p in SHOT_NOISE_PHOTONS],
)
def shot_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Poisson noise, :data:`SHOT_NOISE_PHOTONS` per white pixel, mean kept; black stays black."""
    photons = SHOT_NOISE_PHOTONS[severity - 1]
    return rng.poisson(x * photons) / photons


@_corruption(
    "Salt-and-pepper noise: random pixels turned pure white or pure black.",
    4,
    [f"{a:.0%} of pixels" for a in IMPULSE_NOISE_AMOUNT],
)
def impulse_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """A share of the pixels (:data:`IMPULSE_NOISE_AMOUNT`) turned white or black, half each."""
    amount = IMPULSE_NOISE_AMOUNT[severity - 1]
    draw = rng.random(x.shape)
    return np.where(draw < amount / 2, 1, np.where(draw < amount, 0, x))


@_corruption(
    "Frosted glass: blur, let pixels jump to random nearby places, blur again.",
    1,
    [f"blur σ {s} px, jumps ≤{j} px, {r} round{'s' * (r > 1)}" for s, j, r in GLASS_BLUR],
)
def glass_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Blur, let each pixel (with probability 1/2 a round) copy a random pixel up to a jump away
    on each axis, blur again (:data:`GLASS_BLUR`). MNIST-C swaps pixel pairs instead."""
    sigma, reach, rounds = GLASS_BLUR[severity - 1]
    images = _blur(x, sigma)
    which = np.arange(len(images))[:, None, None]
    rows, cols = np.indices((SIZE, SIZE))
    for _ in range(rounds):
        jumps = rng.random(images.shape) < 0.5
        dr = rng.integers(-reach, reach + 1, size=images.shape) * jumps
        dc = rng.integers(-reach, reach + 1, size=images.shape) * jumps
        images = images[which, np.clip(rows + dr, 0, SIZE - 1), np.clip(cols + dc, 0, SIZE - 1)]
    return _blur(images, sigma)


@_corruption(
    "Camera shake: each digit smeared along a random direction, leaving a fading trail.",
    1,
    [f"trail σ {s:g} px, at most {2 * r} px" for r, s in MOTION_BLUR],
)
def motion_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """ImageMagick's: a pixel becomes the mean of those 0 to 2 x radius px ahead in a direction
    within 45° of horizontal (per image), weighted by a Gaussian (:data:`MOTION_BLUR`)."""
    radius, sigma = MOTION_BLUR[severity - 1]
    angles = np.deg2rad(rng.uniform(-45, 45, size=len(x)))
    distances = np.arange(2 * radius + 1)
    weights = np.exp(-(distances**2) / (2 * sigma**2))
    blurred = np.zeros_like(x)
    for distance, weight in zip(distances, weights / weights.sum(), strict=True):
        rows = np.rint(distance * np.sin(angles)).astype(int)
        cols = np.rint(distance * np.cos(angles)).astype(int)
        for r, c in set(zip(rows.tolist(), cols.tolist(), strict=True)):
            ahead = (rows == r) & (cols == c)  # the images whose pixels look (r, c) ahead
            blurred[ahead] += weight * _shift(x[ahead], -r, -c)
    return blurred


@_corruption(
    "Slant each digit sideways (a horizontal shear), leaning left or right at random.",
    2,
    [f"{s:g} px sideways per row (±{10 * s:g} px at ±10 rows)" for s in SHEAR],
)
def shear(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Each row moves sideways by :data:`SHEAR` px per row from the centre row. MNIST-C's shear
    also stretches the digit; this is a pure shear."""
    amount = SHEAR[severity - 1]
    return _warp_by_sign(x, rng, lambda sign: np.array([[1, 0], [sign * amount, 1]]))


@_corruption("Shrink each digit about the image centre.", 3, [f"{s:.0%} size" for s in SCALE])
def scale(x: np.ndarray, severity: int) -> np.ndarray:
    """Shrink each digit about the image centre to :data:`SCALE` of its size."""
    return _warp(x, np.eye(2) / SCALE[severity - 1])


@_corruption(
    "Rotate each digit about the image centre, clockwise or anticlockwise at random.",
    2,
    [f"{np.rad2deg(a):.0f}°" for a in ROTATE_RADIANS],
)
def rotate(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Rotate each digit by :data:`ROTATE_RADIANS`, clockwise or anticlockwise at random."""
    angle = ROTATE_RADIANS[severity - 1]

    def turn(sign: int) -> np.ndarray:
        cos, sin = np.cos(sign * angle), np.sin(sign * angle)
        return np.array([[cos, -sin], [sin, cos]])

    return _warp_by_sign(x, rng, turn)


@_corruption(
    "Brighten the whole image: the same value added to every pixel, background included.",
    5,
    [f"+{b} ({b / 255:.0%} of white)" for b in BRIGHTNESS],
)
def brightness(x: np.ndarray, severity: int) -> np.ndarray:
    """Add :data:`BRIGHTNESS` to every pixel: the background turns grey, the ink stays white."""
    return x + BRIGHTNESS[severity - 1] / 255


@_corruption(
    "Move each digit diagonally, by whole pixels, in one of four directions at random.",
    3,
    [f"{p} px down/up and {p} px left/right" for p in TRANSLATE_PIXELS],
)
def translate(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Move each digit by :data:`TRANSLATE_PIXELS` up or down *and* left or right (directions
    at random); ink moved past the border is lost."""
    distance = TRANSLATE_PIXELS[severity - 1]
    signs = rng.integers(0, 2, (len(x), 2)) * 2 - 1
    out = np.empty_like(x)
    for down in (-1, 1):
        for right in (-1, 1):
            chosen = (signs[:, 0] == down) & (signs[:, 1] == right)
            out[chosen] = _shift(x[chosen], down * distance, right * distance)
    return out


@_corruption(
    "Invert two vertical bands, at the left and right edges: black turns white and back.",
    3,
    [f"two {w}-px bands" for w in STRIPE_WIDTH],
)
def stripe(x: np.ndarray, severity: int) -> np.ndarray:
    """Invert the :data:`STRIPE_WIDTH` px at the left and at the right edge."""
    width = STRIPE_WIDTH[severity - 1]
    at_an_edge = (np.arange(SIZE) < width) | (np.arange(SIZE) >= SIZE - width)
    return np.where(at_an_edge, 1 - x, x)


def _plasma(count: int, roughness: float, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """``count`` fractal clouds (size, size), values 0 to 1, by the diamond-square algorithm;
    the noise shrinks by ``roughness**2`` a round (as MNIST-C's ``plasma_fractal``)."""
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


@_corruption(
    "Fog: a smooth random cloud added to the image, which is then dimmed to fit.",
    5,
    [f"strength {s:g}, ink dimmed to {1 / (1 + s):.0%}" for s, _ in FOG],
)
def fog(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Add a fractal cloud (0 to 1) times a strength (:data:`FOG`), scale by m / (m + strength),
    m the brightest pixel. MNIST-C cuts each cloud from a 256x256 map, this from a 64x64 one."""
    strength, roughness = FOG[severity - 1]
    chunks = [
        _plasma(len(x[i : i + 1000]), roughness, rng)[:, :SIZE, :SIZE]
        for i in range(0, len(x), 1000)
    ]
    clouds = np.concatenate(chunks) if chunks else np.zeros_like(x)
    brightest = x.max(axis=(1, 2), keepdims=True)
    return (x + strength * clouds) * brightest / (brightest + strength)


@_corruption(
    f"Mud spatter: random grey blobs ({SPATTER_GREY} of 255) that hide what is under them.",
    4,
    [
        f"grey blobs over ~{c:.0%} of the image ({'large' if s > 1 else 'small'})"
        for c, (_, _, s, _, _) in zip(SPATTER_COVERAGE, SPATTER, strict=True)
    ],
)
def spatter(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Smoothed Gaussian noise, thresholded into blobs (:data:`SPATTER`), paints grey
    (:data:`SPATTER_GREY`) over what is under them."""
    mean, spread, sigma, threshold, mask_sigma = SPATTER[severity - 1]
    liquid = _blur(rng.normal(mean, spread, x.shape).astype(np.float32), sigma)
    mask = _blur((liquid > threshold).astype(np.float32), mask_sigma)
    mask[mask < 0.8] = 0
    return x * (1 - mask) + SPATTER_GREY / 255 * mask


@_corruption(
    "Dotted lines drawn across the digit, from the left edge to the right edge.",
    1,
    [f"{k} dotted line{'s' * (k > 1)}" for k in LINES],
)
def dotted_line(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """:data:`LINES` straight lines, about 3 px wide, from a random row at the left edge to one at
    the right, in 2-px dashes (columns 2-3, 6-7, ...). The same seed, the same lines at every
    severity."""
    ends = rng.integers(0, SIZE - 1, size=(len(x), max(LINES), 2))[:, : LINES[severity - 1]]
    row0 = ends[..., 0, None, None]
    rise = ends[..., 1, None, None] - row0
    distance = np.abs((_ROWS - row0) * (SIZE - 1) - _COLS * rise) / np.hypot(rise, SIZE - 1)
    ink = np.clip(1 - distance / 1.5, 0, 1).astype(np.float32).max(axis=1)  # fading over 1.5 px
    ink *= (np.arange(SIZE) // 2) % 2 == 1  # the dashes
    return x + ink


@_corruption(
    "Zigzag lines drawn across the digit.", 1, [f"{k} zigzag{'s' * (k > 1)}" for k in LINES]
)
def zigzag(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """:data:`LINES` zigzags, about 2 px wide, from column 2 to column 25, each from a random row
    to up to 5 rows higher or lower: across the line, a triangle wave of :data:`ZIGZAG_HEIGHT`
    px, one zig per :data:`ZIGZAG_STEP` px along it. The same seed, the same zigzags at every
    severity."""
    count = LINES[severity - 1]
    starts = rng.integers(0, SIZE - 1, size=(len(x), max(LINES)))[:, :count, None, None]
    rise = rng.integers(-5, 5, size=(len(x), max(LINES)))[:, :count, None, None].astype(np.float32)
    start, end = 2, SIZE - 3
    length = np.hypot(rise, end - start)
    down, right = _ROWS - starts.astype(np.float32), _COLS - start
    along = (down * rise + right * (end - start)) / length
    across = (down * (end - start) - right * rise) / length
    period = 4 * ZIGZAG_STEP
    wave = -ZIGZAG_HEIGHT * (1 - np.abs((along - ZIGZAG_STEP) % period - period / 2) / ZIGZAG_STEP)
    distance = np.abs(across - wave) * ZIGZAG_STEP / np.hypot(ZIGZAG_STEP, ZIGZAG_HEIGHT)
    distance = np.where((along >= 0) & (along <= length), distance, np.inf)
    return x + np.clip(1 - distance, 0, 1).astype(np.float32).max(axis=1)  # fading over 1 px


def _sobel(images: np.ndarray, axis: int) -> np.ndarray:
    """Sobel derivative along ``axis`` (1: down, 2: right), not across images (ndimage.sobel)."""
    derivative = ndimage.correlate1d(images, [-1, 0, 1], axis=axis, mode="nearest")
    return ndimage.correlate1d(derivative, [1, 2, 1], axis=3 - axis, mode="nearest")


def _thin_edges(magnitude: np.ndarray, d_rows: np.ndarray, d_cols: np.ndarray) -> np.ndarray:
    """Non-maximum suppression: keep a pixel only where its gradient is at least its two
    neighbours' along the gradient direction (rounded to 0, 45, 90 or 135 degrees)."""
    sector = np.rint((np.rad2deg(np.arctan2(d_rows, d_cols)) % 180) / 45).astype(int) % 4
    padded = np.pad(magnitude, ((0, 0), (1, 1), (1, 1)))
    keep = np.zeros(magnitude.shape, dtype=bool)
    for k, (dr, dc) in enumerate(((0, 1), (1, 1), (1, 0), (1, -1))):
        ahead = padded[:, 1 + dr : 1 + dr + SIZE, 1 + dc : 1 + dc + SIZE]
        behind = padded[:, 1 - dr : 1 - dr + SIZE, 1 - dc : 1 - dc + SIZE]
        keep |= (sector == k) & (magnitude >= ahead) & (magnitude >= behind)
    return np.where(keep, magnitude, 0.0)


@_corruption(
    "Edge image: the outlines of the strokes, in white on black, instead of the strokes.",
    1,
    [f"smoothing σ {s:g} px" for s in CANNY_SIGMA],
)
def canny_edges(x: np.ndarray, severity: int) -> np.ndarray:
    """Canny: Gaussian smoothing (:data:`CANNY_SIGMA`), Sobel gradients, 1-px thinning, hysteresis
    (:data:`CANNY_THRESHOLDS`). MNIST-C's edges (scikit-image's, severity 1) may differ by a px."""
    smooth = _blur(x, CANNY_SIGMA[severity - 1])
    d_rows, d_cols = _sobel(smooth, axis=1), _sobel(smooth, axis=2)
    thin = _thin_edges(np.hypot(d_rows, d_cols), d_rows, d_cols)
    low, high = CANNY_THRESHOLDS
    within_image = np.zeros((3, 3, 3), dtype=bool)
    within_image[1] = True  # 8-connected inside an image, never across images
    labels, _ = ndimage.label(thin > low, structure=within_image)
    strong = np.zeros(labels.max(initial=0) + 1, dtype=bool)
    strong[labels[thin > high]] = True
    strong[0] = False
    return strong[labels]


#: Each corruption's benchmark severity, name -> severity.
MNIST_C_SEVERITY = {name: c.benchmark_severity for name, c in CORRUPTIONS.items()}


def corrupt(x: np.ndarray, name: str, severity: int | None = None, seed: int = 0) -> np.ndarray:
    """Corrupt uint8 images (a batch (n, 28, 28) or one (28, 28), white ink on black) with the
    corruption ``name`` (see :data:`CORRUPTIONS`) at ``severity`` 1 to 5 (``None``: its benchmark
    severity), drawing from its own generator (seeded by ``seed`` and ``name``: the same choices
    at every severity). Returns new uint8 images of ``x``'s shape. Taught in 07."""
    entry = CORRUPTIONS[check_choice("name", name, CORRUPTIONS, hint="see corruption_table()")]
    images = check_images(x, one_image_ok=True)
    seed = check_int("seed", seed, minimum=0, hint="e.g. seed=0")
    severity = entry.benchmark_severity if severity is None else severity
    severity = check_int("severity", severity, 1, 5, hint="e.g. severity=3")
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    batch = images.reshape(-1, SIZE, SIZE).astype(np.float32) / 255
    out = entry.function(batch, severity, rng) if entry.random else entry.function(batch, severity)
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8).reshape(images.shape)


def corruption_table() -> pd.DataFrame:
    """One row per corruption: ``corruption``, ``description``, ``random`` (the seed matters),
    ``benchmark_severity``, ``severity_1`` and ``severity_5`` (what they mean). Taught in 07."""
    rows = [
        (name, c.description, c.random, c.benchmark_severity, c.severities[0], c.severities[-1])
        for name, c in CORRUPTIONS.items()
    ]
    columns = ["description", "random", "benchmark_severity", "severity_1", "severity_5"]
    return pd.DataFrame(rows, columns=["corruption", *columns])
