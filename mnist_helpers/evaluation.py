"""Judge a trained model: load a run, metrics, confusion matrix, mistakes, calibration, as
numbers or pandas tables (:mod:`mnist_helpers.plots` draws them). Taught in 05."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mnist_helpers.checks import check_int
from mnist_helpers.model_file import PROBA_SUM_TOLERANCE, check_probabilities, load_model_safely
from mnist_helpers.paths import check_run_name, runs_dir

DIGITS = list(range(10))


class RunNotFoundError(FileNotFoundError):
    """A run folder (or one of its files) is missing; the message says how to create it."""


class RunFileError(ValueError):
    """A run's file is there but damaged; the message names it and says how to make it again."""


@dataclass
class Run:
    """A finished training run, as saved by :func:`mnist_helpers.training.train`."""

    name: str
    path: Path
    model: object
    metrics: dict
    history: pd.DataFrame


def load_run(run_name: str = "default") -> Run:
    """Load ``runs/<run_name>/``: the model (in Keras' safe mode), ``metrics.json`` and
    ``history.csv``. A missing or damaged file raises an error that says what to do.
    Taught in 05."""
    path = runs_dir() / check_run_name(run_name)
    missing = [
        f for f in ("model.keras", "metrics.json", "history.csv") if not (path / f).is_file()
    ]
    if missing:
        finished = sorted(p.parent.name for p in runs_dir().glob("*/metrics.json"))
        others = [name for name in finished if name != run_name]
        listed = f" Finished runs here: {', '.join(others[:8])}{', ...' * (len(others) > 8)}."
        raise RunNotFoundError(
            f"run {run_name!r} is not finished: {path} lacks {', '.join(missing)}. "
            "Train it first: run notebooks/04_training.ipynb (e.g. `make run`, or "
            f"`papermill notebooks/04_training.ipynb out.ipynb -p run_name {run_name}`)."
            + (listed + " Or set run_name to one of them." if others else "")
        )
    model = load_model_safely(path / "model.keras")
    again = (
        "re-run the training to write it again: `make run`, or notebook 04 "
        f"(04_training.ipynb) with run_name={run_name!r}"
    )
    try:
        metrics = json.loads((path / "metrics.json").read_bytes())
    except ValueError as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise RunFileError(f"{path / 'metrics.json'}: not valid JSON ({err}); {again}") from None
    if not isinstance(metrics, dict):
        raise RunFileError(
            f"{path / 'metrics.json'}: holds a {type(metrics).__name__}, not a mapping of "
            f"metric names to values; {again}"
        )
    try:
        history = pd.read_csv(path / "history.csv", index_col="epoch")
        text = history.select_dtypes(exclude="number").columns.tolist()
        if text:
            raise ValueError(f"columns {text} are not numbers")
    except ValueError as err:  # pandas' parser and empty-data errors are ValueErrors
        raise RunFileError(
            f"{path / 'history.csv'}: not a table of epochs, one row each with an 'epoch' "
            f"column and numbers ({' '.join(str(err).split())[:200]}); {again}"
        ) from None
    return Run(name=run_name, path=path, model=model, metrics=metrics, history=history)


def predict_proba(model, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """The model's class probabilities, shape ``(n, 10)``, computed in batches; a
    ``ModelOutputError`` if what it gives is not probabilities over ten digits."""
    proba = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    name = getattr(model, "name", None)
    return check_probabilities(proba, len(x), f"the model {name!r}" if name else "the model")


def ensemble_proba(probabilities: list[np.ndarray]) -> np.ndarray:
    """Average the class probabilities of several models: an ensemble. Taught in 08."""
    if not probabilities:
        raise ValueError("ensemble_proba needs at least one array of probabilities")
    shapes = {p.shape for p in probabilities}
    if len(shapes) != 1:
        raise ValueError(f"all probability arrays must have one shape, got {sorted(shapes)}")
    return np.mean(probabilities, axis=0)


#: The shifts (rows, columns) :func:`tta_proba` averages over: none, and one pixel each way.
TTA_SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))


def tta_proba(model, x: np.ndarray) -> np.ndarray:
    """Test-time augmentation: average the predictions on copies of ``x`` shifted by
    :data:`TTA_SHIFTS` (``np.roll``: MNIST's borders are blank). Taught in 08."""
    x = np.asarray(x)
    shifted = [np.roll(x, (dy, dx), axis=(1, 2)) for dy, dx in TTA_SHIFTS]
    return ensemble_proba([predict_proba(model, copy) for copy in shifted])


def check_labels(name: str, values: object) -> np.ndarray:
    """Return ``values`` as 1-D int64 digits 0-9, or raise a ValueError that says why not."""
    labels = np.asarray(values)
    if labels.ndim != 1:
        hint = (
            "if you have probabilities of shape (n, 10), take proba.argmax(axis=1)"
            if labels.ndim == 2 and labels.shape[1] == 10
            else "flatten a column of labels with .ravel()"
        )
        raise ValueError(
            f"{name} must be a 1-D array of digit labels 0-9, got shape {labels.shape} ({hint})"
        )
    if len(labels) == 0:
        raise ValueError(f"{name} is empty: there are no labels to evaluate (got shape (0,))")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{name} must hold integer digit labels 0-9, got dtype {labels.dtype} "
            f"(first values {labels[:3].tolist()}; whole numbers convert with .astype(int), "
            "probabilities become labels with proba.argmax(axis=1))"
        )
    bad = np.unique(labels[(labels < 0) | (labels > 9)])
    if bad.size:
        shown = ", ".join(str(v) for v in bad[:5]) + (", ..." if bad.size > 5 else "")
        raise ValueError(
            f"{name} must hold digit labels 0-9, got {shown} "
            f"({int(np.isin(labels, bad).sum())} of {len(labels)} values; MNIST has 10 classes, "
            "so check that these are labels and not pixel values or indices)"
        )
    return labels.astype(np.int64)


def _check_pair(y_true: object, y_pred: object) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = check_labels("y_true", y_true), check_labels("y_pred", y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true has shape {y_true.shape} but y_pred {y_pred.shape}: pass one prediction "
            "per label, for the same images in the same order"
        )
    return y_true, y_pred


def _check_proba(y_true: object, proba: object) -> tuple[np.ndarray, np.ndarray]:
    y_true = check_labels("y_true", y_true)
    proba = np.asarray(proba)
    if proba.ndim != 2 or proba.shape[1] != 10:
        raise ValueError(
            f"proba must have shape (n, 10), one row of 10 probabilities per image, got shape "
            f"{proba.shape} (use evaluation.predict_proba(model, x_test), not predicted labels)"
        )
    if len(proba) != len(y_true):
        raise ValueError(
            f"proba has {len(proba)} rows but y_true {len(y_true)} labels (shape {proba.shape} "
            f"vs {y_true.shape}): pass the probabilities of the same images, in the same order"
        )
    if not np.issubdtype(proba.dtype, np.number) or not np.isfinite(proba).all():
        raise ValueError(
            f"proba must hold finite numbers, got dtype {proba.dtype} with NaN, infinite or "
            "non-numeric values (check the model's output)"
        )
    sums = proba.sum(axis=1)
    if proba.min() < 0 or proba.max() > 1 or np.abs(sums - 1).max() > PROBA_SUM_TOLERANCE:
        raise ValueError(
            "proba must hold probabilities (each in 0..1, each row summing to 1), got values "
            f"from {proba.min():.3g} to {proba.max():.3g} and row sums from {sums.min():.3g} "
            f"to {sums.max():.3g} (if these are logits, apply a softmax first)"
        )
    return y_true, proba


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The share of predictions ``y_pred`` equal to the labels ``y_true`` (1-D arrays of digits
    0-9 of one length, else a ValueError says what is wrong). Taught in 05."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def confusion_matrix_frame(y_true: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    """The 10x10 confusion matrix: rows are true digits, columns predicted ones (labels as
    for :func:`accuracy`). Taught in 05."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    counts = np.zeros((10, 10), dtype=int)
    np.add.at(counts, (y_true, y_pred), 1)
    return pd.DataFrame(
        counts, index=pd.Index(DIGITS, name="true"), columns=pd.Index(DIGITS, name="predicted")
    )


def per_class_report(y_true: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    """Precision, recall, F1 and support of each digit, a DataFrame (0 where a digit is never
    predicted or never present). Taught in 05."""
    cm = confusion_matrix_frame(y_true, y_pred).to_numpy()
    hits, support, predicted = np.diag(cm), cm.sum(axis=1), cm.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, hits / predicted, 0.0)
        recall = np.where(support > 0, hits / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1, "support": support},
        index=pd.Index(DIGITS, name="digit"),
    )


def most_confused_pairs(cm: pd.DataFrame, k: int = 5) -> pd.DataFrame:
    """The ``k`` largest off-diagonal cells of the confusion matrix ``cm``: which digit was
    taken for which, how often (pairs never confused are left out). Taught in 05."""
    values = np.asarray(cm).copy()
    if values.shape != (10, 10):
        raise ValueError(
            f"cm must be the 10x10 confusion matrix, got shape {values.shape} "
            "(make it with evaluation.confusion_matrix_frame(y_true, y_pred))"
        )
    k = check_int("k", k, hint="e.g. k=5")
    np.fill_diagonal(values, 0)
    order = np.argsort(-values, axis=None, kind="stable")[:k]
    true, predicted = np.unravel_index(order, values.shape)
    pairs = pd.DataFrame({"true": true, "predicted": predicted, "count": values[true, predicted]})
    return pairs[pairs["count"] > 0].reset_index(drop=True)  # pairs never confused left out


def mistakes_frame(y_true: np.ndarray, proba: np.ndarray) -> pd.DataFrame:
    """One row per misclassified image, most confident first: ``index``, ``true``,
    ``predicted``, ``confidence`` and ``p_true`` (the probability of the truth). Taught in 05."""
    y_true, proba = _check_proba(y_true, proba)
    predicted = proba.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_true)
    frame = pd.DataFrame({"index": wrong, "true": y_true[wrong], "predicted": predicted[wrong]})
    frame["confidence"] = proba[wrong, predicted[wrong]]  # given to the wrong answer
    frame["p_true"] = proba[wrong, y_true[wrong]]
    return frame.sort_values("confidence", ascending=False, kind="stable").reset_index(drop=True)


def calibration_table(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """One row per non-empty bin ``(low, high]`` of confidence: ``low``, ``high``, ``count``,
    ``confidence`` (mean) and ``accuracy``. Taught in 05."""
    y_true, proba = _check_proba(y_true, proba)
    n_bins = check_int("n_bins", n_bins, hint="e.g. n_bins=10")
    confidence = proba.max(axis=1)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    frame = pd.DataFrame({"confidence": confidence, "right": proba.argmax(axis=1) == y_true})
    table = frame.groupby(bins).agg(
        count=("right", "size"), confidence=("confidence", "mean"), accuracy=("right", "mean")
    )
    table.insert(0, "low", edges[table.index])
    table.insert(1, "high", edges[table.index + 1])
    return table.reset_index(drop=True)


def expected_calibration_error(table: pd.DataFrame) -> float:
    """The expected calibration error of a :func:`calibration_table`: the count-weighted mean
    of ``|accuracy - confidence|``. Taught in 05."""
    needed = ["count", "confidence", "accuracy"]
    columns = list(getattr(table, "columns", []))
    if not isinstance(table, pd.DataFrame) or not set(needed) <= set(columns):
        raise ValueError(
            f"table must be a DataFrame with columns {needed}, got {type(table).__name__} "
            f"with columns {columns} (make it with evaluation.calibration_table(y_true, proba))"
        )
    total = table["count"].sum()
    if not total > 0:
        raise ValueError(
            f"table counts {total} predictions: there is nothing to average "
            "(make it with evaluation.calibration_table(y_true, proba) on non-empty data)"
        )
    return float((table["count"] * (table["accuracy"] - table["confidence"]).abs()).sum() / total)


def mcnemar_test(y_true: np.ndarray, y_pred_a: np.ndarray, y_pred_b: np.ndarray) -> dict:
    """McNemar's exact test of two models scored on the same images: ``only_a`` images that
    ``a`` gets right and ``b`` wrong, ``only_b`` the reverse, and ``p_value``, the chance of a
    split at least that uneven if each disagreement were a fair coin (two-sided, exact
    binomial). Images both get right, or both wrong, say nothing about which is better.
    Taught in 04."""
    from scipy.stats import binomtest

    y_true, y_pred_a = _check_pair(y_true, y_pred_a)
    _, y_pred_b = _check_pair(y_true, y_pred_b)
    right_a, right_b = y_pred_a == y_true, y_pred_b == y_true
    only_a, only_b = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    n = only_a + only_b
    p_value = float(binomtest(only_a, n, 0.5).pvalue) if n else 1.0
    return {"only_a": only_a, "only_b": only_b, "p_value": p_value}
