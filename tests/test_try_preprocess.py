"""site/try/preprocess.js, the course's recipe (mnist_helpers.preprocess) written for the
browser, run in real Chromium on the very pixels Python gets: its 28x28 input must be Python's.

Strokes drawn as the pad draws them (white round pen, 1/14 of the side, on black) and every
image of samples/ decoded by Chromium go through both; the largest per-pixel difference must
be at most one grey level (it is printed, with how many pixels differ at all). Also: a blank
canvas gets Python's message, the steps have Python's sizes, Pillow's Lanczos is matched on
crops that shrink and that grow, and a 280x280 canvas goes through in about a millisecond.
The test page is written into a temporary folder here, beside a copy of the module.
"""

from __future__ import annotations

import base64
import random
import shutil
import statistics

import numpy as np
import pytest
from browsing import static_server

from mnist_helpers.canvas import drawing_to_input
from mnist_helpers.paths import project_root
from mnist_helpers.preprocess import ImageError, box_size, fit_in_box, mnist_like

ROOT = project_root()
MODULE = ROOT / "site" / "try" / "preprocess.js"
SAMPLES = sorted([*ROOT.glob("samples/*.png"), *ROOT.glob("samples/*.jpg")])
PAD = 280  # the pad's side in the Try page and in 06, in pixels
PEN = PAD / 14  # digit_pad.js's PEN_FRACTION
#: One grey level (a byte's step), and room for float32 rounding on top.
ONE_GREY_LEVEL = 1 / 255 + 1e-6
#: Strokes in fractions of the canvas's side; each inner list is one stroke (pen down, moves,
#: pen up): on the 280x280 pad with its pen, unless a case says otherwise.
DRAWINGS = {
    "a 7": [[(0.30, 0.25), (0.72, 0.25), (0.50, 0.80)]],
    "a 1 near the left edge": [[(0.06, 0.15), (0.05, 0.85)]],
    "a 1 straight down the middle": [[(0.5, 0.15), (0.5, 0.85)]],
    "a 0": [
        [(0.5, 0.2), (0.3, 0.35), (0.3, 0.65), (0.5, 0.8), (0.7, 0.65), (0.7, 0.35), (0.5, 0.2)]
    ],
    "a 4 in two strokes": [[(0.35, 0.2), (0.25, 0.55), (0.7, 0.55)], [(0.6, 0.3), (0.6, 0.85)]],
    "a single dot": [[(0.43, 0.57)]],
    "a long thin diagonal": [[(0.08, 0.9), (0.93, 0.07)]],
}
#: Small canvases and pens, where the crop is smaller than the 20x20 box and gets enlarged:
#: (strokes, side, pen width).
ENLARGED = {
    "a thin 1, 3 pixels wide": ([[(0.51, 0.35), (0.51, 0.65)]], 40, 2.0),
    "a dot 5 pixels wide": ([[(0.5, 0.5)]], 40, 5.0),
    "a small 7": ([[(0.35, 0.3), (0.6, 0.3), (0.45, 0.65)]], 40, 2.5),
}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>preprocess.js parity</title>
<link rel="icon" href="data:,"></head>
<body><div id="seen"></div>
<script type="module">
import { ImageError, fitInBox, mnistLike } from "./preprocess.js";

function base64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

function blackCanvas(side) {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = side;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.fillStyle = "black";
  context.fillRect(0, 0, side, side);
  return [canvas, context];
}

// As mnist_helpers/static/digit_pad.js draws: a dot where the pen goes down, then one
// round-capped white segment per move.
function segment(context, from, to, penWidth) {
  context.strokeStyle = "white";
  context.lineWidth = penWidth;
  context.lineCap = "round";
  context.lineJoin = "round";
  context.beginPath();
  context.moveTo(...from);
  context.lineTo(...to);
  context.stroke();
}

function draw(strokes, side, penWidth) {
  const [canvas, context] = blackCanvas(side);
  for (const stroke of strokes) {
    const points = stroke.map(([x, y]) => [x * side, y * side]);
    segment(context, points[0], points[0], penWidth);
    for (let i = 1; i < points.length; i++) segment(context, points[i - 1], points[i], penWidth);
  }
  return canvas;
}

function shape(step) {
  return [step.height, step.width];
}

// The canvas's pixels and what mnistLike makes of them (or the error it throws).
function read(canvas, label) {
  canvas.title = label;
  canvas.style.cssText = "width: 112px; height: 112px; margin: 4px; border: 1px solid #888";
  document.getElementById("seen").append(canvas);
  const { width, height } = canvas;
  const rgba = canvas.getContext("2d").getImageData(0, 0, width, height).data;
  const result = { rgba: base64(rgba), width, height };
  try {
    const { input, steps } = mnistLike(rgba, width, height, { returnSteps: true });
    result.input = Array.from(input);
    result.shapes = Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, shape(v)]));
  } catch (error) {
    const { name, message } = error;
    result.error = { name, message, isImageError: error instanceof ImageError };
  }
  return result;
}

window.parity = {
  drawn: (strokes, side, penWidth, label) => read(draw(strokes, side, penWidth), label),
  blank: () => read(blackCanvas(280)[0], "blank"),
  async decoded(url) {
    const image = new Image();
    image.src = url;
    await image.decode();
    const canvas = document.createElement("canvas"); // transparent: alpha is kept
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    canvas.getContext("2d", { willReadFrequently: true }).drawImage(image, 0, 0);
    return read(canvas, url);
  },
  fit(cases) {
    return cases.map(({ ink, width, height }) => {
      const pixels = new Float32Array(Uint8Array.from(atob(ink), (c) => c.charCodeAt(0)).buffer);
      const box = fitInBox(pixels, width, height);
      return { pixels: Array.from(box.pixels), width: box.width, height: box.height };
    });
  },
  // Milliseconds per mnistLike call on a drawn 280x280 canvas: `runs` timings, each the mean
  // of `calls` calls (performance.now() is coarse in a page that is not cross-origin isolated).
  timings(strokes, runs, calls) {
    const canvas = draw(strokes, 280, 20);
    const rgba = canvas.getContext("2d").getImageData(0, 0, 280, 280).data;
    for (let i = 0; i < 20; i++) mnistLike(rgba, 280, 280); // warm up the compiler
    const times = [];
    for (let run = 0; run < runs; run++) {
      const start = performance.now();
      for (let i = 0; i < calls; i++) mnistLike(rgba, 280, 280);
      times.push((performance.now() - start) / calls);
    }
    return times;
  },
};
window.ready = true;
</script></body></html>
"""

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A static server's URL for a folder holding a copy of preprocess.js, the test page
    (parity.html) and the samples."""
    folder = tmp_path_factory.mktemp("try_preprocess")
    shutil.copy(MODULE, folder / "preprocess.js")
    (folder / "parity.html").write_text(PAGE)
    for sample in SAMPLES:
        shutil.copy(sample, folder / sample.name)
    with static_server(folder) as url:
        yield url


@pytest.fixture
def parity(page, served):
    """The test page, open, its module loaded."""
    page.goto(f"{served}/parity.html")
    page.wait_for_function("() => window.ready === true", timeout=30_000)
    yield page
    assert page.errors == [], page.errors


def _pixels(result: dict) -> np.ndarray:
    """The canvas's RGBA bytes, (h, w, 4), as Chromium gave them."""
    data = np.frombuffer(base64.b64decode(result["rgba"]), dtype=np.uint8)
    return data.reshape(result["height"], result["width"], 4)


def _compare(name: str, result: dict, python: np.ndarray) -> tuple[float, int]:
    """The JavaScript input against Python's: (largest difference in grey levels, how many
    pixels differ at all); fails beyond one grey level."""
    assert "error" not in result, f"{name}: preprocess.js threw {result['error']}"
    javascript = np.array(result["input"], dtype=np.float32).reshape(28, 28)
    difference = np.abs(javascript - python.reshape(28, 28))
    largest, differing = float(difference.max()), int((difference > 0).sum())
    print(
        f"  {name}: largest difference {largest * 255:.2f} grey levels, {differing} pixels differ"
    )
    assert largest <= ONE_GREY_LEVEL, (
        f"{name}: preprocess.js's input differs from Python's by {largest * 255:.2f} grey "
        f"levels at most (allowed: 1), in {differing} of 784 pixels"
    )
    return largest, differing


def _scribbles(count: int, seed: int = 28) -> dict:
    """``count`` random drawings of one to three strokes, two to seven points each."""
    rng = random.Random(seed)
    return {
        f"scribble {i}": [
            [(rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9)) for _ in range(rng.randint(2, 7))]
            for _ in range(rng.randint(1, 3))
        ]
        for i in range(count)
    }


def test_drawn_strokes_give_pythons_input(parity, screenshots):
    cases = [(name, strokes, PAD, PEN) for name, strokes in DRAWINGS.items()]
    cases += [(name, strokes, PAD, PEN) for name, strokes in _scribbles(10).items()]
    cases += [(name, *case) for name, case in ENLARGED.items()]
    worst, differing = 0.0, 0
    print(f"\n{len(cases)} drawings, preprocess.js against drawing_to_input:")
    for name, strokes, side, pen in cases:
        result = parity.evaluate("a => parity.drawn(...a)", [strokes, side, pen, name])
        largest, count = _compare(name, result, drawing_to_input(_pixels(result)))
        worst, differing = max(worst, largest), differing + count
    parity.screenshot(path=screenshots / "drawings.png", full_page=True)
    print(
        f"drawings: largest difference {worst * 255:.2f} grey levels; {differing} pixels differ "
        f"in all ({len(cases)} x 784 compared)"
    )
    thin = parity.evaluate("a => parity.drawn(...a)", [*ENLARGED["a thin 1, 3 pixels wide"], ""])
    (crop_height, crop_width), (box_height, box_width) = (
        thin["shapes"]["cropped"],
        thin["shapes"]["20x20 box"],
    )
    assert crop_width <= 4 and crop_height < box_height and crop_width < box_width, (
        f"the thin 1 should be a few pixels wide and enlarged into the box: {thin['shapes']}"
    )


def test_samples_decoded_by_chromium_give_pythons_input(parity, screenshots):
    assert len(SAMPLES) >= 12, f"samples/ holds fewer images than it should: {SAMPLES}"
    worst, differing = 0.0, 0
    print(f"\n{len(SAMPLES)} samples decoded by Chromium, preprocess.js against mnist_like:")
    for sample in SAMPLES:
        result = parity.evaluate("url => parity.decoded(url)", sample.name)
        largest, count = _compare(sample.name, result, mnist_like(_pixels(result)))
        worst, differing = max(worst, largest), differing + count
    parity.screenshot(path=screenshots / "samples.png", full_page=True)
    print(f"samples: largest difference {worst * 255:.2f} grey levels; {differing} pixels differ")


def test_a_blank_canvas_gets_pythons_message_and_the_steps_pythons_sizes(parity):
    blank = parity.evaluate("() => parity.blank()")
    with pytest.raises(ImageError) as python:
        drawing_to_input(_pixels(blank))
    assert blank.get("error") == {
        "name": "ImageError",
        "message": str(python.value),
        "isImageError": True,
    }, blank.get("error")
    for name in ("a 7", "a 1 near the left edge", "a single dot"):
        result = parity.evaluate("a => parity.drawn(...a)", [DRAWINGS[name], PAD, PEN, name])
        _, steps = mnist_like(_pixels(result), return_steps=True)
        for step in ("grayscale", "cropped", "20x20 box", "28x28 centred"):
            assert result["shapes"][step] == list(steps[step].shape[:2]), (
                f"{name}, step {step!r}: preprocess.js {result['shapes'][step]}, "
                f"Python {list(steps[step].shape)}"
            )


def _resize_kind(height: int, width: int) -> str:
    """How Pillow 13 scales a crop into its box: which pass goes first, or the only one, or
    none; or enlarged."""
    box_height, box_width = box_size(height, width)
    if (box_height, box_width) == (height, width):
        return "kept"
    if box_height > height or box_width > width:
        return "enlarged"
    if box_height == height or box_width == width:
        return "rows only" if box_height == height else "columns only"
    return "columns first" if height - box_height > 2 * (width - box_width) else "rows first"


def test_fit_in_box_is_pillows_lanczos_shrinking_and_enlarging(parity):
    """Crops of every kind of shape (tall, wide, tiny, large; both of Pillow's pass orders)
    scaled into the box: the very bytes Pillow gives."""
    rng = np.random.default_rng(6)
    shapes = [(60, 1), (1, 60), (20, 7), (5, 5), (18, 3), (280, 20), (20, 280)]
    shapes += [tuple(rng.integers(1, 12 if i % 3 else 150, size=2)) for i in range(120)]
    crops = []
    for height, width in shapes:
        ink = rng.random((height, width), dtype=np.float32)
        ink[ink < rng.uniform(0, 0.9)] = 0  # some black, as around strokes
        crops.append(ink)
    cases = [
        {
            "ink": base64.b64encode(ink.tobytes()).decode(),
            "width": ink.shape[1],
            "height": ink.shape[0],
        }
        for ink in crops
    ]
    kinds = {_resize_kind(*ink.shape) for ink in crops}
    assert kinds == {
        "rows first",
        "columns first",
        "rows only",
        "columns only",
        "enlarged",
        "kept",
    }, kinds
    boxes = parity.evaluate("cases => parity.fit(cases)", cases)
    for ink, box in zip(crops, boxes, strict=True):
        python = fit_in_box(ink)
        javascript = np.array(box["pixels"], dtype=np.float32).reshape(box["height"], box["width"])
        assert javascript.shape == python.shape, (
            f"{ink.shape}: {javascript.shape} vs {python.shape}"
        )
        wrong = int((javascript != python).sum())
        assert wrong == 0, f"a {ink.shape} crop: {wrong} of {python.size} box pixels differ"


def test_a_280_pixel_canvas_takes_about_a_millisecond(parity):
    times = parity.evaluate("a => parity.timings(...a)", [DRAWINGS["a 7"], 50, 10])
    median = statistics.median(times)
    print(
        f"\nmnistLike on a 280x280 canvas (a 7): median {median:.2f} ms over 50 runs of 10 calls "
        f"(fastest {min(times):.2f} ms, slowest {max(times):.2f} ms)"
    )
    assert median < 20, f"mnistLike took {median:.1f} ms (median) on a 280x280 canvas"
