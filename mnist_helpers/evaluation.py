"""Judge a trained model: load a run, metrics, confusion matrix, mistakes, calibration.

Everything returns numbers or pandas tables; :mod:`mnist_helpers.plots` draws them.
Taught in 04.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mnist_helpers.paths import runs_dir

DIGITS = list(range(10))


class RunNotFoundError(FileNotFoundError):
    """A run folder (or one of its files) is missing; the message says how to create it."""


@dataclass
class Run:
    """A finished training run, as saved by :func:`mnist_helpers.training.train`."""

    name: str
    path: Path
    model: object
    metrics: dict
    history: pd.DataFrame


def load_run(run_name: str = "default", folder: str | Path | None = None) -> Run:
    """Load ``runs/<run_name>/``: the model, ``metrics.json`` and ``history.csv``.

    Raises:
        RunNotFoundError: the run or one of its files is missing; the message names the
            command that creates it.

    Taught in 04.
    """
    import keras

    path = Path(folder) if folder is not None else runs_dir() / run_name
    missing = [
        f for f in ("model.keras", "metrics.json", "history.csv") if not (path / f).is_file()
    ]
    if missing:
        raise RunNotFoundError(
            f"run {run_name!r} is not finished: {path} lacks {', '.join(missing)}. "
            "Train it first: run notebooks/03_training.ipynb (e.g. `make run`, or "
            f"`papermill notebooks/03_training.ipynb out.ipynb -p run_name {run_name}`)."
        )
    model = keras.models.load_model(path / "model.keras", safe_mode=True)
    metrics = json.loads((path / "metrics.json").read_text())
    history = pd.read_csv(path / "history.csv", index_col="epoch")
    return Run(name=run_name, path=path, model=model, metrics=metrics, history=history)


def predict_proba(model, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Return the model's class probabilities, shape ``(n, 10)``, computed in batches."""
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))


def ensemble_proba(probabilities: list[np.ndarray]) -> np.ndarray:
    """Average the class probabilities of several models: a simple, strong ensemble.

    Models trained from different seeds make partly different mistakes; averaging their
    probabilities cancels some of them. Taught in 05.
    """
    if not probabilities:
        raise ValueError("ensemble_proba needs at least one array of probabilities")
    shapes = {p.shape for p in probabilities}
    if len(shapes) != 1:
        raise ValueError(f"all probability arrays must have one shape, got {sorted(shapes)}")
    return np.mean(probabilities, axis=0)


#: The shifts (rows, columns) :func:`tta_proba` averages over: none, and one pixel each way.
TTA_SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))


def tta_proba(model, x: np.ndarray, shifts=TTA_SHIFTS, batch_size: int = 1000) -> np.ndarray:
    """Test-time augmentation: average the predictions on slightly shifted copies of ``x``.

    MNIST's borders are blank, so shifting by a pixel (``np.roll``) loses nothing.
    Taught in 05.
    """
    x = np.asarray(x)
    return ensemble_proba(
        [predict_proba(model, np.roll(x, (dy, dx), axis=(1, 2)), batch_size) for dy, dx in shifts]
    )


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Return the fraction of predictions equal to the labels."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred {y_pred.shape}")
    return float(np.mean(y_true == y_pred))


def confusion_matrix_frame(y_true: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    """Return the 10x10 confusion matrix: rows are true digits, columns predicted ones.

    Taught in 04.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    counts = np.zeros((10, 10), dtype=int)
    np.add.at(counts, (y_true, y_pred), 1)
    return pd.DataFrame(
        counts,
        index=pd.Index(DIGITS, name="true"),
        columns=pd.Index(DIGITS, name="predicted"),
    )


def per_class_report(y_true: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    """Return precision, recall, F1 and support of each digit as a DataFrame.

    Precision: of the images predicted as this digit, the share that are. Recall: of the
    images of this digit, the share found. F1: their harmonic mean. Taught in 04.
    """
    cm = confusion_matrix_frame(y_true, y_pred).to_numpy()
    hits = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, hits / predicted, 0.0)
        recall = np.where(support > 0, hits / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1, "support": support},
        index=pd.Index(DIGITS, name="digit"),
    )


def most_confused_pairs(cm: pd.DataFrame, k: int = 5) -> pd.DataFrame:
    """Return the ``k`` largest off-diagonal cells: which digit was taken for which, how often."""
    values = cm.to_numpy().copy()
    np.fill_diagonal(values, 0)
    order = np.argsort(-values, axis=None, kind="stable")[:k]
    rows = [
        {"true": int(t), "predicted": int(p), "count": int(values[t, p])}
        for t, p in zip(*np.unravel_index(order, values.shape), strict=True)
        if values[t, p] > 0
    ]
    return pd.DataFrame(rows, columns=["true", "predicted", "count"])


def mistakes_frame(y_true: np.ndarray, proba: np.ndarray) -> pd.DataFrame:
    """Return one row per misclassified image, most confident mistakes first.

    Columns: ``index`` (into the test set), ``true``, ``predicted``, ``confidence`` (the
    probability given to the wrong prediction) and ``p_true`` (given to the right answer).
    Taught in 04.
    """
    y_true = np.asarray(y_true)
    predicted = proba.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_true)
    frame = pd.DataFrame(
        {
            "index": wrong,
            "true": y_true[wrong],
            "predicted": predicted[wrong],
            "confidence": proba[wrong, predicted[wrong]],
            "p_true": proba[wrong, y_true[wrong]],
        }
    )
    return frame.sort_values("confidence", ascending=False, kind="stable").reset_index(drop=True)


def calibration_table(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Bin predictions by confidence and compare each bin's confidence with its accuracy.

    A well-calibrated model that says "90 %" is right 90 % of the time. Returns one row per
    non-empty bin: ``low``, ``high``, ``count``, ``confidence`` (mean) and ``accuracy``.
    Taught in 04.
    """
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == np.asarray(y_true)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        members = bins == b
        if members.any():
            rows.append(
                {
                    "low": edges[b],
                    "high": edges[b + 1],
                    "count": int(members.sum()),
                    "confidence": float(confidence[members].mean()),
                    "accuracy": float(correct[members].mean()),
                }
            )
    return pd.DataFrame(rows)


def expected_calibration_error(table: pd.DataFrame) -> float:
    """Return the expected calibration error: the count-weighted mean |accuracy - confidence|."""
    weights = table["count"] / table["count"].sum()
    return float((weights * (table["accuracy"] - table["confidence"]).abs()).sum())
