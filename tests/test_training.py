"""Tests of mnist_helpers.training: parameter checks, a tiny real run, reproducibility."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from mnist_helpers.data import MnistData
from mnist_helpers.training import (
    STEPS_PER_EXECUTION,
    RunExistsError,
    RunInUseError,
    TrainConfig,
    batch_norm_layers,
    compile_model,
    config_from_profile,
    learning_rate_schedule,
    new_run_folder,
    reestimate_batch_norm,
    run_callbacks,
    seed_everything,
    train,
)

#: What the tests call "learned" on tiny_data: chance is 10 %.
LEARNED = 0.6
#: The split of ``tiny_data(n_train=400)``, as a TrainConfig says it.
SPLIT = {"n_train": 400, "validation_size": 40}


@pytest.fixture
def runs(workspace):
    """Where the tests' runs go (``MNIST_RUNS_DIR``)."""
    return workspace / "runs"


def tiny_data(n_train: int = 120, n_val: int = 40, n_test: int = 60) -> MnistData:
    """Noise images with a bright bar whose row is the label: learnable in a few steps."""
    rng = np.random.default_rng(0)

    def split(n):
        y = np.arange(n) % 10
        x = rng.random((n, 28, 28, 1)).astype("float32") * 0.3
        x[np.arange(n), 4 + 2 * y, 4:24, 0] = 1.0
        return x, y

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = map(split, (n_train, n_val, n_test))
    return MnistData(x_train, y_train, x_val, y_val, x_test, y_test, source="synthetic")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"epochs": "ten"}, r"epochs must be a positive integer, got 'ten' \(set it in the"),
        ({"epochs": 0}, r"epochs must be a positive integer, got 0 .*e\.g\. epochs=6"),
        ({"batch_size": 2.5}, r"batch_size must be a positive integer"),
        (
            {"architecture": "resnet"},
            (
                r"architecture must be one of \['cnn', 'cnn_plain', 'cnn_standardized', "
                r"'cnn_standardized_appearance', 'cnn_deep', 'keras_example', 'mlp'\], "
                r"got 'resnet' \(set it in the parameters cell, e.g. architecture='cnn'\)"
            ),
        ),
        ({"n_train": 10**6}, r"n_train must be at most 55,000"),
        ({"learning_rate": 0}, r"learning_rate must be a number in \(0, 1\]"),
        ({"run_name": "../x"}, r"run_name must be a plain folder name"),
        ({"run_name": ".."}, r"run_name must be a plain folder name.*got '\.\.'"),
        ({"run_name": "."}, r"run_name must be a plain folder name"),
        ({"run_name": ".hidden"}, r"not starting with '\.'"),
        ({"run_name": "a\\b"}, r"run_name must be a plain folder name"),
        ({"run_name": "x" * 101}, r"1 to 100 letters"),
        ({"run_name": "notebooks"}, r"taken by the course's own runs/notebooks/ folder"),
        ({"seed": -1}, r"seed must be an integer >= 0"),
        ({"augment_geometry": "yes"}, r"augment_geometry must be True or False"),
    ],
)
def test_bad_parameters_name_the_parameter(overrides, message):
    with pytest.raises(ValueError, match=message):
        config_from_profile("full", **overrides)


def test_unknown_profile_lists_the_profiles():
    with pytest.raises(ValueError, match=r"profile must be one of \['full', 'smoke'\], got 'fast'"):
        config_from_profile("fast")


def test_profiles_set_defaults_and_overrides_win():
    smoke = config_from_profile("smoke")
    assert (smoke.epochs, smoke.n_train) == (2, 6000)
    assert config_from_profile("smoke", epochs=3).epochs == 3
    full = config_from_profile("full", seed=7)
    assert (full.epochs, full.n_train, full.seed) == (6, None, 7)


def test_each_profile_saves_to_its_own_run_unless_named():
    """04's smoke run must not replace runs/default, the model 05, 06 and 07 use."""
    assert config_from_profile("full").run_name == "default"
    assert config_from_profile("smoke", run_name=None).run_name == "smoke"
    assert config_from_profile("smoke", run_name="mine").run_name == "mine"


def test_warmup_cosine_schedule_peaks_at_the_learning_rate():
    config = TrainConfig(epochs=4, learning_rate=0.004)
    schedule = learning_rate_schedule(config, steps_per_epoch=10)
    values = [float(schedule(step)) for step in range(40)]
    assert max(values) == pytest.approx(0.004, rel=1e-3)
    assert int(np.argmax(values)) == 40 // 8, "the warm-up takes the first eighth of the steps"
    assert values[0] < values[10] and values[-1] < values[20]
    assert learning_rate_schedule(TrainConfig(lr_schedule="constant"), 10) == 6e-3


def test_train_writes_a_complete_run_and_is_reproducible(runs):
    data = tiny_data()
    config = TrainConfig(
        architecture="keras_example",
        epochs=2,
        batch_size=32,
        run_name="tiny",
        n_train=120,
        validation_size=40,
    )
    first = train(config, data=data, verbose=0)
    # trained 8 steps per call, the model returned predicts one batch per call (no retracing)
    assert first.model.steps_per_execution == 1
    assert first.model.predict(data.x_test, batch_size=7, verbose=0).shape == (60, 10)
    run = runs / "tiny"
    assert sorted(p.name for p in run.iterdir()) == ["history.csv", "metrics.json", "model.keras"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["parameters"] == 34_826
    assert metrics["n_train"] == 120 and metrics["epochs_run"] == 2
    assert metrics["config"]["run_name"] == "tiny" and metrics["seed"] == 42
    assert {"tensorflow", "keras", "numpy"} <= set(metrics["versions"])
    assert metrics["test_accuracy"] >= LEARNED  # chance would be 10 %
    assert list(first.history.columns) == ["accuracy", "loss", "val_accuracy", "val_loss"]

    second = train(config, data=data, verbose=0)
    assert second.metrics["test_loss"] == first.metrics["test_loss"]
    np.testing.assert_array_equal(second.history.to_numpy(), first.history.to_numpy())


def test_steps_per_execution_changes_the_speed_not_the_numbers():
    """``train`` runs 8 steps per call into TensorFlow: the weights come out bit for bit as
    with one step per call."""
    import keras

    data, config = tiny_data(n_train=96), TrainConfig(architecture="cnn", epochs=2, batch_size=8)
    weights = {}
    for steps in (1, STEPS_PER_EXECUTION):
        seed_everything(1)
        model = compile_model(
            keras.Sequential(
                [
                    keras.Input((28, 28, 1)),
                    keras.layers.Flatten(),
                    keras.layers.Dense(10, "softmax"),
                ]
            ),
            config,
            12,
            steps,
        )
        model.fit(data.x_train, data.y_train, batch_size=8, epochs=2, verbose=0)
        weights[steps] = [np.asarray(w) for w in model.weights]
    for one, grouped in zip(weights[1], weights[STEPS_PER_EXECUTION], strict=True):
        np.testing.assert_array_equal(one, grouped)


def test_reestimate_batch_norm_sets_the_average_statistics_and_keeps_the_momentum():
    import keras

    rng = np.random.default_rng(1)
    x = (5 + 2 * rng.standard_normal((1000, 3))).astype("float32")
    inner = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization(momentum=0.9)])
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3), inner])
    model.layers[0].set_weights([np.eye(3, dtype="float32"), np.zeros(3, dtype="float32")])
    norm = batch_norm_layers(model)[0]  # found inside the nested model
    assert np.allclose(norm.moving_mean.numpy(), 0) and np.allclose(norm.moving_variance, 1)

    assert reestimate_batch_norm(model, x) == 1  # 4 batches of 250
    batches = x.reshape(4, 250, 3)
    np.testing.assert_allclose(norm.moving_mean.numpy(), batches.mean(axis=1).mean(0), rtol=1e-5)
    np.testing.assert_allclose(norm.moving_variance.numpy(), batches.var(axis=1).mean(0), rtol=1e-4)
    assert norm.momentum == 0.9
    no_norm = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert reestimate_batch_norm(no_norm, x) == 0


@pytest.mark.slow
def test_a_short_run_learns_and_plain_keras_loads_its_model_and_predicts_the_same(runs):
    """The smoke lesson in small: 8 steps of the course's CNN, then a fair test score. Its
    model.keras opens in a Python that cannot import mnist_helpers (the training-only layers
    are left out) and predicts what the trained model predicts."""
    data = tiny_data(n_train=400, n_test=200)
    config = TrainConfig(epochs=2, batch_size=100, run_name="short", learning_rate=0.01, **SPLIT)
    result = train(config, data=data, verbose=0)
    assert result.metrics["batch_norm_reestimated"] is True
    assert result.metrics["test_accuracy"] >= LEARNED
    assert result.metrics["val_accuracy"] >= LEARNED
    trained_with = [layer.name for layer in result.model.layers][:3]
    assert trained_with == ["stroke_width", "brightness", "noise"]  # our own layers
    np.save(runs / "x.npy", data.x_test)
    script = (
        "import sys\n"
        "sys.modules['mnist_helpers'] = None  # plain Keras: our package cannot be imported\n"
        "import keras, numpy as np\n"
        f"model = keras.models.load_model({str(runs / 'short' / 'model.keras')!r})\n"
        f"np.save({str(runs / 'proba.npy')!r}, model.predict(np.load({str(runs / 'x.npy')!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    proba = np.load(runs / "proba.npy")
    np.testing.assert_allclose(proba, result.model.predict(data.x_test, verbose=0), atol=1e-6)
    accuracy = np.mean(proba.argmax(axis=1) == data.y_test)
    assert accuracy == pytest.approx(result.metrics["test_accuracy"])


@pytest.mark.slow
def test_shuffled_labels_cannot_reach_the_learning_floor(runs):
    """The floor the tests use tells learning from not learning: break training on purpose."""
    data = tiny_data(n_train=400, n_test=200)
    data.y_train = np.random.default_rng(0).permutation(data.y_train)
    config = TrainConfig(epochs=2, batch_size=100, run_name="broken", learning_rate=0.01, **SPLIT)
    assert train(config, data=data, verbose=0).metrics["test_accuracy"] < LEARNED


def test_data_that_does_not_match_the_config_is_refused(runs):
    data = tiny_data()  # 120 training and 40 validation images
    with pytest.raises(ValueError, match=r"data has 120 training images but the config asks"):
        train(TrainConfig(n_train=200, validation_size=40, run_name="x"), data=data, verbose=0)
    with pytest.raises(ValueError, match=r"data has 40 validation images but the config asks"):
        train(TrainConfig(n_train=120, validation_size=0, run_name="x"), data=data, verbose=0)
    with pytest.raises(ValueError, match=r"data has 120 training images .* for 55,000"):
        train(TrainConfig(run_name="x"), data=data, verbose=0)
    assert not (runs / "x").exists()


@pytest.mark.slow
def test_without_a_validation_set_the_last_epoch_is_kept(runs):
    """Training accuracy (dropout and augmentation on) must not choose the epoch."""
    import keras

    data = tiny_data(n_train=400, n_val=0)
    config = TrainConfig(
        epochs=3,
        batch_size=100,
        run_name="noval",
        n_train=400,
        validation_size=0,
        learning_rate=0.01,
        early_stopping_patience=1,
    )
    result = train(config, data=data, verbose=0)
    assert result.metrics["epochs_run"] == 3 and result.metrics["best_epoch"] == 3
    assert result.metrics["val_accuracy"] is None
    callbacks = run_callbacks(config, runs, validation=False)
    assert not any(isinstance(c, keras.callbacks.EarlyStopping) for c in callbacks)
    assert not any(getattr(c, "save_best_only", False) for c in callbacks)  # every epoch
    saved = keras.models.load_model(runs / "noval" / "model.keras")
    for mine, theirs in zip(result.model.get_weights(), saved.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


@pytest.mark.slow
def test_a_new_run_removes_the_old_models_files_and_exports(runs):
    """Exports of the model a run replaces would be stale: 04 lists the run's files."""
    old = runs / "again"
    (old / "logs").mkdir(parents=True)
    (old / "mine").mkdir()
    (old / "mine" / "plot.txt").write_text("yours")
    for name in ("model.tflite", "model.tflite.sha256", "model_int8.tflite", "model.onnx"):
        (old / name).write_text("from the previous model")
    for name in ("history.csv", "notes.txt"):
        (old / name).write_text("from the previous model")
    data = tiny_data(n_train=120, n_val=40)
    config = TrainConfig(epochs=1, batch_size=60, run_name="again", n_train=120, validation_size=40)
    train(config, data=data, verbose=0)
    names = sorted(p.name for p in old.iterdir())
    assert names == ["history.csv", "metrics.json", "mine", "model.keras", "notes.txt"]
    assert (old / "history.csv").read_text() != "from the previous model"
    assert (old / "mine" / "plot.txt").read_text() == "yours"  # yours stay
    assert sorted(p.name for p in runs.iterdir()) == [".again.lock", "again"]


def _finished_run(runs, name, n_train, epochs, accuracy=0.99):
    (runs / name).mkdir(parents=True)
    metrics = {"n_train": n_train, "test_accuracy": accuracy, "config": {"epochs": epochs}}
    (runs / name / "metrics.json").write_text(json.dumps(metrics))


def test_a_smaller_run_never_replaces_a_larger_one(runs):
    _finished_run(runs, "default", n_train=55_000, epochs=6, accuracy=0.9946)
    smaller = TrainConfig(
        epochs=1, batch_size=60, run_name="default", n_train=120, validation_size=40
    )
    message = (
        r"runs/default/ holds a larger run \(6 epochs on 55,000 images, test accuracy 99.46%\) "
        r"than this one \(1 epoch on 120 images\).*Choose another run_name"
    )
    with pytest.raises(RunExistsError, match=message):
        train(smaller, data=tiny_data(n_train=120), verbose=0)
    assert json.loads((runs / "default" / "metrics.json").read_text())["n_train"] == 55_000
    # fewer epochs on as many images is smaller too
    _finished_run(runs, "long", n_train=120, epochs=5)
    with pytest.raises(RunExistsError, match="5 epochs on 120 images"):
        train(dataclasses.replace(smaller, run_name="long"), data=tiny_data(), verbose=0)


@pytest.mark.slow
def test_a_run_as_large_or_larger_replaces_the_old_one(runs):
    _finished_run(runs, "same", n_train=120, epochs=1, accuracy=0.5)
    _finished_run(runs, "broken", n_train=120, epochs=1)
    (runs / "broken" / "metrics.json").write_text("{not json")
    config = TrainConfig(epochs=1, batch_size=60, n_train=120, validation_size=40)
    for name in ("same", "broken"):
        train(dataclasses.replace(config, run_name=name), data=tiny_data(), verbose=0)
        assert json.loads((runs / name / "metrics.json").read_text())["test_accuracy"] != 0.5


def _stop_after_first_epoch():
    import keras

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt  # as Ctrl-C in the middle of a run

    return Stop()


@pytest.mark.slow
def test_an_interrupted_rerun_keeps_the_earlier_run_whole(runs):
    data = tiny_data(n_train=120, n_val=40)
    config = TrainConfig(epochs=2, batch_size=60, run_name="kept", n_train=120, validation_size=40)
    train(config, data=data, verbose=0)
    run = runs / "kept"
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    with pytest.raises(KeyboardInterrupt):
        train(config, data=data, verbose=0, callbacks=[_stop_after_first_epoch()])
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    assert sorted(p.name for p in runs.iterdir()) == [".kept.lock", "kept"]  # no leftovers


def test_a_second_training_of_the_same_run_at_once_is_refused(runs):
    config = TrainConfig(epochs=1, batch_size=60, run_name="busy", n_train=120, validation_size=40)
    with new_run_folder("busy") as first:  # what a first training holds while it runs
        (first / "model.keras").write_text("the first training's")
        with pytest.raises(RunInUseError, match="run 'busy' is being trained by another process"):
            train(config, data=tiny_data(), verbose=0)
        assert not (runs / "busy").exists()
    assert (runs / "busy" / "model.keras").read_text() == "the first training's"
    train(config, data=tiny_data(), verbose=0)  # free again once the first has finished


@pytest.mark.slow
def test_a_second_process_cannot_train_the_same_run_at_once(runs):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from mnist_helpers.training import new_run_folder\n"
            "with new_run_folder('shared'):\n"
            "    print('holding', flush=True)\n"
            "    sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "holding\n"
        with pytest.raises(RunInUseError):
            with new_run_folder("shared"):
                pass
    finally:
        holder.communicate("", timeout=60)
    assert holder.returncode == 0 and (runs / "shared").is_dir()
    with new_run_folder("shared"):  # the lock went with the process
        pass


def test_run_names_never_leave_the_runs_folder(workspace):
    (workspace / "model.keras").write_text("the course checkout's file")
    config = TrainConfig(epochs=1, batch_size=60, run_name="..", n_train=120, validation_size=40)
    with pytest.raises(ValueError, match="run_name must be a plain folder name"):
        train(config, data=tiny_data(), verbose=0)
    assert (workspace / "model.keras").read_text() == "the course checkout's file"
    assert sorted(p.name for p in workspace.iterdir()) == ["model.keras"]


def test_your_own_callbacks_run_once_per_epoch_after_the_courses_and_see_the_logs(runs):
    """04 adds a learner's callback with train(config, callbacks=[...])."""
    import keras
    import pandas as pd

    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            # the run is written to a new folder, renamed runs/own/ once complete
            (history_csv,) = runs.glob(".own~*/history.csv")
            rows = len(pd.read_csv(history_csv))
            seen.append((epoch, dict(logs), rows))

    lambda_epochs = []
    lambda_callback = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: lambda_epochs.append(epoch)
    )
    config = TrainConfig(
        architecture="keras_example",
        epochs=2,
        batch_size=60,
        run_name="own",
        n_train=120,
        validation_size=40,
    )
    result = train(config, data=tiny_data(), verbose=0, callbacks=[Record(), lambda_callback])
    assert [epoch for epoch, _, _ in seen] == [0, 1] and lambda_epochs == [0, 1]
    for epoch, logs, rows in seen:
        assert logs["val_accuracy"] == pytest.approx(result.history["val_accuracy"][epoch])
        assert logs["loss"] == pytest.approx(result.history["loss"][epoch])
        assert rows == epoch + 1, "the course's CSV log has already written this epoch's row"
    assert result.metrics["epochs_run"] == 2


@pytest.mark.parametrize(
    ("callbacks", "message"),
    [
        (lambda k: k.callbacks.History(), r"got a single History: wrap it in a list"),
        (lambda k: [k.callbacks.History], r"callbacks\[0\] is the class History itself.*\(\)\]"),
        (
            lambda k: [k.callbacks.History(), print],
            r"callbacks\[1\] must be a keras.callbacks.Callback object, got builtin_function",
        ),
        (lambda k: "History", r"must be a list of keras.callbacks.Callback objects, got str"),
    ],
    ids=["not in a list", "a class", "a function", "a string"],
)
def test_bad_callbacks_are_refused_before_anything_is_trained_or_written(callbacks, message, runs):
    import keras

    config = TrainConfig(epochs=1, batch_size=60, run_name="bad", n_train=120, validation_size=40)
    with pytest.raises(TypeError, match=message):
        train(config, data=tiny_data(), verbose=0, callbacks=callbacks(keras))
    assert not (runs / "bad").exists()
