"""Tests of the predict command: top-3 output, JSON, image shapes, bad and unsafe model files."""

from __future__ import annotations

import json
import re
import zipfile

import keras
import numpy as np
import pytest
from PIL import Image

from conftest import tiny_model
from mnist_helpers.model_file import (
    ModelFileError,
    ModelOutputError,
    UnsafeModelError,
    check_probabilities,
    load_model_safely,
)
from mnist_helpers.predict import main, top_k
from mnist_helpers.runtimes import Predictor


@pytest.fixture(scope="module")
def predictor(tiny_model_file):
    return Predictor(load_model_safely(tiny_model_file))


@pytest.fixture
def digit_png(tmp_path):
    page = np.full((60, 40), 255, dtype=np.uint8)
    page[10:50, 18:23] = 0
    path = tmp_path / "one.png"
    Image.fromarray(page).save(path)
    return path


def test_top_k_orders_digits_by_probability():
    probabilities = np.array([0.05, 0.6, 0.05, 0.2, 0, 0, 0, 0.1, 0, 0])
    assert top_k(probabilities) == [(1, 0.6), (3, 0.2), (7, 0.1)]


def test_predictor_matches_keras_predict(tiny_model_file):
    model = load_model_safely(tiny_model_file)
    images = np.random.default_rng(0).random((5, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(
        Predictor(model)(images), model.predict(images, verbose=0), rtol=1e-4, atol=1e-6
    )
    assert Predictor(model)(images[0]).shape == (1, 10)


def test_cli_prints_top_three_per_image(tiny_model_file, digit_png, capsys):
    assert main([str(digit_png), str(digit_png), "--model", str(tiny_model_file)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{digit_png}: ")
    assert lines[0].count("%") == 3


def test_cli_json_output(tiny_model_file, digit_png, capsys):
    assert main([str(digit_png), "--model", str(tiny_model_file), "--json", "--top", "2"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result[0]["image"] == str(digit_png)
    top = result[0]["top"]
    assert len(top) == 2 and top[0]["probability"] >= top[1]["probability"]


def test_cli_unreadable_file_exits_nonzero_with_a_message(
    tiny_model_file, digit_png, tmp_path, capsys
):
    bad = tmp_path / "bad.png"
    bad.write_text("no pixels here")
    assert main([str(digit_png), str(bad), "--model", str(tiny_model_file)]) == 1
    captured = capsys.readouterr()
    assert "not an image Pillow can read" in captured.err
    assert str(digit_png) in captured.out  # the good image is still predicted


def test_missing_model_says_how_to_train_one(digit_png, tmp_path, capsys):
    assert main([str(digit_png), "--model", str(tmp_path / "none.keras")]) == 2
    assert "train one first" in capsys.readouterr().err


def sentinel_model(sentinel):
    """A model whose Lambda layer creates the file ``sentinel`` whenever the layer runs."""
    inputs = keras.Input((28, 28, 1))
    touch = keras.layers.Lambda(
        lambda x, sentinel: (open(sentinel, "w").close(), x)[1],
        arguments={"sentinel": str(sentinel)},
    )
    return keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(touch(inputs))))


def test_model_with_lambda_layer_is_refused_and_its_code_never_runs(tmp_path, digit_png, capsys):
    sentinel = tmp_path / "code_ran.txt"
    model = sentinel_model(sentinel)
    assert sentinel.exists()  # building the model ran the layer: the sentinel works...
    sentinel.unlink()
    path = tmp_path / "lambda.keras"
    model.save(path)
    assert not sentinel.exists()
    with pytest.raises(UnsafeModelError, match="safe mode forbids") as refused:
        load_model_safely(path)
    assert str(path) in str(refused.value)
    assert main([str(digit_png), "--model", str(path)]) == 2
    assert "refused" in capsys.readouterr().err
    assert not sentinel.exists()  # ...and loading through the course's loader never ran it
    keras.models.load_model(path, safe_mode=False)  # what unsafe loading would have done
    assert sentinel.exists()


def test_safe_mode_holds_even_after_unsafe_deserialization_was_enabled(tmp_path):
    from keras.src.saving.serialization_lib import SafeModeScope

    sentinel = tmp_path / "code_ran.txt"
    path = tmp_path / "lambda.keras"
    sentinel_model(sentinel).save(path)
    sentinel.unlink()
    with SafeModeScope(None):  # puts Keras' global flag back afterwards
        keras.config.enable_unsafe_deserialization()  # e.g. in an earlier notebook cell
        with pytest.raises(UnsafeModelError, match="safe mode forbids"):
            load_model_safely(path)
    assert not sentinel.exists()


def corrupt_model_bytes(tiny_model_file, tmp_path):
    """Bad ``.keras`` files, by kind: each has the right name but is not a model."""
    good = tiny_model_file.read_bytes()
    flipped = bytearray(good)
    flipped[len(good) // 3 : len(good) // 3 + 200] = bytes(200)  # damaged inside the zip
    not_a_model = tmp_path / "notes.zip"
    with zipfile.ZipFile(not_a_model, "w") as archive:
        archive.writestr("notes.txt", "not a model")
    return {
        "random bytes": np.random.default_rng(0).bytes(3000),
        "truncated zip": good[: len(good) // 2],
        "empty file": b"",
        "damaged zip": bytes(flipped),
        "zip without a model": not_a_model.read_bytes(),
    }


@pytest.mark.parametrize(
    "kind", ["random bytes", "truncated zip", "empty file", "damaged zip", "zip without a model"]
)
def test_corrupt_model_file_is_reported_as_invalid_not_missing(
    tiny_model_file, tmp_path, digit_png, capsys, kind
):
    path = tmp_path / "model.keras"
    path.write_bytes(corrupt_model_bytes(tiny_model_file, tmp_path)[kind])
    with pytest.raises(ModelFileError, match="not a valid Keras model file") as error:
        load_model_safely(path)
    assert str(path) in str(error.value)
    assert "not found" not in str(error.value).lower()
    assert main([str(digit_png), "--model", str(path)]) == 2
    err = capsys.readouterr().err
    assert "not a valid Keras model file" in err and "no such model file" not in err


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("model.h5", "legacy HDF5"),
        ("model.hdf5", "legacy HDF5"),
        ("model.pt", "expected a name ending in .keras, got '.pt'"),
        ("model", "expected a name ending in .keras, got no suffix"),
    ],
)
def test_only_keras_model_files_are_accepted(
    tiny_model_file, tmp_path, digit_png, capsys, name, message
):
    path = tmp_path / name
    if name.endswith(".h5"):  # a genuine HDF5 model, refused all the same
        load_model_safely(tiny_model_file).save(path)
    else:
        path.write_bytes(tiny_model_file.read_bytes())
    with pytest.raises(ModelFileError, match=re.escape(message)):
        load_model_safely(path)
    assert main([str(digit_png), "--model", str(path)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "shape", [(28, 28), (28, 28, 1), (5, 28, 28), (5, 28, 28, 1), (1, 28, 28)], ids=str
)
def test_predictor_gives_one_prediction_per_image(predictor, shape):
    images = np.random.default_rng(0).random(shape).astype("float32")
    n = shape[0] if len(shape) == 4 or shape[1:] == (28, 28) else 1
    probabilities = predictor(images)
    assert probabilities.shape == (n, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(
        probabilities, predictor(images.reshape(n, 28, 28, 1)), rtol=1e-5, atol=1e-7
    )
    assert predictor.predict_batches(images, batch_size=2).shape == (n, 10)


@pytest.mark.parametrize(
    "shape", [(28,), (784,), (32, 32), (28, 28, 3), (5, 28, 28, 3), (2, 5, 28, 28, 1)], ids=str
)
def test_predictor_refuses_other_shapes_and_names_them(predictor, shape):
    with pytest.raises(ValueError, match=re.escape(f"got shape {shape}")):
        predictor(np.zeros(shape, dtype="float32"))
    with pytest.raises(ValueError, match=re.escape(f"got shape {shape}")):
        predictor.predict_batches(np.zeros(shape, dtype="float32"))


@pytest.mark.parametrize(
    "images",
    [[], np.zeros((0, 28, 28)), np.zeros((0, 28, 28, 1))],
    ids=["empty list", "(0, 28, 28)", "(0, 28, 28, 1)"],
)
def test_no_images_give_no_predictions(predictor, images):
    assert predictor(images).shape == (0, 10)
    assert predictor.predict_batches(images).shape == (0, 10)


def test_predict_batches_agrees_with_one_call_and_checks_batch_size(predictor):
    images = np.random.default_rng(1).random((7, 28, 28)).astype("float32")
    np.testing.assert_allclose(
        predictor.predict_batches(images, batch_size=3), predictor(images), rtol=1e-5, atol=1e-7
    )
    for bad in (0, -1, 2.5, "64"):
        with pytest.raises(
            ValueError, match=re.escape(f"batch_size must be a positive integer, got {bad!r}")
        ):
            predictor.predict_batches(images, batch_size=bad)


def test_cli_without_images_says_so_and_predicts_nothing(capsys):
    assert main([]) == 2
    captured = capsys.readouterr()
    assert "no image files given" in captured.err and captured.out == ""
    assert main(["--json"]) == 2
    assert json.loads(capsys.readouterr().out) == []


def test_raw_pixel_bytes_are_refused_rather_than_misread(predictor):
    """0-255 pixels would all look like full ink to a model trained on [0, 1]."""
    with pytest.raises(ValueError, match=r"expected pixel values in \[0, 1\].*divide raw"):
        predictor(np.full((2, 28, 28), 200, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"float64 values up to 255"):
        predictor(np.full((28, 28), 255.0))
    assert predictor(np.zeros((2, 28, 28), dtype=np.uint8) / 255).shape == (2, 10)


def test_cli_on_a_good_image_prints_only_its_result_and_nothing_on_stderr(
    tiny_model_file, digit_png
):
    """In a fresh process, as a learner runs it: TensorFlow's start-up lines stay hidden."""
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mnist_helpers.predict",
            "--runtime",
            "keras",
            "--model",
            str(tiny_model_file),
            str(digit_png),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    [line] = result.stdout.splitlines()
    assert re.fullmatch(
        rf"{re.escape(str(digit_png))}: (\d: +\d+\.\d\d%  ){{2}}\d: +\d+\.\d\d%", line
    )


# --------------------------------------------------------------- what a model takes and gives


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.nan, "1 NaN or infinite values"),
        (np.inf, "1 NaN or infinite values"),
        (-0.5, "values down to -0.5"),
    ],
    ids=["nan", "inf", "negative"],
)
def test_predictor_refuses_pixels_outside_0_1_and_says_what_was_wrong(predictor, value, message):
    images = np.random.default_rng(0).random((3, 28, 28)).astype("float32")
    images[1, 5, 5] = value
    with pytest.raises(ValueError, match=r"expected pixel values in \[0, 1\]") as refused:
        predictor(images)
    assert message in str(refused.value)
    with pytest.raises(ValueError, match=re.escape(message)):
        predictor.predict_batches(images)


@pytest.mark.parametrize(
    ("kwargs", "has"),
    [
        ({"input_shape": (32, 32, 1)}, "takes images of shape (32, 32, 1)"),
        ({"input_shape": (784,)}, "takes images of shape (784,)"),
        ({"input_shape": (28, 28, 3)}, "takes images of shape (28, 28, 3)"),
        ({"classes": 5}, "gives 5 outputs per image"),
    ],
    ids=["32x32", "784", "rgb", "5 classes"],
)
def test_a_model_made_for_other_images_or_classes_is_refused_with_what_it_has(
    tmp_path, digit_png, capsys, kwargs, has
):
    path = tmp_path / "other.keras"
    tiny_model(**kwargs).save(path)
    expected = "the course's models take (28, 28, 1) images and give 10 probabilities"
    with pytest.raises(ModelFileError) as refused:
        load_model_safely(path)
    assert str(path) in str(refused.value) and has in str(refused.value)
    assert expected in str(refused.value)
    with pytest.raises(ModelFileError, match=re.escape(has)):
        Predictor(tiny_model(**kwargs))
    assert main([str(digit_png), "--model", str(path)]) == 2
    captured = capsys.readouterr()
    assert has in captured.err and captured.out == "" and "Traceback" not in captured.err


def test_a_model_without_softmax_is_refused_when_loaded_and_when_it_predicts(
    tmp_path, digit_png, capsys
):
    """Raw scores (logits) are not probabilities: never printed as '7: 1478.26%'."""
    path = tmp_path / "logits.keras"
    tiny_model(activation=None).save(path)
    with pytest.raises(ModelOutputError, match="not probabilities") as refused:
        load_model_safely(path)  # it is run once on a blank image
    assert str(path) in str(refused.value) and "softmax" in str(refused.value)
    predictor = Predictor(tiny_model(activation=None), path)
    with pytest.raises(ModelOutputError, match="not probabilities") as refused:
        predictor(np.full((2, 28, 28), 0.5, dtype="float32"))
    assert str(path) in str(refused.value) and "softmax" in str(refused.value)
    assert main([str(digit_png), "--model", str(path), "--runtime", "keras"]) == 2
    captured = capsys.readouterr()
    assert "not probabilities" in captured.err and str(path) in captured.err
    assert "%" not in captured.out


def test_nan_outputs_are_refused_naming_the_model(tmp_path):
    model = tiny_model()
    weights = model.get_weights()
    weights[0][0, 0] = np.nan  # a damaged weight
    model.set_weights(weights)
    with pytest.raises(ModelOutputError, match=r"2 of 2 images got NaN or infinite outputs"):
        Predictor(model, tmp_path / "damaged.keras")(np.full((2, 28, 28), 0.5, dtype="float32"))
    with pytest.raises(ModelOutputError, match=re.escape(str(tmp_path / "damaged.keras"))):
        Predictor(model, tmp_path / "damaged.keras")(np.full((2, 28, 28), 0.5, dtype="float32"))


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        (np.full((2, 10), 0.1, dtype="float32"), None),
        (np.full((2, 10), 0.2, dtype="float32"), "rows summing to 2 to 2"),
        (np.eye(10, dtype="float32")[:2] * 2 - 0.5, "values from -0.5 to 1.5"),
        (np.full((2, 5), 0.2, dtype="float32"), "outputs of shape (2, 5)"),
        (np.full((3, 10), 0.1, dtype="float32"), "outputs of shape (3, 10) for 2 images"),
    ],
    ids=["ok", "sum", "range", "five", "rows"],
)
def test_check_probabilities_names_what_is_wrong(outputs, message):
    if message is None:
        assert check_probabilities(outputs, 2, "m.keras") is outputs
        return
    with pytest.raises(ModelOutputError, match=re.escape(message)) as refused:
        check_probabilities(outputs, 2, "m.keras")
    assert str(refused.value).startswith("m.keras: ")
