"""Make the sample digit images of notebook 06: printed, hand-drawn and photographed digits.

Regenerate them with ``.venv/bin/python samples/make_samples.py`` (from the course folder);
the images are written next to this script and committed. Everything is drawn here with
Pillow and NumPy from fixed seeds, with Pillow's built-in font (``ImageFont.load_default``),
so no font file, download or camera is needed and a re-run gives the same pictures.

Each file name says the true digit (``font_7.png`` is a 7) and how it was made:

* ``font_*``: the digit typed in Pillow's built-in font, at different sizes, boldness and
  slant, on pages of different sizes: grey, white, coloured (RGB) or transparent (RGBA);
* ``pen_*``: hand-drawn-looking strokes, polylines whose width varies like a pen's
  pressure, with a slight tremble, one in red ink on blue paper;
* ``photo_*``: a hand-drawn digit "photographed": uneven lighting, noise, blur, JPEG.

Taught in 06.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

SAMPLES = Path(__file__).resolve().parent
#: Drawing happens at this many times the final size, then is reduced: smooth, anti-aliased.
SUPERSAMPLE = 3

# A hand-drawn digit is a list of strokes; a stroke is a list of (x, y) points in a unit box
# (x to the right, y down). Arcs are written as (centre x, centre y, radius x, radius y,
# start degrees, end degrees) and turned into points by ``arc``.


def arc(cx, cy, rx, ry, start, end, n=60):
    """Points on an ellipse arc from ``start`` to ``end`` degrees (0 = right, 90 = down)."""
    t = np.radians(np.linspace(start, end, n))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def line(*points, n=30):
    """Points along a polyline through ``points``, ``n`` per segment."""
    parts = [
        np.linspace(a, b, n, endpoint=False) for a, b in zip(points[:-1], points[1:], strict=True)
    ]
    return np.concatenate([*parts, [points[-1]]])


def curve(p0, p1, p2, n=40):
    """Points on a quadratic Bézier curve from ``p0`` to ``p2``, pulled towards ``p1``."""
    t = np.linspace(0, 1, n)[:, None]
    p0, p1, p2 = (np.asarray(p, dtype=float) for p in (p0, p1, p2))
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


STROKES = {
    0: [arc(0.5, 0.5, 0.3, 0.45, -100, 275)],
    3: [arc(0.47, 0.28, 0.22, 0.2, 200, 450), arc(0.47, 0.71, 0.25, 0.23, -90, 160)],
    5: [
        line((0.8, 0.08), (0.3, 0.1), (0.27, 0.46)),
        arc(0.49, 0.68, 0.26, 0.25, -128, 150),
    ],
    6: [
        np.concatenate(
            [curve((0.7, 0.05), (0.28, 0.25), (0.28, 0.7)), arc(0.5, 0.72, 0.22, 0.22, 180, -175)]
        )
    ],
    7: [line((0.15, 0.1), (0.85, 0.1), (0.38, 0.96)), line((0.35, 0.52), (0.78, 0.5))],
    8: [arc(0.5, 0.26, 0.2, 0.2, 90, 450), arc(0.5, 0.71, 0.26, 0.24, -90, 270)],
}


def tremble(points, rng, amplitude):
    """Add a slow, smooth wobble (two random sine waves along the stroke) to its points.

    The waves' periods are fixed along the stroke's length, so a short stroke gets only a
    gentle bend, never a curl.
    """
    s = np.r_[0, np.cumsum(np.hypot(*np.diff(points, axis=0).T))][:, None]
    wobble = sum(
        amplitude * rng.normal(size=2) * np.sin(2 * np.pi * (k * s + rng.random()))
        for k in (0.7, 1.6)
    )
    return points + wobble


def pen_digit(digit, size, width, rng):
    """Draw ``digit`` by hand into a ``size`` (w, h) ink mask (0-255, 255 = ink).

    The pen's width varies along each stroke (pressing harder in the middle), the strokes
    tremble slightly, and each point is stamped as a disc: a felt pen on paper.
    """
    w, h = size
    big = Image.new("L", (w * SUPERSAMPLE, h * SUPERSAMPLE), 0)
    draw = ImageDraw.Draw(big)
    for stroke in STROKES[digit]:
        points = tremble(np.asarray(stroke, dtype=float), rng, amplitude=0.008)
        # resample densely so the discs overlap into a continuous line
        lengths = np.r_[0, np.cumsum(np.hypot(*np.diff(points, axis=0).T))]
        along = np.linspace(0, lengths[-1], max(2, int(lengths[-1] * max(w, h) * 2)))
        xs = np.interp(along, lengths, points[:, 0]) * w * SUPERSAMPLE
        ys = np.interp(along, lengths, points[:, 1]) * h * SUPERSAMPLE
        pressure = 0.65 + 0.35 * np.sin(np.pi * along / lengths[-1])
        radii = width * SUPERSAMPLE / 2 * pressure * (1 + 0.05 * rng.normal(size=len(along)))
        for x, y, r in zip(xs, ys, radii, strict=True):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return big.resize(size, Image.Resampling.LANCZOS)


def font_digit(digit, size, font_size, bold=0, slant=0.0):
    """Type ``digit`` in Pillow's built-in font into a ``size`` (w, h) ink mask (255 = ink).

    ``bold`` thickens the strokes by that many pixels; ``slant`` leans the digit right
    (0.25 = italic-like).
    """
    font = ImageFont.load_default(size=font_size)
    mask = Image.new("L", size, 0)
    middle = (size[0] / 2, size[1] / 2)
    ImageDraw.Draw(mask).text(
        middle, str(digit), font=font, fill=255, anchor="mm", stroke_width=bold, stroke_fill=255
    )
    if slant:
        # x_source = x + slant * (y - middle): rows below the middle shift left, above right
        matrix = (1, slant, -slant * middle[1], 0, 1, 0)
        mask = mask.transform(size, Image.Transform.AFFINE, matrix, Image.Resampling.BICUBIC)
    return mask


def place(mask, page_size, box):
    """Put ``mask`` into an empty ``page_size`` ink mask with its top-left corner at ``box``."""
    page = Image.new("L", page_size, 0)
    page.paste(mask, box)
    return page


def on_paper(ink, paper=(255, 255, 255), colour=(0, 0, 0), mode="L"):
    """Colour an ink mask: ``colour`` where the mask is 255, ``paper`` where it is 0."""
    alpha = np.asarray(ink, dtype=np.float32)[..., None] / 255.0
    rgb = (1 - alpha) * np.asarray(paper, np.float32) + alpha * np.asarray(colour, np.float32)
    image = Image.fromarray(np.round(rgb).astype(np.uint8), "RGB")
    return image.convert(mode) if mode != "RGB" else image


def photographed(ink, seed):
    """Make an ink mask look like a phone photo of paper: uneven light, noise, blur."""
    rng = np.random.default_rng(seed)
    h, w = ink.size[1], ink.size[0]
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    light = 0.9 - 0.35 * xx - 0.15 * yy  # a lamp at the top left
    light -= 0.25 * ((xx - 0.5) ** 2 + (yy - 0.4) ** 2)  # darker corners (vignetting)
    paper = light[..., None] * np.array([1.0, 0.96, 0.88])  # warm indoor light
    alpha = np.asarray(ink, dtype=np.float32)[..., None] / 255.0 * 0.85  # pencil, not jet ink
    image = paper * (1 - alpha) + rng.normal(0, 0.035, size=paper.shape)
    image = Image.fromarray(np.clip(image * 255, 0, 255).astype(np.uint8), "RGB")
    return image.filter(ImageFilter.GaussianBlur(1.2))


def make_samples(folder: Path = SAMPLES) -> list[Path]:
    """Write every sample image into ``folder``; return their paths."""
    rng = np.random.default_rng(2024)
    images = {
        # typed digits: sizes, boldness, slant, page shapes and colours
        "font_7.png": on_paper(font_digit(7, (200, 300), 170)),
        "font_2.png": on_paper(font_digit(2, (640, 480), 260, bold=6), paper=(225, 225, 225)),
        "font_3.png": on_paper(place(font_digit(3, (80, 80), 48), (640, 480), (410, 120))),
        "font_1.png": on_paper(font_digit(1, (240, 240), 180, slant=0.25)),
        "font_4.png": on_paper(
            font_digit(4, (360, 240), 200, bold=3),
            paper=(250, 232, 140),
            colour=(20, 90, 40),
            mode="RGB",
        ),
        # hand-drawn digits
        "pen_0.png": on_paper(place(pen_digit(0, (120, 180), 14, rng), (300, 300), (90, 60))),
        "pen_3.png": on_paper(place(pen_digit(3, (150, 220), 18, rng), (480, 320), (170, 50))),
        "pen_6.png": on_paper(pen_digit(6, (200, 260), 12, rng), paper=(240, 240, 235)),
        "pen_8.png": on_paper(place(pen_digit(8, (110, 170), 22, rng), (400, 240), (40, 35))),
        "pen_7.png": on_paper(
            place(pen_digit(7, (160, 220), 16, rng), (320, 320), (80, 50)),
            paper=(200, 225, 245),
            colour=(200, 30, 30),
            mode="RGB",
        ),
    }
    # a 9 on a transparent background (RGBA): where alpha is 0 there is no paper at all
    nine = font_digit(9, (220, 220), 190)
    rgba = Image.new("RGBA", nine.size, (25, 25, 80, 0))
    rgba.putalpha(nine)
    images["font_9.png"] = rgba
    # a 5 drawn with a pencil, photographed under a lamp
    images["photo_5.jpg"] = photographed(
        place(pen_digit(5, (130, 190), 13, rng), (480, 360), (190, 80)), seed=5
    )

    paths = []
    for name, image in images.items():
        path = folder / name
        if path.suffix == ".jpg":
            image.save(path, quality=80, optimize=True)
        else:
            image.save(path, optimize=True)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for path in make_samples():
        print(f"{path.name}: {path.stat().st_size / 1024:.1f} KB")
