"""Tests of the corruption suite (mnist_helpers.shift) on hand-made 28x28 'digits'."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mnist_helpers.shift import (
    CORRUPTIONS,
    MNIST_C_SEVERITY,
    RANDOM_CORRUPTIONS,
    ROTATE_RADIANS,
    SCALE,
    SHEAR,
    SPATTER_COVERAGE,
    TRANSLATE_PIXELS,
    brightness,
    corrupt,
    corruption_rng,
    corruption_table,
    evaluate_shifts,
    main,
    rotate,
)

NAMES = list(CORRUPTIONS)
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
    if name in RANDOM_CORRUPTIONS:
        assert np.any(first != second), f"{name} is marked random but ignores the seed"
    else:
        np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", NAMES)
def test_random_corruptions_and_only_they_take_an_rng(digits, name):
    takes_rng = "rng" in inspect.signature(CORRUPTIONS[name]).parameters
    assert takes_rng == (name in RANDOM_CORRUPTIONS)
    args = (digits, 2, np.random.default_rng(5)) if takes_rng else (digits, 2)
    out = CORRUPTIONS[name](*args)
    assert out.shape == digits.shape and out.dtype == np.uint8


def test_each_corruption_draws_from_its_own_seeded_generator():
    draws = {name: corruption_rng(name, 0).random() for name in NAMES}
    assert len(set(draws.values())) == len(NAMES)
    assert corruption_rng("fog", 0).random() == draws["fog"]
    assert corruption_rng("fog", 1).random() != draws["fog"]


def test_importing_the_module_does_not_wake_keras():
    code = (
        "import sys, mnist_helpers.shift; "
        "print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]


def test_there_are_fifteen_corruptions_each_with_a_benchmark_severity():
    assert len(CORRUPTIONS) == 15
    assert list(MNIST_C_SEVERITY) == NAMES
    assert all(s in range(1, 6) for s in MNIST_C_SEVERITY.values())
    assert RANDOM_CORRUPTIONS < set(NAMES)


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


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "blur"}, r"unknown corruption 'blur'; choose one of: shot_noise, .*canny_edges"),
        ({"name": "Rotate"}, "unknown corruption 'Rotate'"),
        ({"severity": 0}, "severity must be an integer from 1 to 5, got 0"),
        ({"severity": 6}, "severity must be an integer from 1 to 5, got 6"),
        ({"severity": 2.5}, r"severity must be an integer from 1 to 5, got 2\.5"),
        ({"severity": "3"}, "severity must be an integer from 1 to 5, got '3'"),
        ({"severity": True}, "severity must be an integer from 1 to 5, got True"),
        ({"seed": -1}, "seed must be a non-negative integer, got -1"),
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


def test_corruption_functions_check_their_arguments(digits):
    with pytest.raises(ValueError, match=r"batch of images of shape \(n, 28, 28\)"):
        rotate(digits[0], 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
        rotate(digits, 1, 0)
    with pytest.raises(ValueError, match="got 9"):
        brightness(digits, 9)


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
    assert table["random"].tolist() == [n in RANDOM_CORRUPTIONS for n in NAMES]
    assert all(d.endswith(".") and len(d) > 20 for d in table["description"])
    assert (table["severity_1"] != table["severity_5"]).all()
    rotate_row = table.set_index("corruption").loc["rotate"]
    assert (rotate_row["severity_1"], rotate_row["severity_5"]) == ("11°", "57°")


# --------------------------------------------------------------------------- evaluate_shifts


class TemplateModel:
    """A stand-in model: the class of the most similar clean image (a nearest neighbour).

    Like a Keras model it has ``predict(x, batch_size=..., verbose=...)`` returning (n, 10)
    probabilities, and it checks that it is fed what the course's models expect.
    """

    def __init__(self, templates: np.ndarray, labels: np.ndarray) -> None:
        self.templates = templates.reshape(len(templates), -1).astype(np.float32) / 255
        self.labels = labels
        self.calls: list[int] = []

    def predict(self, x, batch_size=32, verbose="auto"):
        assert x.dtype == np.float32 and x.shape[1:] == (28, 28, 1)
        assert 0.0 <= x.min() and x.max() <= 1.0
        self.calls.append(batch_size)
        flat = x.reshape(len(x), -1)
        distances = ((flat[:, None, :] - self.templates[None]) ** 2).sum(axis=2)
        probabilities = np.full((len(x), 10), 0.01, dtype=np.float32)
        probabilities[np.arange(len(x)), self.labels[np.argmin(distances, axis=1)]] = 0.91
        return probabilities


@pytest.fixture
def model_and_data(digits):
    labels = np.arange(len(digits))
    return TemplateModel(digits, labels), digits, labels


def test_evaluate_shifts_reports_clean_each_corruption_and_the_mean(model_and_data):
    model, x, y = model_and_data
    table = evaluate_shifts(model, x, y, batch_size=3)
    assert list(table.columns) == ["corruption", "severity", "accuracy"]
    assert table["corruption"].tolist() == ["clean", *NAMES, "mean"]
    assert table["severity"].iloc[0] == 0
    assert table["severity"].iloc[1:-1].tolist() == [MNIST_C_SEVERITY[n] for n in NAMES]
    assert pd.isna(table["severity"].iloc[-1])
    assert table["accuracy"].between(0, 1).all()
    assert table["accuracy"].iloc[0] == 1.0  # the clean images are the templates
    assert table["accuracy"].iloc[1:-1].min() < 1.0  # some corruption fools it
    assert table["accuracy"].iloc[-1] == pytest.approx(table["accuracy"].iloc[1:-1].mean())
    assert set(model.calls) == {3}


def test_evaluate_shifts_with_several_severities_and_any_order_of_names(model_and_data):
    model, x, y = model_and_data
    names = ["rotate", "brightness", "zigzag"]
    table = evaluate_shifts(model, x, y, names=names, severities=range(1, 6), seed=3)
    rows = list(zip(table["corruption"], table["severity"], strict=True))
    assert rows == [("clean", 0), *[(n, s) for n in names for s in range(1, 6)], ("mean", pd.NA)]
    backwards = evaluate_shifts(model, x, y, names=names[::-1], severities=range(1, 6), seed=3)
    key = ["corruption", "severity"]
    pd.testing.assert_frame_equal(
        table.iloc[1:-1].sort_values(key).reset_index(drop=True),
        backwards.iloc[1:-1].sort_values(key).reset_index(drop=True),
    )
    rotate_accuracy = table[table["corruption"] == "rotate"]["accuracy"]
    assert rotate_accuracy.iloc[0] >= rotate_accuracy.iloc[-1]  # 11° fools it less than 57°


def test_evaluate_shifts_refuses_bad_arguments(model_and_data):
    model, x, y = model_and_data
    with pytest.raises(ValueError, match=r"one integer label 0-9 per image, shape \(8,\)"):
        evaluate_shifts(model, x, y[:5])
    assert evaluate_shifts(model, x, y, names="fog")["corruption"].tolist() == [
        "clean",
        "fog",
        "mean",
    ]
    with pytest.raises(ValueError, match="unknown corruption 'fogg'"):
        evaluate_shifts(model, x, y, names=["fog", "fogg"])
    with pytest.raises(ValueError, match="got 0"):
        evaluate_shifts(model, x, y, severities=[0, 1])
    with pytest.raises(ValueError, match="dtype float32"):
        evaluate_shifts(model, x.astype(np.float32) / 255, y)


# --------------------------------------------------------------------------- command line


def test_cli_missing_model_exits_2_with_one_clear_line(tmp_path, capsys):
    path = tmp_path / "nowhere" / "model.keras"
    assert main([str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert str(path) in err and "no such model file" in err
    assert "`make run` trains runs/default/model.keras" in err
    assert "\n" not in err and "Traceback" not in err


@pytest.mark.parametrize("name", ["model.h5", "model.txt", "model"])
def test_cli_refuses_a_file_that_is_not_a_keras_model(tmp_path, capsys, name):
    path = tmp_path / name
    path.write_bytes(b"not a model")
    assert main([str(path), "--n", "10"]) == 2
    err = capsys.readouterr().err.strip()
    assert str(path) in err and "\n" not in err and "Traceback" not in err
    assert "`make run` trains runs/default/model.keras" in err


def test_cli_refuses_a_corrupt_keras_file(tmp_path, capsys):
    path = tmp_path / "model.keras"
    path.write_bytes(b"truncated")
    assert main([str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a valid Keras model file" in err and "\n" not in err


def test_cli_rejects_a_bad_n(tmp_path):
    with pytest.raises(SystemExit) as stopped:
        main([str(tmp_path / "model.keras"), "--n", "0"])
    assert stopped.value.code == 2


def test_cli_prints_the_table_for_a_real_model(
    tmp_path, monkeypatch, capsys, fake_mnist, write_mnist
):
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")]
    )
    path = tmp_path / "model.keras"
    model.save(path)
    monkeypatch.setenv("MNIST_DATA_DIR", str(write_mnist(tmp_path / "mnist", fake_mnist)))

    assert main([str(path), "--n", "20", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["corruption"] for r in rows] == ["clean", *NAMES, "mean"]
    assert rows[-1]["severity"] is None and all(0 <= r["accuracy"] <= 1 for r in rows)

    assert main([str(path), "--n", "20", "--seed", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "20 MNIST test images" in lines[0]
    assert lines[1].split() == ["corruption", "severity", "accuracy"]
    assert [line.split()[0] for line in lines[2:]] == ["clean", *NAMES, "mean"]
    assert all(line.endswith("%") for line in lines[2:])


def test_batch_norm_drift_is_small_on_what_the_layers_saw_and_large_on_a_brighter_copy():
    from mnist_helpers.models import build_cnn
    from mnist_helpers.shift import batch_norm_drift
    from mnist_helpers.training import reestimate_batch_norm

    rng = np.random.default_rng(0)
    x = (rng.random((200, 28, 28, 1)) < 0.2).astype(np.float32)  # sparse "ink"
    brighter = np.clip(x + 0.5, 0, 1)  # grey background, ink still 1
    small = {"filters": (4, 4, 4), "dense_units": 8, "dropout": 0}  # dropout: training only
    plain = build_cnn(augment_appearance=False, **small)
    reestimate_batch_norm(plain, x, batch_size=50)  # the running statistics of x
    seen = batch_norm_drift(plain, x)
    assert list(seen["layer"]) == ["bn1", "bn2", "bn3", "bn_dense"]
    assert (seen["mean shift"] < 0.1).all(), seen
    assert np.allclose(seen["spread ratio"], 1, atol=0.1), seen
    shifted = batch_norm_drift(plain, brighter)
    assert shifted.loc[0, "mean shift"] > 10 * seen.loc[0, "mean shift"], shifted
    # standardised first, the brighter copy is the same image to every layer
    standardized = build_cnn(standardize=True, augment_appearance=False, **small)
    reestimate_batch_norm(standardized, x, batch_size=50)
    same = batch_norm_drift(standardized, brighter)
    assert (same["mean shift"] < 0.1).all(), same


def test_batch_norm_drift_says_when_a_model_has_no_batch_norm():
    from mnist_helpers.models import build_mlp
    from mnist_helpers.shift import batch_norm_drift

    with pytest.raises(ValueError, match="has no BatchNormalization layer"):
        batch_norm_drift(build_mlp(), np.zeros((2, 28, 28, 1), np.float32))


def tiny_keras_model(kind: str, marker=None):
    """A small model the shift CLI must refuse: for other images, without softmax, with code."""
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 1) if kind == "32x32" else (28, 28, 1))
    x = inputs
    if kind == "lambda":
        x = keras.layers.Lambda(
            lambda x, marker: (open(marker, "w").close(), x)[1], arguments={"marker": str(marker)}
        )(x)
    dense = keras.layers.Dense(10, activation=None if kind == "logits" else "softmax")
    return keras.Model(inputs, dense(keras.layers.Flatten()(x)))


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("32x32", "takes images of shape (32, 32, 1)"),
        ("logits", "the model's outputs are not probabilities"),
        ("lambda", "refused: loading it would run code stored in the file"),
    ],
)
def test_cli_refuses_a_model_it_cannot_trust_in_one_clear_line(
    tmp_path, capsys, fake_mnist, write_mnist, monkeypatch, kind, message
):
    marker = tmp_path / "code_ran.txt"
    path = tmp_path / "model.keras"
    tiny_keras_model(kind, marker).save(path)
    marker.unlink(missing_ok=True)  # building the Lambda model ran it once
    monkeypatch.setenv("MNIST_DATA_DIR", str(write_mnist(tmp_path / "mnist", fake_mnist)))
    assert main([str(path), "--n", "10"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == "" and message in err and str(path) in err
    assert "\n" not in err and "Traceback" not in err
    assert not marker.exists()


def test_evaluate_shifts_refuses_a_model_that_gives_raw_scores(model_and_data):
    from mnist_helpers.predict import ModelOutputError

    model, x, y = model_and_data

    class RawScores(TemplateModel):
        def predict(self, x, batch_size=32, verbose="auto"):
            return super().predict(x, batch_size, verbose) * 100  # no softmax

    with pytest.raises(ModelOutputError, match="not probabilities"):
        evaluate_shifts(RawScores(model.templates.reshape(-1, 28, 28) * 255, y), x, y)
