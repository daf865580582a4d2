"""Tests of the predict command: top-3 output, JSON, unreadable files, unsafe models."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from PIL import Image

from mnist_helpers.models import build_keras_example_cnn
from mnist_helpers.predict import Predictor, UnsafeModelError, load_model_safely, main, top_k


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("model") / "model.keras"
    build_keras_example_cnn().save(path)
    return path


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


def test_predictor_matches_keras_predict(model_file):
    model = load_model_safely(model_file)
    images = np.random.default_rng(0).random((5, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(
        Predictor(model)(images), model.predict(images, verbose=0), rtol=1e-4, atol=1e-6
    )
    assert Predictor(model)(images[0]).shape == (1, 10)


def test_cli_prints_top_three_per_image(model_file, digit_png, capsys):
    assert main([str(digit_png), str(digit_png), "--model", str(model_file)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{digit_png}: ")
    assert lines[0].count("%") == 3


def test_cli_json_output(model_file, digit_png, capsys):
    assert main([str(digit_png), "--model", str(model_file), "--json", "--top", "2"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result[0]["image"] == str(digit_png)
    top = result[0]["top"]
    assert len(top) == 2 and top[0]["probability"] >= top[1]["probability"]


def test_cli_unreadable_file_exits_nonzero_with_a_message(model_file, digit_png, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_text("no pixels here")
    assert main([str(digit_png), str(bad), "--model", str(model_file)]) == 1
    captured = capsys.readouterr()
    assert "not an image Pillow can read" in captured.err
    assert str(digit_png) in captured.out  # the good image is still predicted


def test_missing_model_says_how_to_train_one(digit_png, tmp_path, capsys):
    assert main([str(digit_png), "--model", str(tmp_path / "none.keras")]) == 2
    assert "train one first" in capsys.readouterr().err


def test_model_with_lambda_layer_is_refused_not_run(tmp_path, digit_png, capsys):
    inputs = keras.Input((28, 28, 1))
    outputs = keras.layers.Dense(10)(
        keras.layers.Flatten()(keras.layers.Lambda(lambda x: x * 2)(inputs))
    )
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(UnsafeModelError, match="safe mode forbids"):
        load_model_safely(path)
    assert main([str(digit_png), "--model", str(path)]) == 2
    assert "refused" in capsys.readouterr().err
