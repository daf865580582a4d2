"""Tests of mnist_helpers.evaluation on small hand-made predictions."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_helpers.evaluation import (
    RunNotFoundError,
    accuracy,
    calibration_table,
    confusion_matrix_frame,
    expected_calibration_error,
    load_run,
    mistakes_frame,
    most_confused_pairs,
    per_class_report,
)

Y_TRUE = np.array([0, 0, 1, 1, 2, 2, 7, 7, 7, 1])
Y_PRED = np.array([0, 0, 1, 7, 2, 2, 7, 1, 7, 7])


def one_hot_proba(pred, confidence):
    proba = np.full((len(pred), 10), 0.0)
    for i, (p, c) in enumerate(zip(pred, confidence, strict=True)):
        proba[i] = (1 - c) / 9
        proba[i, p] = c
    return proba


def test_accuracy_and_shape_check():
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(0.7)
    with pytest.raises(ValueError, match="shape"):
        accuracy(Y_TRUE, Y_PRED[:3])


def test_confusion_matrix_counts_true_rows_predicted_columns():
    cm = confusion_matrix_frame(Y_TRUE, Y_PRED)
    assert cm.shape == (10, 10)
    assert cm.loc[1, 7] == 2 and cm.loc[7, 1] == 1 and cm.loc[0, 0] == 2
    assert cm.to_numpy().sum() == len(Y_TRUE)
    assert cm.index.name == "true" and cm.columns.name == "predicted"


def test_per_class_report_precision_recall_f1():
    report = per_class_report(Y_TRUE, Y_PRED)
    # digit 7: predicted 4 times, 2 right -> precision 0.5; 3 sevens, 2 found -> recall 2/3
    assert report.loc[7, "precision"] == pytest.approx(0.5)
    assert report.loc[7, "recall"] == pytest.approx(2 / 3)
    assert report.loc[7, "f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert report.loc[7, "support"] == 3
    assert report.loc[5, "precision"] == 0  # never predicted: no division by zero


def test_most_confused_pairs_are_sorted_and_skip_zeros():
    pairs = most_confused_pairs(confusion_matrix_frame(Y_TRUE, Y_PRED), k=5)
    assert pairs.iloc[0].tolist() == [1, 7, 2]
    assert pairs.iloc[1].tolist() == [7, 1, 1]
    assert len(pairs) == 2


def test_mistakes_frame_lists_each_mistake_most_confident_first():
    proba = one_hot_proba(Y_PRED, [0.9, 0.8, 0.9, 0.6, 0.9, 0.9, 0.9, 0.95, 0.9, 0.7])
    mistakes = mistakes_frame(Y_TRUE, proba)
    assert mistakes["index"].tolist() == [7, 9, 3]
    assert mistakes.loc[0, "true"] == 7 and mistakes.loc[0, "predicted"] == 1
    assert mistakes.loc[0, "confidence"] == pytest.approx(0.95)
    assert mistakes.loc[0, "p_true"] == pytest.approx(0.05 / 9)


def test_calibration_table_and_error():
    # 10 predictions at 0.95 confidence, 9 right: accuracy 0.9 -> error 0.05
    y_true = np.zeros(10, dtype=int)
    pred = np.array([0] * 9 + [3])
    table = calibration_table(y_true, one_hot_proba(pred, [0.95] * 10), n_bins=10)
    assert len(table) == 1
    assert table.loc[0, "count"] == 10 and table.loc[0, "low"] == pytest.approx(0.9)
    assert table.loc[0, "accuracy"] == pytest.approx(0.9)
    assert expected_calibration_error(table) == pytest.approx(0.05)


def test_missing_run_says_which_notebook_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path))
    with pytest.raises(RunNotFoundError, match=r"03_training\.ipynb.*-p run_name nope"):
        load_run("nope")


def test_ensemble_averages_probabilities_and_checks_shapes():
    from mnist_helpers.evaluation import ensemble_proba

    a, b = np.eye(10)[[1, 2]], np.eye(10)[[1, 3]]
    mean = ensemble_proba([a, b])
    assert mean[0, 1] == 1.0 and mean[1, 2] == mean[1, 3] == 0.5
    with pytest.raises(ValueError, match="one shape"):
        ensemble_proba([a, np.eye(10)])
    with pytest.raises(ValueError, match="at least one"):
        ensemble_proba([])


def test_tta_averages_over_shifted_copies():
    from mnist_helpers.evaluation import tta_proba

    class TopLeftPixel:
        """A fake model whose 'probability' of digit 0 is the image's top-left pixel."""

        def predict(self, x, batch_size=None, verbose=0):
            out = np.zeros((len(x), 10))
            out[:, 0] = x[:, 0, 0, 0]
            return out

    x = np.zeros((1, 28, 28, 1))
    x[0, 0, 0, 0] = 1.0
    # only the unshifted copy (and shifts that roll it back in: none here) see the pixel
    assert tta_proba(TopLeftPixel(), x)[0, 0] == pytest.approx(1 / 5)
