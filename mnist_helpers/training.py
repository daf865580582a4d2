"""Train a model reproducibly and keep everything a run produced in ``runs/<run_name>/``.

A run folder holds ``model.keras`` (the best epoch's model), ``history.csv`` (one row per
epoch), ``metrics.json`` (test accuracy and loss, parameters, seconds, versions, seed and every
setting) and, if asked for, TensorBoard logs in ``logs/``. Taught in 03.
"""

from __future__ import annotations

import json
import math
import os
import platform
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from mnist_helpers.data import MnistData, load_mnist
from mnist_helpers.files import PARTIAL, atomic_path, write_text_atomic
from mnist_helpers.models import MODEL_VARIANTS, build_model
from mnist_helpers.paths import check_run_name, runs_dir

#: Named settings for notebook 03: ``full`` is the course's recipe, ``smoke`` a quick run
#: (about 10 s of training on 2 cores) that must still learn: see :data:`ACCURACY_FLOORS`.
PROFILES: dict[str, dict] = {
    "full": {"epochs": 7, "n_train": None},
    "smoke": {"epochs": 2, "n_train": 6000},
}

#: The test accuracy each profile of 03 must reach with the course's CNN. An untrained or
#: broken model scores about 10 % (chance), so both floors tell learning from not learning.
ACCURACY_FLOORS: dict[str, float] = {"full": 0.993, "smoke": 0.90}

#: Runs with fewer gradient steps than this get their batch-normalisation statistics
#: re-estimated on the training images after training (:func:`reestimate_batch_norm`).
SHORT_RUN_STEPS = 200


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's ops deterministic.

    Same seed, same machine, same thread count: same numbers, to the last bit.
    Taught in 03.
    """
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


@dataclass
class TrainConfig:
    """Every setting of a training run; the parameters cell of 03 mirrors these fields.

    ``model`` is the name of the architecture to build
    (:data:`~mnist_helpers.models.MODEL_VARIANTS`); 03's parameter for it is called
    ``architecture``, so that in the notebooks ``model`` is always a Keras model.
    """

    model: str = "cnn"
    epochs: int = 7
    batch_size: int = 128
    learning_rate: float = 3e-3
    lr_schedule: str = "warmup_cosine"
    seed: int = 42
    n_train: int | None = None
    validation_size: int = 5000
    run_name: str = "default"
    tensorboard: bool = False
    early_stopping_patience: int = 3
    augment: bool = False

    def validate(self) -> TrainConfig:
        """Check every field and raise a ValueError that names the bad one; return self."""
        hint = "set it in the parameters cell"

        def positive_int(name: str, value: object, minimum: int = 1) -> None:
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, np.integer))
                or value < minimum
            ):
                raise ValueError(
                    f"{name} must be an integer >= {minimum}, got {value!r} ({hint}, "
                    f"e.g. {name}={asdict(TrainConfig())[name] or minimum})"
                )

        if self.model not in MODEL_VARIANTS:
            raise ValueError(
                f"model must be one of {', '.join(map(repr, MODEL_VARIANTS))}, got "
                f"{self.model!r} (the architecture's name: set `architecture` in 03's parameters "
                "cell, e.g. architecture='cnn')"
            )
        positive_int("epochs", self.epochs)
        positive_int("batch_size", self.batch_size)
        positive_int("seed", self.seed, minimum=0)
        positive_int("validation_size", self.validation_size, minimum=0)
        positive_int("early_stopping_patience", self.early_stopping_patience)
        if self.n_train is not None:
            positive_int("n_train", self.n_train, minimum=10)
            available = 60_000 - self.validation_size
            if self.n_train > available:
                raise ValueError(
                    f"n_train must be at most {available:,} (60,000 training images minus "
                    f"validation_size={self.validation_size:,}), got {self.n_train:,} ({hint}, "
                    "or n_train=None for all of them)"
                )
        lr = self.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr <= 1:
            raise ValueError(f"learning_rate must be a number in (0, 1], got {lr!r} ({hint})")
        if not isinstance(self.augment, bool):
            raise ValueError(f"augment must be True or False, got {self.augment!r} ({hint})")
        if not isinstance(self.tensorboard, bool):
            raise ValueError(f"tensorboard must be True or False, got {self.tensorboard!r}")
        if self.lr_schedule not in ("warmup_cosine", "constant"):
            raise ValueError(
                f"lr_schedule must be 'warmup_cosine' or 'constant', got {self.lr_schedule!r}"
            )
        try:
            check_run_name(self.run_name)
        except ValueError as err:
            raise ValueError(f"{err} ({hint})") from None
        return self


def config_from_profile(profile: str, **overrides) -> TrainConfig:
    """Return a validated :class:`TrainConfig`: the profile's settings, then ``overrides``.

    ``overrides`` whose value is ``None`` keep the profile's value, except ``n_train``,
    which papermill passes explicitly. Taught in 03.
    """
    if profile not in PROFILES:
        raise ValueError(
            f"profile must be one of {', '.join(map(repr, PROFILES))}, got {profile!r} "
            "(set it in the parameters cell, e.g. profile='full')"
        )
    settings = dict(PROFILES[profile])
    settings.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(settings) - set(TrainConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}")
    return TrainConfig(**settings).validate()


def learning_rate_schedule(config: TrainConfig, steps_per_epoch: int):
    """Return the learning rate per step: a number, or a linear warm-up then cosine decay.

    The warm-up (first quarter of the steps) lets batch normalisation's statistics settle
    before the large steps; the cosine decay ends with tiny careful steps. Call the schedule
    with a step number to see its value. Taught in 03.
    """
    if config.lr_schedule == "constant":
        return config.learning_rate
    total = max(1, config.epochs * steps_per_epoch)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate / 30,
        decay_steps=total - total // 4,
        warmup_target=config.learning_rate,
        warmup_steps=total // 4,
    )


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """Adam with the run's :func:`learning_rate_schedule`. Taught in 03."""
    return keras.optimizers.Adam(learning_rate_schedule(config, steps_per_epoch))


def batch_norm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """Every ``BatchNormalization`` layer of ``model``, also inside nested models, in order."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(batch_norm_layers(layer))
    return found


def reestimate_batch_norm(
    model: keras.Model, x: np.ndarray, batch_size: int = 250, max_images: int = 10_000
) -> int:
    """Replace batch normalisation's running statistics by their average over ``x``.

    During training each ``BatchNormalization`` layer keeps running averages of the mean and
    variance of its inputs (``moving = momentum * moving + (1 - momentum) * batch``) and uses
    them at test time. After a long run they describe the final network well. After a short
    one (a few dozen steps) they still mix in the statistics of the very different networks
    of the first steps, and the test accuracy can sit at chance although training went fine.
    This passes up to ``max_images`` training images through the model in training mode, in
    batches, and sets every running statistic to the plain average over those batches (the
    weights are not changed). ``train`` does it after runs shorter than
    :data:`SHORT_RUN_STEPS` steps.

    Args:
        model: a trained model (nothing happens if it has no batch normalisation).
        x: training images, shaped like the model's input.
        batch_size: images per forward pass.
        max_images: how many images of ``x`` to use at most.

    Returns:
        The number of batch-normalisation layers updated.

    Taught in 03.
    """
    layers = batch_norm_layers(model)
    if not layers or len(x) == 0:
        return 0
    momenta = [layer.momentum for layer in layers]
    try:
        for k, start in enumerate(range(0, min(len(x), max_images), batch_size)):
            for layer in layers:  # k/(k+1): the running value becomes the mean of k+1 batches
                layer.momentum = k / (k + 1)
            model(x[start : start + batch_size], training=True)
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


def _versions() -> dict[str, str]:
    import tensorflow as tf

    from mnist_helpers import __version__

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "mnist_helpers": __version__,
    }


def _write_json_atomic(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def run_callbacks(
    config: TrainConfig, run_dir: Path, validation: bool = True
) -> list[keras.callbacks.Callback]:
    """The Keras callbacks :func:`train` gives ``fit``, writing into ``run_dir``.

    With a validation set: ``ModelCheckpoint`` keeps the epoch with the best validation
    accuracy in ``checkpoint.keras``, ``EarlyStopping`` stops after
    ``config.early_stopping_patience`` epochs without improvement and puts the best weights
    back. Without one, nothing honest can choose an epoch (the training accuracy is measured
    with dropout and augmentation on), so the checkpoint simply holds the last epoch and
    nothing stops early. Always: ``CSVLogger`` (``history.csv``); ``TensorBoard`` (``logs/``)
    if ``config.tensorboard``. Taught in 03.
    """
    checkpoint = run_dir / "checkpoint.keras"
    if validation:
        callbacks = [
            keras.callbacks.ModelCheckpoint(
                checkpoint, monitor="val_accuracy", save_best_only=True
            ),
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy",
                patience=config.early_stopping_patience,
                restore_best_weights=True,
            ),
        ]
    else:
        callbacks = [keras.callbacks.ModelCheckpoint(checkpoint)]
    callbacks.append(keras.callbacks.CSVLogger(run_dir / "history.csv"))
    if config.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "logs")))
    return callbacks


class RunInUseError(RuntimeError):
    """Another process is training a run of the same name right now."""


@contextmanager
def _locked(lock_file: Path, run_name: str) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (released by the system if the process dies)."""
    handle = open(lock_file, "a+b")
    try:
        try:
            if os.name == "nt":
                import msvcrt

                handle.seek(0)
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
    finally:
        handle.close()  # closing the file releases the lock


def _is_run_output(name: str) -> bool:
    """Whether a file of a run folder was made by training, or from its model (an export
    such as ``model.tflite`` or ``model.onnx``, and the record of what it was made from)."""
    made_by_training = ("metrics.json", "history.csv", "checkpoint.keras", "logs")
    return name in made_by_training or name.startswith("model")


def _copy_your_files(old: Path, new: Path) -> None:
    """Copy into ``new`` what ``old`` holds besides the old model's files (notes, a sweep's
    record of its parameters): a new run replaces the model, not what you put beside it."""
    for item in old.iterdir():
        if _is_run_output(item.name) or PARTIAL in item.name or (new / item.name).exists():
            continue
        if item.is_dir():
            shutil.copytree(item, new / item.name, symlinks=True)
        else:
            shutil.copy2(item, new / item.name, follow_symlinks=False)


def _remove(path: Path) -> None:
    """Remove a file or a folder tree, if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def new_run_folder(run_name: str) -> Iterator[Path]:
    """Give an empty folder to write run ``run_name`` into; it becomes ``runs/<run_name>/``
    only when the block succeeds.

    While the block runs, an earlier run of that name stays as it was, and a second
    ``new_run_folder`` of the same name raises :class:`RunInUseError`. When the block
    succeeds, the files you put in the old folder yourself are copied into the new one, which
    then replaces the old one (two renames): the old model, metrics, history and exports go.
    If the block fails or is interrupted (Ctrl-C), the new folder is removed and the old run
    is kept. Used by :func:`train`.
    """
    root = runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f".{run_name}.lock", run_name):
        # '~' cannot be in a run name, so these are this run's leftovers and no other's
        for leftover in root.glob(f".{run_name}~*{PARTIAL}"):
            _remove(leftover)
        staging = root / f".{run_name}~{secrets.token_hex(4)}{PARTIAL}"
        staging.mkdir()
        try:
            yield staging
            final = root / run_name
            if final.is_dir():
                _copy_your_files(final, staging)
            if final.exists():
                retired = root / f".{run_name}~old-{secrets.token_hex(4)}{PARTIAL}"
                os.replace(final, retired)
                os.replace(staging, final)
                _remove(retired)
            else:
                os.replace(staging, final)
        finally:
            _remove(staging)  # gone already after a success


def check_data_matches(config: TrainConfig, data: MnistData) -> None:
    """Raise a ValueError if ``data`` is not the split ``config`` describes.

    ``train(config, data=...)`` reuses data loaded earlier; if it was loaded with other
    settings, ``metrics.json`` would record settings the run did not use.
    """
    n_train = config.n_train or 60_000 - config.validation_size
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


def save_model_atomic(model: keras.Model, path: Path) -> Path:
    """Save ``model`` to ``path`` (a ``.keras`` file) through a temporary file, then rename."""
    with atomic_path(path) as tmp:
        model.save(tmp)
    return path


def check_callbacks(callbacks: object) -> list[keras.callbacks.Callback]:
    """Return ``callbacks`` as a list, or raise a TypeError that says what to pass instead.

    ``train(config, callbacks=...)`` takes a list of Keras callback *objects*; ``None`` means
    none. Two slips are common and named in the message: one callback not wrapped in a list
    (``callbacks=MyCallback()``), and the class where an object is needed
    (``callbacks=[MyCallback]``).
    """
    fix = "pass a list of callback objects, e.g. callbacks=[MyCallback()]"
    if callbacks is None:
        return []
    if isinstance(callbacks, keras.callbacks.Callback):
        name = type(callbacks).__name__
        raise TypeError(
            f"callbacks must be a list of keras.callbacks.Callback objects, got a single "
            f"{name}: wrap it in a list, callbacks=[{name}(...)]"
        )
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(
            "callbacks must be a list of keras.callbacks.Callback objects, got "
            f"{type(callbacks).__name__} {callbacks!r:.60} ({fix})"
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
    """Train ``config.model`` on MNIST and save the run in ``runs/<config.run_name>/``.

    Steps: seed everything; load the data (a stratified ``validation_size`` split held out
    of the training set, optionally only ``n_train`` training images); compile with Adam and
    the learning-rate schedule; fit with Keras callbacks (best-model checkpoint on validation
    accuracy, early stopping that restores the best weights, CSV log, optional TensorBoard,
    then ``callbacks``, your own);
    with no validation set (``validation_size=0``) nothing honest can choose an epoch, so
    the last epoch is kept and nothing stops early;
    after a short run (fewer than :data:`SHORT_RUN_STEPS` steps), re-estimate batch
    normalisation's statistics (:func:`reestimate_batch_norm`); evaluate on the 10,000 test
    images; write ``model.keras`` and ``metrics.json``. Everything is written to a new
    folder (:func:`new_run_folder`): an earlier run of the same name stays as it was until the
    new one is complete, then is replaced, exports included (``model.tflite``, ``model.onnx``:
    they belong to the old model); files you put there yourself are kept. Interrupted, the
    new run leaves nothing and the old one is kept.

    Args:
        config: the run's settings (validated again here).
        data: already loaded data to reuse; it must match ``config``'s split (as many
            training images as ``n_train``, or all 60,000 minus ``validation_size``, and
            ``validation_size`` validation images), else a ValueError says what differs.
            Default: load it.
        verbose: Keras' fit verbosity (2 = one line per epoch, 0 = silent).
        callbacks: your own Keras callbacks (a list of ``keras.callbacks.Callback``
            objects), called after the course's own (:func:`run_callbacks`): to print or
            record something at each epoch or step without editing this package. Checked
            before anything is trained or written: anything else raises a TypeError that
            says what to pass.

    Returns:
        A :class:`TrainResult`.

    Raises:
        RunInUseError: another process is training a run of the same name right now.

    Taught in 03.
    """
    config.validate()
    own_callbacks = check_callbacks(callbacks)
    if data is not None:
        check_data_matches(config, data)
    # the run is written to a new folder that replaces runs/<run_name>/ only when complete:
    # until then the earlier run of that name (model, metrics, exports) is left as it was
    with new_run_folder(config.run_name) as run_dir:
        model, history, metrics = _train_into(run_dir, config, data, verbose, own_callbacks)
    return TrainResult(
        model=model,
        history=history,
        metrics=metrics,
        run_dir=runs_dir() / config.run_name,
        config=config,
    )


def _train_into(
    run_dir: Path,
    config: TrainConfig,
    data: MnistData | None,
    verbose: int,
    own_callbacks: list[keras.callbacks.Callback],
) -> tuple[keras.Model, pd.DataFrame, dict]:
    """The work of :func:`train`, writing the run's files into ``run_dir``."""
    seed_everything(config.seed)
    if data is None:
        data = load_mnist(
            n_train=config.n_train, validation_size=config.validation_size, seed=config.seed
        )

    model = build_model(config.model, augment=config.augment)
    steps = math.ceil(len(data.x_train) / config.batch_size)
    model.compile(
        optimizer=make_optimizer(config, steps),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    has_val = len(data.x_val) > 0
    checkpoint = run_dir / "checkpoint.keras"
    callbacks = run_callbacks(config, run_dir, validation=has_val) + own_callbacks

    start = time.perf_counter()
    fit = model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val) if has_val else None,
        epochs=config.epochs,
        batch_size=config.batch_size,
        callbacks=callbacks,
        verbose=verbose,
    )
    train_seconds = time.perf_counter() - start
    # the model in memory is the checkpoint's: early stopping put the best epoch's weights
    # back, or (no validation set) both hold the last epoch
    short_run = steps * len(fit.history["loss"]) < SHORT_RUN_STEPS
    if short_run and reestimate_batch_norm(model, data.x_train):
        save_model_atomic(model, run_dir / "model.keras")
        checkpoint.unlink(missing_ok=True)
    else:
        os.replace(checkpoint, run_dir / "model.keras")

    val_accuracy = None  # of the saved model, after any re-estimation
    if has_val:
        _, val_accuracy = model.evaluate(data.x_val, data.y_val, batch_size=1000, verbose=0)
    test_loss, test_accuracy = model.evaluate(data.x_test, data.y_test, batch_size=1000, verbose=0)
    history = pd.DataFrame(fit.history)
    history.index.name = "epoch"
    metrics = {
        "test_accuracy": float(test_accuracy),
        "val_accuracy": None if val_accuracy is None else float(val_accuracy),
        "test_loss": float(test_loss),
        "parameters": int(model.count_params()),
        "train_seconds": round(train_seconds, 2),
        "epochs_run": len(history),
        "best_epoch": int(history["val_accuracy"].idxmax()) + 1 if has_val else len(history),
        "batch_norm_reestimated": bool(short_run and batch_norm_layers(model)),
        "n_train": len(data.x_train),
        "seed": config.seed,
        "config": asdict(config),
        "versions": _versions(),
        "cpu_count": os.cpu_count(),
    }
    _write_json_atomic(run_dir / "metrics.json", metrics)
    return model, history, metrics
