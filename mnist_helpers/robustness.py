"""Score a model on corrupted digits (:func:`evaluate_shifts`) and see what drifts inside it
(:func:`batch_norm_drift`); from a terminal, on a trained model (``make run`` makes one)::

    python -m mnist_helpers.robustness runs/default/model.keras --n 2000

Taught in 07.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from mnist_helpers.checks import check_choice, check_int
from mnist_helpers.console import quiet_tensorflow
from mnist_helpers.corruptions import CORRUPTIONS, MNIST_C_SEVERITY, check_images, corrupt
from mnist_helpers.data import load_mnist
from mnist_helpers.download import MnistNotFoundError
from mnist_helpers.evaluation import accuracy, check_labels, predict_proba
from mnist_helpers.model_file import ModelOutputError, load_model_safely

#: How to get a model, said when the model file cannot be used.
GET_A_MODEL = "`make run` trains runs/default/model.keras (or see notebook 04)"


def _accuracy(model, images: np.ndarray, labels: np.ndarray) -> float:
    """The model's accuracy on uint8 images, fed as float32 [0, 1] with a channel axis."""
    inputs = (images.astype(np.float32) / 255)[..., np.newaxis]
    probabilities = predict_proba(model, inputs)  # checked: (n, 10) probabilities
    return accuracy(labels, probabilities.argmax(axis=1))


def evaluate_shifts(
    model,
    x: np.ndarray,
    y: np.ndarray,
    names: str | Iterable[str] | None = None,
    severities: Iterable[int] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """The model's accuracy on uint8 images ``x`` (n, 28, 28), labels ``y``, clean and under each
    corruption in ``names`` (default: all 15) at each of ``severities`` (default: its benchmark
    severity); the model gets float32 (n, 28, 28, 1) in [0, 1]. Returns a DataFrame
    (``corruption``, ``severity``, ``accuracy``): a row ``clean`` (severity 0), one per
    (corruption, severity), and ``mean``, their mean (severity <NA>). Taught in 07."""
    images = check_images(x)
    if len(images) == 0:
        raise ValueError("x holds no images; pass at least one, e.g. data.x_test[:1000]")
    labels = check_labels("y", y)
    if len(labels) != len(images):
        raise ValueError(
            f"y must hold one integer label 0-9 per image, shape ({len(images)},), got "
            f"{len(labels)} labels; pass the labels that go with x, e.g. data.y_test[:n] "
            "with data.x_test[:n]"
        )
    names = [names] if isinstance(names, str) else list(CORRUPTIONS) if names is None else names
    names = [check_choice("names", n, CORRUPTIONS, hint="or None for all") for n in names]
    if not names:
        raise ValueError(f"names is empty; give some of: {', '.join(CORRUPTIONS)}, or None")
    if severities is not None:
        severities = [check_int("severities", s, 1, 5, hint="e.g. range(1, 6)") for s in severities]
        if not severities:
            raise ValueError("severities is empty; give some from 1 to 5, or None")
    rows = [("clean", 0, _accuracy(model, images, labels))]
    for name in names:
        for severity in severities or [MNIST_C_SEVERITY[name]]:
            corrupted = corrupt(images, name, severity, seed)
            rows.append((name, severity, _accuracy(model, corrupted, labels)))
    table = pd.DataFrame(rows, columns=["corruption", "severity", "accuracy"])
    table.loc[len(table)] = ["mean", None, table["accuracy"].iloc[1:].mean()]
    table["severity"] = table["severity"].astype("Int64")
    return table


def batch_norm_drift(model, x: np.ndarray) -> pd.DataFrame:
    """How far each ``BatchNormalization`` layer's inputs, over the images ``x`` (as the model
    takes them), are from the running statistics it learned: one row per layer, ``layer``,
    ``mean shift`` (``|input mean - running mean|`` in running standard deviations, averaged over
    channels; 0 as expected) and ``spread ratio`` (input std / running std; 1 as expected).
    Taught in 07."""
    import keras

    found = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not found:
        raise ValueError(
            f"model {model.name!r} has no BatchNormalization layer of its own (nested models "
            "are not searched); pass a model built with batch_norm=True, e.g. build_cnn()"
        )
    probe = keras.Model(model.inputs[0], [layer.input for layer in found])
    images = np.asarray(x, dtype=np.float32)
    # batch by batch, not probe.predict: a new probe must not make TensorFlow retrace and warn
    batches = [probe(images[i : i + 1000]) for i in range(0, len(images), 1000)]
    rows = []
    for k, layer in enumerate(found):
        values = np.concatenate([np.asarray(b[k]) for b in batches]).astype(np.float64)
        values = values.reshape(-1, values.shape[-1])
        running_mean = np.asarray(layer.moving_mean, dtype=np.float64)
        running_std = np.sqrt(np.asarray(layer.moving_variance, dtype=np.float64) + layer.epsilon)
        shift = np.abs(values.mean(axis=0) - running_mean) / running_std
        ratio = values.std(axis=0) / running_std
        rows.append({"layer": layer.name, "mean shift": shift.mean(), "spread ratio": ratio.mean()})
    return pd.DataFrame(rows)


def _one_line(err: BaseException) -> str:
    """The whole message on one line (``checks.error_line`` keeps only its first, cut short)."""
    return " ".join(str(err).split()) or type(err).__name__


def main(argv: list[str] | None = None) -> int:
    """Command line; returns 0 when the table was printed, 2 (with one line on stderr) when
    the model file or its outputs cannot be used or the MNIST test set cannot be loaded."""
    parser = argparse.ArgumentParser(
        prog="python -m mnist_helpers.robustness",
        description="Accuracy of a model on MNIST's test set, clean and under the 15 "
        "MNIST-C corruptions (each at its benchmark severity).",
    )
    parser.add_argument("model", type=Path, help="a .keras file, e.g. runs/default/model.keras")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--n", type=int, default=None, help="use the first N test images (default: all 10,000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random corruptions")
    args = parser.parse_args(argv)
    if args.n is not None and args.n < 1:
        parser.error(f"--n must be a positive integer, got {args.n}")
    if args.seed < 0:
        parser.error(f"--seed must be a non-negative integer, got {args.seed}")

    def fail(reason: str) -> int:
        print(f"robustness: {reason}", file=sys.stderr)
        return 2

    try:
        with quiet_tensorflow():
            model = load_model_safely(args.model)
    except FileNotFoundError:
        return fail(f"{args.model}: no such model file; train one first: {GET_A_MODEL}")
    except (OSError, ValueError) as err:  # ModelFileError, UnsafeModelError, ModelOutputError
        return fail(f"{_one_line(err)}; to get a model, {GET_A_MODEL}")
    try:
        data = load_mnist(normalize=False, channel_axis=False)
    except (MnistNotFoundError, OSError, ValueError) as err:
        return fail(f"cannot load the MNIST test set ({_one_line(err)}); run `make data`")
    n = len(data.x_test) if args.n is None else min(args.n, len(data.x_test))
    try:
        with quiet_tensorflow():
            table = evaluate_shifts(model, data.x_test[:n], data.y_test[:n], seed=args.seed)
    except ModelOutputError as err:  # NaN for some corrupted images, say
        return fail(f"{args.model}: {_one_line(err)}; to get a model, {GET_A_MODEL}")
    rows = [
        {"corruption": name, "severity": None if pd.isna(level) else int(level), "accuracy": score}
        for name, level, score in table.itertuples(index=False)
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{args.model}: {n:,} MNIST test images, MNIST-C severities, seed {args.seed}")
    print(f"{'corruption':<14} {'severity':>8} {'accuracy':>9}")
    for name, level, score in (row.values() for row in rows):
        print(f"{name:<14} {'-' if level is None else level:>8} {score:>9.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
