"""Tests of mnist_helpers.training: parameter checks, a tiny real run, reproducibility."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mnist_helpers.data import MnistData
from mnist_helpers.training import TrainConfig, config_from_profile, learning_rate_schedule, train


def tiny_data(n_train: int = 120, n_val: int = 40, n_test: int = 60) -> MnistData:
    """Random images whose label is written into their brightness: learnable in one epoch."""
    rng = np.random.default_rng(0)

    def split(n):
        y = np.arange(n) % 10
        x = rng.random((n, 28, 28, 1)).astype("float32") * 0.1
        x += (y / 10).reshape(-1, 1, 1, 1).astype("float32")
        return x, y

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = map(split, (n_train, n_val, n_test))
    return MnistData(x_train, y_train, x_val, y_val, x_test, y_test, source="synthetic")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"epochs": "ten"}, r"epochs must be an integer >= 1, got 'ten'"),
        ({"epochs": 0}, r"epochs must be an integer >= 1, got 0"),
        ({"batch_size": 2.5}, r"batch_size must be an integer"),
        ({"model": "resnet"}, r"model must be one of 'cnn', 'cnn_wide', 'keras_example', 'mlp'"),
        ({"n_train": 10**6}, r"n_train must be at most 55,000"),
        ({"learning_rate": 0}, r"learning_rate must be a number in \(0, 1\]"),
        ({"run_name": "../x"}, r"run_name must be letters"),
        ({"seed": -1}, r"seed must be an integer >= 0"),
        ({"augment": "yes"}, r"augment must be True or False"),
    ],
)
def test_bad_parameters_name_the_parameter(overrides, message):
    with pytest.raises(ValueError, match=message):
        config_from_profile("full", **overrides)


def test_unknown_profile_lists_the_profiles():
    with pytest.raises(ValueError, match=r"profile must be one of 'full', 'smoke'"):
        config_from_profile("fast")


def test_profiles_set_defaults_and_overrides_win():
    smoke = config_from_profile("smoke")
    assert (smoke.epochs, smoke.n_train) == (1, 2000)
    assert config_from_profile("smoke", epochs=3).epochs == 3
    full = config_from_profile("full", seed=7)
    assert (full.epochs, full.n_train, full.seed) == (7, None, 7)


def test_warmup_cosine_schedule_peaks_at_the_learning_rate():
    config = TrainConfig(epochs=4, learning_rate=0.004)
    schedule = learning_rate_schedule(config, steps_per_epoch=10)
    values = [float(schedule(step)) for step in range(40)]
    assert max(values) == pytest.approx(0.004, rel=1e-3)
    assert values[0] < values[10] and values[-1] < values[20]
    assert learning_rate_schedule(TrainConfig(lr_schedule="constant"), 10) == 3e-3


def test_train_writes_a_complete_run_and_is_reproducible(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path))
    data = tiny_data()
    config = TrainConfig(model="keras_example", epochs=2, batch_size=32, run_name="tiny")
    first = train(config, data=data, verbose=0)
    run = tmp_path / "tiny"
    assert sorted(p.name for p in run.iterdir()) == ["history.csv", "metrics.json", "model.keras"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["parameters"] == 34_826
    assert metrics["n_train"] == 120 and metrics["epochs_run"] == 2
    assert metrics["config"]["run_name"] == "tiny" and metrics["seed"] == 42
    assert {"tensorflow", "keras", "numpy"} <= set(metrics["versions"])
    assert 0 <= metrics["test_accuracy"] <= 1
    assert list(first.history.columns) == ["accuracy", "loss", "val_accuracy", "val_loss"]

    second = train(config, data=data, verbose=0)
    assert second.metrics["test_loss"] == first.metrics["test_loss"]
    np.testing.assert_array_equal(second.history.to_numpy(), first.history.to_numpy())
