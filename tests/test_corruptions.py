"""Tests of the corruptions (mnist_helpers.corruptions) on hand-made 28x28 'digits': each does
what its docstring promises."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mnist_helpers.corruptions import (
    CORRUPTIONS,
    FOG,
    GLASS_BLUR,
    MNIST_C_SEVERITY,
    ROTATE_RADIANS,
    SCALE,
    SHEAR,
    SHOT_NOISE_PHOTONS,
    SPATTER_COVERAGE,
    TRANSLATE_PIXELS,
    corrupt,
    corruption_table,
)

NAMES = list(CORRUPTIONS)
RANDOM = {name for name, c in CORRUPTIONS.items() if c.random}
AFFINE = ["rotate", "shear", "scale", "translate"]


def make_digits() -> np.ndarray:
    """Eight white-on-black uint8 images: strokes, a ring and filled shapes, with grey edges."""
    rows, cols = np.indices((28, 28))
    images = np.zeros((8, 28, 28), dtype=np.uint8)
    images[0, 5:23, 12:15] = 255  # a "1": an upright bar
    images[1, 6:9, 7:21] = 255  # a "7": a top bar ...
    images[1, 6:23, 18:21] = 255  # ... and a right-hand stroke
    images[2][np.abs(np.hypot(rows - 13.5, cols - 13.5) - 7) < 1.5] = 255  # a "0": a ring
    images[3, 5:15, 8:11] = 255  # a "4"
    images[3, 12:15, 8:21] = 255
    images[3, 5:23, 17:20] = 255
    images[4][(rows - 12) ** 2 / 36 + (cols - 14) ** 2 / 16 <= 1] = 200  # a filled oval
    images[5, 8:20, 9:19] = 255  # a filled rectangle
    images[6][(np.abs(rows - cols) <= 1) & (rows > 4) & (rows < 23)] = 255  # a diagonal
    images[7, 5:23, 8:11] = 255  # an "L"
    images[7, 20:23, 8:20] = 255
    grey_edges = (images == 0) & (np.roll(images, 1, axis=2) > 0)
    images[grey_edges] = 90  # MNIST's strokes are anti-aliased
    return images


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return make_digits()


def mean_change(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(float) - b.astype(float))))


def tilt(image: np.ndarray) -> float:
    """Angle (radians) of the ink's long axis from upright, from its second moments."""
    weight = image.astype(float) / image.sum()
    rows, cols = np.indices(image.shape)
    dr = rows - (weight * rows).sum()
    dc = cols - (weight * cols).sum()
    rr, cc, rc = (weight * dr * dr).sum(), (weight * dc * dc).sum(), (weight * dr * dc).sum()
    return 0.5 * np.arctan2(2 * rc, rr - cc)


def centre_of_mass(image: np.ndarray) -> np.ndarray:
    rows, cols = np.indices(image.shape)
    return np.array([(image * rows).sum(), (image * cols).sum()]) / image.sum()


# --------------------------------------------------------------------------- every corruption


@pytest.mark.parametrize("severity", [1, 3, 5])
@pytest.mark.parametrize("name", NAMES)
def test_corruption_returns_new_changed_uint8_images(digits, name, severity):
    before = digits.copy()
    out = corrupt(digits, name, severity, seed=0)
    assert out.shape == digits.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(digits, before)  # the input is not modified
    assert not np.shares_memory(out, digits)
    changed = np.any(out != digits, axis=(1, 2))
    if name == "spatter" and severity == 1:  # a few large blobs: an image may escape them
        assert changed.sum() >= len(digits) // 2
    else:
        assert changed.all(), f"{name} left images {np.flatnonzero(~changed)} unchanged"
    assert mean_change(out, digits) > 1.0


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_gives_the_same_images(digits, name):
    for severity in (MNIST_C_SEVERITY[name], 5):
        first = corrupt(digits, name, severity, seed=7)
        np.testing.assert_array_equal(first, corrupt(digits, name, severity, seed=7))


@pytest.mark.parametrize("name", NAMES)
def test_only_the_random_corruptions_depend_on_the_seed(digits, name):
    many = np.tile(digits, (4, 1, 1))  # 32 images: two seeds cannot turn them all alike
    first, second = corrupt(many, name, 3, seed=0), corrupt(many, name, 3, seed=1)
    if name in RANDOM:
        assert np.any(first != second), f"{name} is marked random but ignores the seed"
    else:
        np.testing.assert_array_equal(first, second)


def test_each_corruption_draws_its_own_random_numbers(digits):
    """rotate and shear both draw a direction per image first: from one shared generator they
    would turn every image the same way; from their own, about half agree."""
    bars = np.repeat(digits[[0]], 64, axis=0)
    turned = [np.sign(tilt(image)) for image in corrupt(bars, "rotate", 3, seed=0)]
    slanted = [np.sign(tilt(image)) for image in corrupt(bars, "shear", 3, seed=0)]
    assert 0.2 < np.mean(np.equal(turned, slanted)) < 0.8


def test_importing_the_module_does_not_wake_keras():
    code = "import sys, mnist_helpers.corruptions; print('keras' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["False"], result.stderr


def test_there_are_fifteen_corruptions_each_with_a_benchmark_severity():
    assert len(CORRUPTIONS) == 15
    assert list(MNIST_C_SEVERITY) == NAMES
    assert all(s in range(1, 6) for s in MNIST_C_SEVERITY.values())
    assert RANDOM < set(NAMES)


@pytest.mark.parametrize("name", ["scale", "brightness", "stripe", "canny_edges"])
def test_an_image_is_corrupted_the_same_whatever_else_is_in_the_batch(digits, name):
    blank = np.zeros((1, 28, 28), dtype=np.uint8)
    batch = np.concatenate([digits[:3], blank, digits[3:]])
    together = corrupt(batch, name, 3)
    alone = np.stack([corrupt(image, name, 3) for image in batch])
    np.testing.assert_array_equal(together, alone)


def test_one_image_is_accepted_and_keeps_its_shape(digits):
    out = corrupt(digits[0], "rotate", 4, seed=3)
    assert out.shape == (28, 28) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, corrupt(digits[:1], "rotate", 4, seed=3)[0])


def test_no_severity_means_the_benchmark_severity(digits):
    for name in ("rotate", "brightness", "stripe"):
        expected = corrupt(digits, name, MNIST_C_SEVERITY[name], seed=2)
        np.testing.assert_array_equal(corrupt(digits, name, seed=2), expected)


# --------------------------------------------------------------------------- what severities mean


@pytest.mark.parametrize("name", AFFINE)
def test_higher_affine_severity_changes_the_image_more(digits, name):
    changes = [mean_change(corrupt(digits, name, s, seed=0), digits) for s in range(1, 6)]
    assert all(a < b for a, b in zip(changes, changes[1:], strict=False)), changes


def test_rotate_turns_the_digit_by_the_documented_angle(digits):
    bar = digits[[0]]
    for severity, angle in zip(range(1, 6), ROTATE_RADIANS, strict=True):
        turned = corrupt(bar, "rotate", severity, seed=0)[0]
        assert abs(tilt(turned)) == pytest.approx(angle, abs=0.03)


def test_the_same_seed_turns_each_digit_the_same_way_at_every_severity(digits):
    signs = [np.sign(tilt(corrupt(digits[[0]], "rotate", s, seed=4)[0])) for s in range(1, 6)]
    assert len(set(signs)) == 1


def test_shear_slants_an_upright_bar_by_the_documented_slope(digits):
    for severity, slope in zip(range(1, 6), SHEAR, strict=True):
        slanted = corrupt(digits[[0]], "shear", severity, seed=0)[0]
        assert abs(tilt(slanted)) == pytest.approx(np.arctan(slope), abs=0.03)


def test_translate_moves_each_digit_diagonally_by_whole_pixels(digits):
    rectangle = digits[[5]]
    for severity, pixels in zip(range(1, 6), TRANSLATE_PIXELS, strict=True):
        moved = corrupt(rectangle, "translate", severity, seed=0)[0]
        step = centre_of_mass(moved) - centre_of_mass(rectangle[0])
        np.testing.assert_allclose(np.abs(step), [pixels, pixels], atol=1e-9)
        assert moved.sum() == rectangle.sum()  # nothing lost, nothing interpolated


def test_scale_shrinks_the_ink_area_by_the_documented_factor(digits):
    rectangle = digits[[5]].astype(float)
    for severity, size in zip(range(1, 6), SCALE, strict=True):
        shrunk = corrupt(digits[[5]], "scale", severity)[0].astype(float)
        assert shrunk.sum() / rectangle.sum() == pytest.approx(size**2, rel=0.1)
        np.testing.assert_allclose(centre_of_mass(shrunk), centre_of_mass(rectangle[0]), atol=0.3)


def test_brightness_lifts_the_background_and_clips_the_ink(digits):
    backgrounds = []
    for severity in range(1, 6):
        out = corrupt(digits, "brightness", severity)
        lifted = np.unique(out[digits == 0])
        assert len(lifted) == 1  # one uniform change of the whole background
        backgrounds.append(int(lifted[0]))
        assert np.all(out[digits == 255] == 255)  # clipped at white, not wrapped around
    assert backgrounds == [26, 51, 77, 102, 128]


def test_stripe_inverts_bands_at_both_edges(digits):
    out = corrupt(digits, "stripe", 3)  # MNIST-C's 7-px bands
    np.testing.assert_array_equal(out[:, :, :7], 255 - digits[:, :, :7])
    np.testing.assert_array_equal(out[:, :, 21:], 255 - digits[:, :, 21:])
    np.testing.assert_array_equal(out[:, :, 7:21], digits[:, :, 7:21])


def test_canny_edges_outline_a_filled_shape(digits):
    edges = corrupt(digits[[5]], "canny_edges", 1)[0]  # rectangle: rows 8-19, columns 9-18
    assert set(np.unique(edges)) == {0, 255}
    assert edges[12:16, 12:16].max() == 0  # nothing inside
    assert edges[:4].max() == 0 and edges[24:].max() == 0  # nothing far outside
    for row in (11, 14, 17):  # each side is found, within a pixel of the true edge
        assert edges[row, 7:11].max() == 255 and edges[row, 17:21].max() == 255
    assert np.count_nonzero(edges[14]) <= 4  # thin edges, not a filled band


def test_canny_edges_find_no_false_edges_at_the_image_border(digits):
    edges = corrupt(digits, "canny_edges", 5)  # the strongest smoothing reaches the border
    assert edges.max() == 255
    for border in (edges[:, 0], edges[:, -1], edges[:, :, 0], edges[:, :, -1]):
        assert border.max() == 0


def test_impulse_noise_hits_the_documented_share_of_pixels():
    blank = np.zeros((200, 28, 28), dtype=np.uint8)
    for severity, amount in zip(range(1, 6), (0.03, 0.06, 0.09, 0.17, 0.27), strict=True):
        out = corrupt(blank, "impulse_noise", severity)
        assert np.mean(out == 255) == pytest.approx(amount / 2, abs=0.005)


def test_spatter_covers_the_documented_share_of_the_image():
    blank = np.zeros((1000, 28, 28), dtype=np.uint8)
    for severity, coverage in zip(range(1, 6), SPATTER_COVERAGE, strict=True):
        out = corrupt(blank, "spatter", severity)
        assert np.mean(out > 0) == pytest.approx(coverage, abs=0.02)


def test_shot_noise_keeps_each_pixel_on_average_and_its_spread_grows_as_photons_fall():
    grey = np.full((200, 28, 28), 51, dtype=np.uint8)  # 20 % of white
    grey[:, :, :4] = 0
    spreads = []
    for severity, photons in zip(range(1, 6), SHOT_NOISE_PHOTONS, strict=True):
        out = corrupt(grey, "shot_noise", severity).astype(float)
        assert out[:, :, :4].max() == 0  # black stays black
        lit = out[:, :, 4:]
        assert lit.mean() == pytest.approx(51, rel=0.03)
        # a Poisson count of 0.2 * photons, divided by photons: its spread is sqrt(0.2 / photons)
        assert lit.std() == pytest.approx(255 * np.sqrt(0.2 / photons), rel=0.05)
        spreads.append(lit.std())
    assert spreads == sorted(spreads)


def test_glass_blur_moves_ink_a_few_random_pixels_and_keeps_it():
    constant = np.full((4, 28, 28), 128, dtype=np.uint8)
    bar = np.zeros((50, 28, 28), dtype=np.uint8)
    bar[:, :, 12:16] = 255  # top to bottom: a blur alone would leave every row alike
    for severity, (sigma, jump, rounds) in zip(range(1, 6), GLASS_BLUR, strict=True):
        # blurring and moving pixels of an even grey neither makes nor loses any
        np.testing.assert_array_equal(corrupt(constant, "glass_blur", severity), constant)
        out = corrupt(bar, "glass_blur", severity)
        assert int(out.sum()) == pytest.approx(int(bar.sum()), rel=0.02)  # copied, not lost
        reach = 2 * int(4 * sigma + 0.5) + jump * rounds  # two blurs (cut at 4 sigma), the jumps
        columns = np.flatnonzero(out.max(axis=(0, 1)))
        assert columns.min() >= 12 - reach and columns.max() <= 15 + reach
        assert all(len(np.unique(image, axis=0)) > 1 for image in out)  # random, pixel by pixel


def test_motion_blur_smears_a_dot_into_a_thin_trail_that_grows_with_severity():
    dot = np.zeros((40, 28, 28), dtype=np.uint8)
    dot[:, 13:15, 24:26] = 255
    rows, cols = np.indices((28, 28))
    lengths = []
    for severity in range(1, 6):
        out = corrupt(dot, "motion_blur", severity, seed=1).astype(float)
        assert out[:, :, 26:].max() == 0  # a pixel takes the ink *ahead*: the trail is one-sided
        if severity <= 3:  # the trail fits in the image: no ink is lost
            np.testing.assert_allclose(out.sum(axis=(1, 2)), dot[0].sum(), rtol=0.03)
        distances = []
        for image in out:
            weight = image / image.sum()
            dr, dc = rows - (weight * rows).sum(), cols - (weight * cols).sum()
            cov = [
                [(weight * dr * dr).sum(), (weight * dr * dc).sum()],
                [0, (weight * dc * dc).sum()],
            ]
            cov[1][0] = cov[0][1]
            spread, axes = np.linalg.eigh(cov)
            assert spread[0] < 0.15 * spread[1]  # along one line, not a round blob
            along = axes[:, 1]  # within 45 degrees of horizontal (rounded to whole pixels)
            assert abs(along[0]) <= abs(along[1]) + 0.05
            distances.append((weight * np.hypot(rows - 13.5, cols - 24.5)).sum())
        lengths.append(np.mean(distances))
    assert lengths == sorted(lengths) and lengths[-1] > 3 * lengths[0]


def test_fog_dims_the_ink_and_fills_the_rest_with_a_smooth_cloud():
    block = np.zeros((100, 28, 28), dtype=np.uint8)
    block[:, 10:18, 10:18] = 255
    ink = block[0] > 0
    grain = []
    for severity, (strength, _) in zip(range(1, 6), FOG, strict=True):
        out = corrupt(block, "fog", severity).astype(float)
        # (image + strength * cloud) * m / (m + strength), cloud in [0, 1], m = 1 here
        assert out[:, ink].min() >= np.floor(255 / (1 + strength))
        assert out[:, ~ink].max() <= np.ceil(255 * strength / (1 + strength))
        assert out[:, ~ink].mean() > 50  # the background is fogged
        contrast = out[:, ink].mean() - out[:, ~ink].mean()  # falls as the strength grows
        assert contrast == pytest.approx(255 / (1 + strength), rel=0.05)
        cloud = out[:, :8]  # the rows above the block: fog only
        grain.append(np.abs(np.diff(cloud, axis=2)).mean() / cloud.std(axis=(1, 2)).mean())
    assert grain[0] < 0.3  # smooth: neighbours alike (white noise: about 1.1)
    assert grain[0] <= grain[2] < grain[4]  # finer fog at higher severities


def centre_rows(image: np.ndarray, columns) -> np.ndarray:
    """The ink-weighted mean row of each of ``columns``."""
    ink = image[:, columns].astype(float)
    return (ink * np.arange(28)[:, None]).sum(axis=0) / ink.sum(axis=0)


def straightness(image: np.ndarray, columns) -> np.ndarray:
    """How far each column's ink centre is from the straight line fitted through them all."""
    centres = centre_rows(image, columns)
    return centres - np.polyval(np.polyfit(columns, centres, 1), columns)


@pytest.mark.parametrize("name", ["dotted_line", "zigzag"])
def test_lines_add_ink_and_each_severity_adds_a_line_to_the_last(digits, name):
    previous = digits
    for severity in range(1, 6):
        out = corrupt(digits, name, severity, seed=5)
        assert np.all(out >= previous)  # ink added, never removed: the same lines and one more
        assert (out > previous).sum() > 50
        previous = out


def test_dotted_lines_are_straight_3_px_wide_and_dashed_from_edge_to_edge():
    blank = np.zeros((40, 28, 28), dtype=np.uint8)
    dashes = (np.arange(28) // 2) % 2 == 1  # columns 2-3, 6-7, ..., 26-27
    for severity in range(1, 6):
        out = corrupt(blank, "dotted_line", severity, seed=5)
        assert out[:, :, ~dashes].max() == 0
        assert (out[:, :, dashes].max(axis=1) > 0).all()  # every dash of every image is drawn
    columns = np.flatnonzero(dashes)
    for image in corrupt(blank, "dotted_line", 1, seed=5):
        assert np.abs(straightness(image, columns)).max() < 0.5
        assert 2 <= (image[:, columns] > 0).sum(axis=0).max() <= 4


def test_zigzags_go_4_px_up_and_down_from_column_2_to_25():
    blank = np.zeros((60, 28, 28), dtype=np.uint8)
    out = corrupt(blank, "zigzag", 5, seed=5)
    assert out[:, :, :2].max() == 0 and out[:, :, 26:].max() == 0
    assert (out[:, :, 2:26].max(axis=1) > 0).all()
    columns = np.arange(2, 26)
    inside = [  # the zigzags that no image edge cuts
        image
        for image in corrupt(blank, "zigzag", 1, seed=5)
        if image[[0, -1]].max() == 0 and (image[:, columns].max(axis=0) > 0).all()
    ]
    assert len(inside) >= 20
    for image in inside:
        wave = straightness(image, columns)
        assert 3 <= wave.max() - wave.min() <= 5  # peak to trough: 2 px each way
        assert 4 <= np.count_nonzero(np.diff(np.sign(np.diff(wave)))) <= 10  # turns every 4 px


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "blur"}, r"name must be one of \['shot_noise', .*'canny_edges'\], got 'blur'"),
        ({"name": "Rotate"}, "got 'Rotate'"),
        ({"severity": 0}, "severity must be an integer from 1 to 5, got 0"),
        ({"severity": 6}, "severity must be an integer from 1 to 5, got 6"),
        ({"severity": 2.5}, r"severity must be an integer from 1 to 5, got 2\.5"),
        ({"severity": "3"}, "severity must be an integer from 1 to 5, got '3'"),
        ({"severity": True}, "severity must be an integer from 1 to 5, got True"),
        ({"seed": -1}, "seed must be an integer >= 0, got -1"),
        ({"seed": 1.5}, r"seed must be an integer >= 0, got 1\.5"),
    ],
)
def test_bad_arguments_are_refused_with_the_offending_value(digits, kwargs, message):
    arguments = {"x": digits, "name": "rotate", **kwargs}
    with pytest.raises(ValueError, match=message):
        corrupt(**arguments)


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((4, 28, 28), dtype=np.float32), "uint8 pixels 0-255.*got dtype float32"),
        (np.zeros((4, 28, 28), dtype=np.int64), "got dtype int64"),
        (np.zeros((4, 28, 28, 1), dtype=np.uint8), r"got shape \(4, 28, 28, 1\).*x\[\.\.\., 0\]"),
        (np.zeros((4, 32, 32), dtype=np.uint8), r"got shape \(4, 32, 32\)"),
        (np.zeros((28,), dtype=np.uint8), r"got shape \(28,\)"),
    ],
)
def test_images_of_the_wrong_type_or_shape_are_refused(images, message):
    with pytest.raises(ValueError, match=message):
        corrupt(images, "rotate")


# --------------------------------------------------------------------------- the table


def test_corruption_table_has_one_documented_row_per_corruption():
    table = corruption_table()
    assert list(table.columns) == [
        "corruption",
        "description",
        "random",
        "benchmark_severity",
        "severity_1",
        "severity_5",
    ]
    assert table["corruption"].tolist() == NAMES
    assert table["benchmark_severity"].tolist() == [MNIST_C_SEVERITY[n] for n in NAMES]
    assert table["random"].tolist() == [n in RANDOM for n in NAMES]
    assert all(d.endswith(".") and len(d) > 20 for d in table["description"])
    assert (table["severity_1"] != table["severity_5"]).all()
    rotate_row = table.set_index("corruption").loc["rotate"]
    assert (rotate_row["severity_1"], rotate_row["severity_5"]) == ("11°", "57°")
