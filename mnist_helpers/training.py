"""Train a model reproducibly into ``runs/<run_name>/``: ``model.keras`` (the best epoch's,
which plain Keras loads), ``history.csv``, ``metrics.json`` (scores, seconds, versions,
every setting) and, if asked for, TensorBoard logs in ``logs/``. Taught in 04."""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from mnist_helpers.checks import check_bool, check_choice, check_int, check_number
from mnist_helpers.data import MnistData, load_mnist
from mnist_helpers.files import PARTIAL, atomic_path, staged_folder, write_text_atomic
from mnist_helpers.models import MODEL_VARIANTS, build_model, inference_model
from mnist_helpers.paths import check_run_name, runs_dir

#: Named settings for notebook 04: ``full`` is the course's recipe, ``smoke`` a quick run
#: that must still learn: reach its ``ACCURACY_FLOORS`` (chance is 10 %). Each saves to a
#: folder of its own (``runs/default``, ``runs/smoke``): a quick run never replaces the
#: model that 05, 06 and 07 use.
PROFILES: dict[str, dict] = {
    "full": {"epochs": 6, "n_train": None, "run_name": "default"},
    "smoke": {"epochs": 2, "n_train": 6000, "run_name": "smoke"},
}
ACCURACY_FLOORS: dict[str, float] = {"full": 0.993, "smoke": 0.90}
#: The Keras example's own recipe (keras.io's "Simple MNIST convnet"): Adam at 0.001,
#: constant, in batches of 128.
KERAS_EXAMPLE_RECIPE = {
    "architecture": "keras_example",
    "batch_size": 128,
    "learning_rate": 1e-3,
    "lr_schedule": "constant",
}
#: Runs of fewer gradient steps get their batch normalisation re-estimated after training.
SHORT_RUN_STEPS = 200
#: Training steps that :func:`train` runs per call into TensorFlow's compiled graph (Keras'
#: ``steps_per_execution``): fewer round trips through Python, the very same numbers. Your
#: callbacks' batch hooks then see every 8th step (their epoch hooks, every epoch).
STEPS_PER_EXECUTION = 8


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's ops deterministic: same
    seed, same machine, same thread count, same numbers. Taught in 04."""
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


@dataclass
class TrainConfig:
    """Every setting of a training run; 04's parameters cell mirrors these fields."""

    architecture: str = "cnn"
    epochs: int = 6
    batch_size: int = 256
    learning_rate: float = 6e-3
    lr_schedule: str = "warmup_cosine"
    seed: int = 42
    n_train: int | None = None
    validation_size: int = 5000
    run_name: str = "default"
    tensorboard: bool = False
    early_stopping_patience: int = 3
    augment_geometry: bool = False  # 08's shifts, turns and zooms (the appearance ones: in cnn)

    def validate(self) -> TrainConfig:
        """Check every field and raise a ValueError that names the bad one; return self."""
        hint = "set it in the parameters cell"
        example = f"{hint}, e.g. architecture='cnn'"
        check_choice("architecture", self.architecture, MODEL_VARIANTS, example)
        minimums = dict(
            epochs=1, batch_size=1, seed=0, validation_size=0, early_stopping_patience=1
        )
        for name, minimum in minimums.items():
            example = f"{name}={getattr(TrainConfig, name)}"
            check_int(name, getattr(self, name), minimum, hint=f"{hint}, e.g. {example}")
        if self.n_train is not None:
            check_int("n_train", self.n_train, 10, hint=f"{hint}, e.g. n_train=6000")
            available = 60_000 - self.validation_size
            if self.n_train > available:
                raise ValueError(
                    f"n_train must be at most {available:,} (60,000 training images minus "
                    f"validation_size={self.validation_size:,}), got {self.n_train:,} ({hint}, "
                    "or n_train=None for all of them)"
                )
        check_number("learning_rate", self.learning_rate, 0, 1, low_open=True, hint=hint)
        check_bool("augment_geometry", self.augment_geometry, hint)
        check_bool("tensorboard", self.tensorboard, hint)
        check_choice("lr_schedule", self.lr_schedule, ("warmup_cosine", "constant"), hint)
        try:
            check_run_name(self.run_name)
        except ValueError as err:
            raise ValueError(f"{err} ({hint})") from None
        return self


def config_from_profile(profile: str, **overrides) -> TrainConfig:
    """A validated :class:`TrainConfig`: the profile's settings, then ``overrides`` (those
    that are ``None`` keep the profile's value). Taught in 04."""
    check_choice("profile", profile, PROFILES, "set it in the parameters cell, e.g. profile='full'")
    settings = PROFILES[profile] | {k: v for k, v in overrides.items() if v is not None}
    unknown = set(settings) - set(TrainConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}")
    return TrainConfig(**settings).validate()


def learning_rate_schedule(config: TrainConfig, steps_per_epoch: int):
    """The learning rate per step: a number (``constant``), or a linear warm-up over the
    first eighth of the steps then a cosine decay (``warmup_cosine``). Taught in 04."""
    if config.lr_schedule == "constant":
        return config.learning_rate
    total = max(1, config.epochs * steps_per_epoch)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate / 30,
        decay_steps=total - total // 8,
        warmup_target=config.learning_rate,
        warmup_steps=total // 8,
    )


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """Adam with the run's :func:`learning_rate_schedule`. Taught in 04."""
    return keras.optimizers.Adam(learning_rate_schedule(config, steps_per_epoch))


def compile_model(
    model: keras.Model, config: TrainConfig, steps_per_epoch: int, steps_per_execution: int = 1
) -> keras.Model:
    """Compile ``model`` as :func:`train` does (:func:`make_optimizer`, cross-entropy on the
    digit labels, accuracy; ``train`` passes :data:`STEPS_PER_EXECUTION`) and return it."""
    model.compile(
        make_optimizer(config, steps_per_epoch),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model


def batch_norm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """Every ``BatchNormalization`` layer of ``model``, also inside nested models, in order."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(batch_norm_layers(layer))
    return found


def reestimate_batch_norm(model: keras.Model, x: np.ndarray) -> int:
    """Set batch normalisation's running statistics (which, after a short run, still mix in
    its first steps') to their plain average over batches of 250 of up to 10,000 images of
    ``x`` passed in training mode; the weights stay. Returns how many layers. Taught in 04."""
    layers = batch_norm_layers(model)
    if not layers or len(x) == 0:
        return 0
    momenta = [layer.momentum for layer in layers]
    try:
        for k, start in enumerate(range(0, min(len(x), 10_000), 250)):
            for layer in layers:  # k/(k+1): the running value becomes the mean of k+1 batches
                layer.momentum = k / (k + 1)
            model(x[start : start + 250], training=True)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
    return len(layers)


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained model, its history, metrics and run folder."""

    model: keras.Model
    history: pd.DataFrame
    metrics: dict
    run_dir: Path
    config: TrainConfig = field(repr=False)


def run_callbacks(
    config: TrainConfig, run_dir: Path, validation: bool = True
) -> list[keras.callbacks.Callback]:
    """The Keras callbacks :func:`train` gives ``fit``: the best epoch kept in
    ``run_dir/checkpoint.keras`` (without ``validation``, the last), early stopping (with
    it), ``history.csv`` and TensorBoard logs if asked for. Taught in 04."""
    checkpoint = run_dir / "checkpoint.keras"
    save = keras.callbacks.ModelCheckpoint(checkpoint, "val_accuracy", save_best_only=validation)
    callbacks = [save]
    if validation:
        patience = config.early_stopping_patience
        stop = keras.callbacks.EarlyStopping(
            "val_accuracy", patience=patience, restore_best_weights=True
        )
        callbacks.append(stop)
    callbacks.append(keras.callbacks.CSVLogger(run_dir / "history.csv"))
    if config.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "logs")))
    return callbacks


class RunInUseError(RuntimeError):
    """Another process is training a run of the same name right now."""


class RunExistsError(FileExistsError):
    """A larger finished run has the name a smaller run asked for."""


@contextmanager
def _locked(lock_file: Path, run_name: str) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (released by the system if the process dies)."""
    with open(lock_file, "a+b") as handle:  # closing the file releases the lock
        try:
            if os.name == "nt":
                import msvcrt

                handle.seek(0)  # every process locks the same first byte
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RunInUseError(
                f"run {run_name!r} is being trained by another process right now (it holds "
                f"{lock_file}): wait for it to finish, or choose another run_name"
            ) from None
        yield


def _copy_your_files(old: Path, new: Path) -> None:
    """Copy into ``new`` what ``old`` holds besides what training and exports made (notes,
    a sweep's record of its parameters): a new run replaces the model, not your files."""
    made = ("metrics.json", "history.csv", "checkpoint.keras", "logs")
    for item in old.iterdir():
        name = item.name
        if name in made or name.startswith("model") or PARTIAL in name or (new / name).exists():
            continue
        if item.is_dir():
            shutil.copytree(item, new / item.name, symlinks=True)
        else:
            shutil.copy2(item, new / item.name, follow_symlinks=False)


@contextmanager
def new_run_folder(run_name: str) -> Iterator[Path]:
    """Give an empty folder that becomes ``runs/<run_name>/`` when the block succeeds (see
    :func:`~mnist_helpers.files.staged_folder`), with the files you put in the old one;
    meanwhile another ``new_run_folder(run_name)`` raises :class:`RunInUseError`."""
    root = runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    final = root / run_name
    with _locked(root / f".{run_name}.lock", run_name):
        # '~' cannot be in a run name: these are left by this run's killed processes only
        for leftover in root.glob(f".{run_name}~*{PARTIAL}"):
            shutil.rmtree(leftover, ignore_errors=True)
        with staged_folder(final) as staging:
            yield staging
            if final.is_dir():
                _copy_your_files(final, staging)


def training_images(config: TrainConfig) -> int:
    """How many training images ``config`` trains on: ``n_train``, or all 60,000 but the
    validation set."""
    return config.n_train or 60_000 - config.validation_size


def check_data_matches(config: TrainConfig, data: MnistData) -> None:
    """Raise a ValueError if ``data`` is not the split ``config`` describes (``metrics.json``
    would record settings the run did not use)."""
    n_train = training_images(config)
    wanted = {"training": n_train, "validation": config.validation_size}
    got = {"training": len(data.x_train), "validation": len(data.x_val)}
    for split, count in wanted.items():
        if got[split] != count:
            raise ValueError(
                f"data has {got[split]:,} {split} images but the config asks for {count:,} "
                f"(n_train={config.n_train!r}, validation_size={config.validation_size!r}): "
                "load the data with the same n_train and validation_size, e.g. "
                "load_mnist(n_train=config.n_train, validation_size=config.validation_size, "
                "seed=config.seed), or leave data=None"
            )
    if len(data.y_train) != len(data.x_train) or len(data.y_val) != len(data.x_val):
        raise ValueError("data has a different number of images and labels in a split")


def check_not_replacing_a_larger_run(config: TrainConfig) -> None:
    """Raise :class:`RunExistsError` if ``runs/<config.run_name>/`` holds a finished run that
    saw more training images or ran more epochs than ``config`` asks for: a quick run must not
    replace a full one (say, the model 05, 06 and 07 use) by accident. A run of the same size
    or larger replaces it, as does any folder without a readable ``metrics.json``."""
    try:
        old = json.loads((runs_dir() / config.run_name / "metrics.json").read_bytes())
        old_images, old_epochs = int(old["n_train"]), int(old["config"]["epochs"])
    except (OSError, ValueError, KeyError, TypeError):
        return  # nothing finished there (or nothing we can read): nothing to protect
    images = training_images(config)
    if old_images <= images and old_epochs <= config.epochs:
        return
    accuracy = old.get("test_accuracy")
    scored = f", test accuracy {accuracy:.2%}" if isinstance(accuracy, float) else ""

    def size(epochs: int, n: int) -> str:
        return f"{epochs} epoch{'s' * (epochs != 1)} on {n:,} images"

    raise RunExistsError(
        f"runs/{config.run_name}/ holds a larger run ({size(old_epochs, old_images)}{scored}) "
        f"than this one ({size(config.epochs, images)}), which "
        "would replace it. Choose another run_name (04's smoke profile saves to runs/smoke), "
        f"or delete {runs_dir() / config.run_name} first if you really mean to replace it."
    )


def check_callbacks(callbacks: object) -> list[keras.callbacks.Callback]:
    """Return ``callbacks`` (``None``: none) as a list of Keras callback objects, or raise a
    TypeError that says what to pass instead (one callback not in a list, a class)."""
    if callbacks is None:
        return []
    wanted = "callbacks must be a list of keras.callbacks.Callback objects, got"
    if isinstance(callbacks, keras.callbacks.Callback):
        name = type(callbacks).__name__
        raise TypeError(f"{wanted} a single {name}: wrap it in a list, callbacks=[{name}(...)]")
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(
            f"{wanted} {type(callbacks).__name__} {callbacks!r:.60} (pass a list of callback "
            "objects, e.g. callbacks=[MyCallback()])"
        )
    for index, item in enumerate(callbacks):
        if isinstance(item, type) and issubclass(item, keras.callbacks.Callback):
            raise TypeError(
                f"callbacks[{index}] is the class {item.__name__} itself, not a callback object: "
                f"create one with parentheses, callbacks=[{item.__name__}()]"
            )
        if not isinstance(item, keras.callbacks.Callback):
            raise TypeError(
                f"callbacks[{index}] must be a keras.callbacks.Callback object, got "
                f"{type(item).__name__} {item!r:.60} (subclass keras.callbacks.Callback, or use "
                "keras.callbacks.LambdaCallback, and put the object in the list)"
            )
    return list(callbacks)


def train(
    config: TrainConfig,
    data: MnistData | None = None,
    verbose: int = 2,
    callbacks: list[keras.callbacks.Callback] | None = None,
) -> TrainResult:
    """Train ``config.architecture`` on MNIST (or on ``data``, loaded with ``config``'s
    split) with :func:`make_optimizer` and :func:`run_callbacks`, then your ``callbacks``;
    save :func:`~mnist_helpers.models.inference_model` and the metrics in a
    :func:`new_run_folder`. Returns a :class:`TrainResult` (its model keeps its training-only
    layers). Taught in 04."""
    import tensorflow as tf

    from mnist_helpers import __version__

    config.validate()
    own_callbacks = check_callbacks(callbacks)
    if data is not None:
        check_data_matches(config, data)
    check_not_replacing_a_larger_run(config)
    with new_run_folder(config.run_name) as run_dir:
        seed_everything(config.seed)
        if data is None:
            data = load_mnist(
                n_train=config.n_train, validation_size=config.validation_size, seed=config.seed
            )
        model = build_model(config.architecture, augment_geometry=config.augment_geometry)
        steps = math.ceil(len(data.x_train) / config.batch_size)
        compile_model(model, config, steps, STEPS_PER_EXECUTION)
        has_val = len(data.x_val) > 0
        start = time.perf_counter()
        fit = model.fit(
            data.x_train,
            data.y_train,
            validation_data=(data.x_val, data.y_val) if has_val else None,
            epochs=config.epochs,
            batch_size=config.batch_size,
            callbacks=run_callbacks(config, run_dir, validation=has_val) + own_callbacks,
            verbose=verbose,
        )
        train_seconds = time.perf_counter() - start
        # from here on one batch per call: predicting in groups of 8 batches would trace a
        # new TensorFlow function for every leftover group size (5,000 images: 5 batches)
        model.steps_per_execution = 1
        model.make_test_function(force=True)
        model.make_predict_function(force=True)
        # the model in memory holds the checkpoint's weights: early stopping put the best
        # epoch's back, or (no validation set) both hold the last epoch
        short_run = steps * len(fit.history["loss"]) < SHORT_RUN_STEPS
        reestimated = short_run and reestimate_batch_norm(model, data.x_train) > 0
        with atomic_path(run_dir / "model.keras") as tmp:
            inference_model(model).save(tmp)
        (run_dir / "checkpoint.keras").unlink(missing_ok=True)
        val_accuracy = None  # of the saved model, after any re-estimation
        if has_val:
            _, val_accuracy = model.evaluate(data.x_val, data.y_val, 1000, verbose=0)
        test_loss, test_accuracy = model.evaluate(data.x_test, data.y_test, 1000, verbose=0)
        history = pd.DataFrame(fit.history)
        history.index.name = "epoch"
        versions = {package.__name__: package.__version__ for package in (tf, keras, np)}
        versions.update(python=platform.python_version(), mnist_helpers=__version__)
        metrics = {
            "test_accuracy": float(test_accuracy),
            "val_accuracy": None if val_accuracy is None else float(val_accuracy),
            "test_loss": float(test_loss),
            "parameters": int(model.count_params()),
            "train_seconds": round(train_seconds, 2),
            "epochs_run": len(history),
            "best_epoch": int(history["val_accuracy"].idxmax()) + 1 if has_val else len(history),
            "batch_norm_reestimated": reestimated,
            "n_train": len(data.x_train),
            "seed": config.seed,
            "config": asdict(config),
            "versions": versions,
            "cpu_count": os.cpu_count(),
        }
        text = json.dumps(metrics, indent=2, sort_keys=True) + "\n"
        write_text_atomic(run_dir / "metrics.json", text)
    return TrainResult(model, history, metrics, runs_dir() / config.run_name, config)
