"""Draw the digits of ``samples/drawn/`` on the website's Try page, as a learner would.

Notebook 06 fine-tunes the model on drawings made with the Try page's pad (site/try.md) and
downloaded with its *Download the kept drawings* button. This script makes the course's own
example set that way: it opens the built page in Chromium, draws each digit with the mouse,
stroke by stroke, labels it, keeps it, downloads the zip and unpacks it into ``samples/drawn/``
(``drawn_001_7.png`` is a 7).

The hand is a script's: each digit is drawn from one of two stroke templates per digit
(:data:`TEMPLATES`: one a style MNIST has few of, one a usual style), bent by a seeded random
slant, size, place and tremble, so a re-run draws the same digits. Needs the built site
(``make site``) and Debian's Chromium::

    .venv/bin/python samples/draw_samples.py            # 6 drawings of each digit
"""

from __future__ import annotations

import argparse
import io
import math
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from browsing import chromium_path, draw_stroke, static_server  # noqa: E402

OUT = ROOT / "samples" / "drawn"
HTML = ROOT / "site" / "_build" / "html"


def arc(cx, cy, rx, ry, start, end, n=14):
    """Points on an ellipse arc from ``start`` to ``end`` degrees (0 = right, 90 = down)."""
    return [
        (cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
        for a in np.linspace(start, end, n)
    ]


#: Two styles of each digit, each a list of strokes, each stroke a list of (x, y) in a unit
#: box. The first is a style MNIST has few of (a slashed zero, a 2 with a bar, a closed 4, a
#: crossed 7, a snowman 8, ...), the second a usual one; this hand writes its 1 with a long
#: flag, with or without a foot, as many people taught in continental Europe do.
TEMPLATES = {
    0: [
        [arc(0.5, 0.5, 0.26, 0.4, -90, 275), [(0.25, 0.85), (0.75, 0.15)]],
        [arc(0.5, 0.5, 0.28, 0.4, -90, 275)],
    ],
    1: [
        [[(0.12, 0.5), (0.6, 0.06), (0.6, 0.94)]],
        [[(0.12, 0.5), (0.6, 0.06), (0.6, 0.94)], [(0.4, 0.94), (0.8, 0.94)]],
    ],
    2: [
        [
            arc(0.5, 0.3, 0.26, 0.2, 180, 400) + [(0.22, 0.9)],
            [(0.22, 0.9), (0.8, 0.9)],
            [(0.35, 0.62), (0.65, 0.62)],
        ],
        [arc(0.5, 0.32, 0.25, 0.22, 200, 360) + [(0.25, 0.88), (0.78, 0.88)]],
    ],
    3: [
        [arc(0.45, 0.28, 0.25, 0.18, 180, 440) + arc(0.45, 0.68, 0.3, 0.22, -90, 180)],
        [arc(0.48, 0.3, 0.22, 0.2, 200, 450) + arc(0.48, 0.69, 0.25, 0.21, -90, 160)],
    ],
    4: [
        [[(0.7, 0.62), (0.15, 0.62), (0.55, 0.08), (0.55, 0.92)]],
        [[(0.3, 0.1), (0.25, 0.55), (0.78, 0.55)], [(0.65, 0.2), (0.62, 0.92)]],
    ],
    5: [
        [[(0.75, 0.1), (0.3, 0.1), (0.3, 0.45)] + arc(0.45, 0.66, 0.3, 0.24, -110, 170)],
        [[(0.3, 0.12), (0.27, 0.45)] + arc(0.48, 0.65, 0.24, 0.22, -120, 150)]
        + [[(0.3, 0.12), (0.75, 0.1)]],
    ],
    6: [
        [arc(0.5, 0.68, 0.24, 0.22, 0, 360), [(0.26, 0.68), (0.3, 0.35), (0.55, 0.08)]],
        [[(0.66, 0.1), (0.35, 0.45)] + arc(0.5, 0.68, 0.22, 0.22, 200, 560)],
    ],
    7: [
        [
            [(0.2, 0.3), (0.25, 0.12), (0.8, 0.12), (0.55, 0.5), (0.5, 0.92)],
            [(0.35, 0.5), (0.75, 0.5)],
        ],
        [[(0.25, 0.25), (0.3, 0.15), (0.78, 0.15), (0.5, 0.9)]],
    ],
    8: [
        [arc(0.5, 0.28, 0.18, 0.18, 90, 450), arc(0.5, 0.7, 0.25, 0.22, -90, 270)],
        [arc(0.5, 0.3, 0.2, 0.19, 0, 360) + arc(0.5, 0.69, 0.24, 0.21, -90, 270)],
    ],
    9: [
        [
            arc(0.5, 0.3, 0.24, 0.2, 0, 360),
            [(0.74, 0.3), (0.72, 0.75)] + arc(0.5, 0.75, 0.22, 0.16, 0, 150),
        ],
        [arc(0.5, 0.32, 0.22, 0.21, 0, 360) + [(0.72, 0.32), (0.7, 0.9)]],
    ],
}


def jittered(strokes, rng: np.random.Generator):
    """``strokes`` slanted, resized, moved and trembling a little, kept inside the pad."""
    slant = rng.uniform(-0.25, 0.2)
    angle = math.radians(rng.uniform(-8, 8))
    scale = rng.uniform(0.55, 0.9)
    dx, dy = rng.uniform(-0.12, 0.12, size=2)
    out = []
    for stroke in strokes:
        points = []
        for x, y in stroke:
            x, y = x - 0.5 + slant * (0.5 - y), y - 0.5
            x, y = (
                x * math.cos(angle) - y * math.sin(angle),
                x * math.sin(angle) + y * math.cos(angle),
            )
            x, y = 0.5 + dx + scale * x, 0.5 + dy + scale * y
            x, y = x + rng.normal(0, 0.006), y + rng.normal(0, 0.006)
            points.append((min(max(x, 0.03), 0.97), min(max(y, 0.03), 0.97)))
        out.append(points)
    return out


def draw(page, strokes) -> None:
    """Draw ``strokes`` on the page's pad with the mouse and wait for its reading."""
    box = page.locator("#try-canvas").bounding_box()
    for stroke in strokes:
        before = page.evaluate("() => window.tryModel.state.reads")
        draw_stroke(page, box, stroke, steps=4)
        page.wait_for_function(f"() => window.tryModel.state.reads > {before}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-digit", type=int, default=6, help="drawings of each digit")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    if not (HTML / "site" / "try.html").is_file():
        print(f"no built site at {HTML}: run `make site` first", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    order = [(digit, i) for i in range(args.per_digit) for digit in range(10)]
    with static_server(HTML) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        page.goto(f"{url}/site/try.html")
        page.wait_for_function("() => window.tryModel")
        page.evaluate("() => window.tryModel.ready")
        for digit, i in order:
            page.click("#try-clear")
            styles = TEMPLATES[digit]
            draw(page, jittered(styles[i % len(styles)], rng))
            page.select_option("#try-label", str(digit))
            page.click("#try-keep")
        with page.expect_download() as download:
            page.click("#try-download")
        archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
        browser.close()
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    archive.extractall(OUT)
    print(f"{len(archive.namelist())} drawings in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
