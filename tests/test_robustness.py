"""Tests of mnist_helpers.robustness: scoring a model on the corruptions, batch-norm drift, and
the command line, with a nearest-template stand-in model and the tiny Keras model."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from test_corruptions import make_digits

import mnist_helpers.robustness as robustness
from conftest import tiny_model
from mnist_helpers.corruptions import CORRUPTIONS, MNIST_C_SEVERITY
from mnist_helpers.model_file import ModelOutputError
from mnist_helpers.robustness import batch_norm_drift, evaluate_shifts, main

NAMES = list(CORRUPTIONS)


def test_importing_the_module_does_not_wake_keras():
    code = "import sys, mnist_helpers.robustness; print('keras' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["False"], result.stderr


# --------------------------------------------------------------------------- evaluate_shifts


class TemplateModel:
    """A stand-in model: the class of the most similar clean image (a nearest neighbour).

    Like a Keras model it has ``predict(x, batch_size=..., verbose=...)`` returning (n, 10)
    probabilities, and it checks that it is fed what the course's models expect.
    """

    def __init__(self, templates: np.ndarray, labels: np.ndarray) -> None:
        self.templates = templates.reshape(len(templates), -1).astype(np.float32) / 255
        self.labels = labels

    def predict(self, x, batch_size=32, verbose="auto"):
        assert x.dtype == np.float32 and x.shape[1:] == (28, 28, 1)
        assert 0.0 <= x.min() and x.max() <= 1.0
        flat = x.reshape(len(x), -1)
        distances = ((flat[:, None, :] - self.templates[None]) ** 2).sum(axis=2)
        probabilities = np.full((len(x), 10), 0.01, dtype=np.float32)
        probabilities[np.arange(len(x)), self.labels[np.argmin(distances, axis=1)]] = 0.91
        return probabilities


class RawScores(TemplateModel):
    def predict(self, x, batch_size=32, verbose="auto"):
        return super().predict(x, batch_size, verbose) * 100  # no softmax


@pytest.fixture
def model_and_data():
    digits = make_digits()
    labels = np.arange(len(digits))
    return TemplateModel(digits, labels), digits, labels


def test_evaluate_shifts_reports_clean_each_corruption_and_the_mean(model_and_data):
    model, x, y = model_and_data
    table = evaluate_shifts(model, x, y)
    assert list(table.columns) == ["corruption", "severity", "accuracy"]
    assert table["corruption"].tolist() == ["clean", *NAMES, "mean"]
    assert table["severity"].iloc[0] == 0
    assert table["severity"].iloc[1:-1].tolist() == [MNIST_C_SEVERITY[n] for n in NAMES]
    assert pd.isna(table["severity"].iloc[-1])
    assert table["accuracy"].between(0, 1).all()
    assert table["accuracy"].iloc[0] == 1.0  # the clean images are the templates
    assert table["accuracy"].iloc[1:-1].min() < 1.0  # some corruption fools it
    assert table["accuracy"].iloc[-1] == pytest.approx(table["accuracy"].iloc[1:-1].mean())


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
    with pytest.raises(ValueError, match="names must be one of .*, got 'fogg'"):
        evaluate_shifts(model, x, y, names=["fog", "fogg"])
    with pytest.raises(ValueError, match="severities must be an integer from 1 to 5, got 0"):
        evaluate_shifts(model, x, y, severities=[0, 1])
    with pytest.raises(ValueError, match="names is empty"):
        evaluate_shifts(model, x, y, names=[])
    with pytest.raises(ValueError, match="severities is empty"):
        evaluate_shifts(model, x, y, severities=[])
    with pytest.raises(ValueError, match="x holds no images"):
        evaluate_shifts(model, x[:0], y[:0])
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
    tmp_path, monkeypatch, capsys, fake_mnist, write_mnist, tiny_model_file
):
    path = tiny_model_file
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
    from mnist_helpers.training import reestimate_batch_norm

    rng = np.random.default_rng(0)
    x = (rng.random((200, 28, 28, 1)) < 0.2).astype(np.float32)  # sparse "ink"
    brighter = np.clip(x + 0.5, 0, 1)  # grey background, ink still 1
    small = {"filters": (4, 4, 4), "dense_units": 8, "dropout": 0}  # dropout: training only
    plain = build_cnn(augment_appearance=False, **small)
    reestimate_batch_norm(plain, x)  # the running statistics of x
    seen = batch_norm_drift(plain, x)
    assert list(seen["layer"]) == ["bn1", "bn2", "bn3", "bn_dense"]
    assert (seen["mean shift"] < 0.1).all(), seen
    assert np.allclose(seen["spread ratio"], 1, atol=0.1), seen
    shifted = batch_norm_drift(plain, brighter)
    assert shifted.loc[0, "mean shift"] > 10 * seen.loc[0, "mean shift"], shifted
    # standardised first, the brighter copy is the same image to every layer
    standardized = build_cnn(standardize=True, augment_appearance=False, **small)
    reestimate_batch_norm(standardized, x)
    same = batch_norm_drift(standardized, brighter)
    assert (same["mean shift"] < 0.1).all(), same


def test_batch_norm_drift_says_when_a_model_has_no_batch_norm():
    from mnist_helpers.models import build_mlp

    with pytest.raises(ValueError, match="has no BatchNormalization layer"):
        batch_norm_drift(build_mlp(), np.zeros((2, 28, 28, 1), np.float32))


def model_to_refuse(kind: str, marker):
    """A small model the CLI must refuse: for other images, without softmax, with code."""
    if kind == "32x32":
        return tiny_model((32, 32, 1))
    if kind == "logits":
        return tiny_model(activation=None)
    import keras

    inputs = keras.Input((28, 28, 1))
    touch = keras.layers.Lambda(
        lambda x, marker: (open(marker, "w").close(), x)[1], arguments={"marker": str(marker)}
    )
    return keras.Model(
        inputs, keras.layers.Dense(10, "softmax")(keras.layers.Flatten()(touch(inputs)))
    )


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
    model_to_refuse(kind, marker).save(path)
    marker.unlink(missing_ok=True)  # building the Lambda model ran it once
    monkeypatch.setenv("MNIST_DATA_DIR", str(write_mnist(tmp_path / "mnist", fake_mnist)))
    assert main([str(path), "--n", "10"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == "" and message in err and str(path) in err
    assert "\n" not in err and "Traceback" not in err
    assert not marker.exists()


def test_evaluate_shifts_refuses_a_model_that_gives_raw_scores(model_and_data):
    _, x, y = model_and_data
    with pytest.raises(ModelOutputError, match="not probabilities"):
        evaluate_shifts(RawScores(x, y), x, y)


def test_cli_says_in_one_line_when_the_outputs_on_the_images_are_not_probabilities(
    tmp_path, monkeypatch, capsys, fake_mnist, write_mnist
):
    x = make_digits()
    monkeypatch.setattr(robustness, "load_model_safely", lambda path: RawScores(x, np.arange(8)))
    monkeypatch.setenv("MNIST_DATA_DIR", str(write_mnist(tmp_path / "mnist", fake_mnist)))
    assert main([str(tmp_path / "model.keras"), "--n", "10"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == "" and err.startswith(f"robustness: {tmp_path / 'model.keras'}: ")
    assert "not probabilities" in err and "`make run` trains" in err and "\n" not in err


def test_cli_says_in_one_line_when_the_mnist_test_set_is_missing(
    tmp_path, monkeypatch, capsys, tiny_model_file
):
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("MNIST_OFFLINE", "1")
    assert main([str(tiny_model_file), "--n", "10"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after load_mnist's own report
    assert last.startswith("robustness: cannot load the MNIST test set (Could not get verified")
    assert str(tmp_path / "nowhere") in last and last.endswith("); run `make data`")
