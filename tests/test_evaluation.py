"""Tests of mnist_helpers.evaluation on small hand-made predictions."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from mnist_helpers.evaluation import (
    RunFileError,
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
from mnist_helpers.paths import runs_dir

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


def test_missing_run_says_which_notebook_to_run(workspace):
    with pytest.raises(RunNotFoundError, match=r"04_training\.ipynb.*-p run_name nope`\)\.$"):
        load_run("nope")


def test_missing_run_names_the_finished_ones(workspace):
    """A class that ran 04's smoke profile has runs/smoke, not runs/default: say so."""
    for name in ("smoke", "08_baseline-smoke"):
        (runs_dir() / name).mkdir(parents=True)
        (runs_dir() / name / "metrics.json").write_text("{}")
    message = r"Finished runs here: 08_baseline-smoke, smoke\. Or set run_name to one of them"
    with pytest.raises(RunNotFoundError, match=message):
        load_run("default")


def test_load_run_reads_nothing_outside_the_runs_folder(workspace):
    for name in ("model.keras", "metrics.json", "history.csv"):
        (workspace / name).write_text("the course checkout's files")
    for bad in ("..", ".", "../runs", "/etc"):
        with pytest.raises(ValueError, match="run_name must be a plain folder name"):
            load_run(bad)


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
        """A fake model whose probability of digit 0 is the image's top-left pixel (1 the rest)."""

        def predict(self, x, batch_size=None, verbose=0):
            out = np.zeros((len(x), 10))
            out[:, 0] = x[:, 0, 0, 0]
            out[:, 1] = 1 - out[:, 0]
            return out

    x = np.zeros((1, 28, 28, 1))
    x[0, 0, 0, 0] = 1.0
    # only the unshifted copy (and shifts that roll it back in: none here) see the pixel
    assert tta_proba(TopLeftPixel(), x)[0, 0] == pytest.approx(1 / 5)


# --------------------------------------------------------------------------- against scikit-learn


def random_predictions(seed: int, n: int = 500, skill: float = 0.7):
    """Labels, probabilities and predicted labels where about ``skill`` of the answers are right.

    Digit 9 never appears in ``y_true`` and digit 8 is never predicted, so that the
    zero-support and never-predicted corners are compared too.
    """
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 9, size=n)
    logits = rng.normal(size=(n, 10))
    logits[np.arange(n), y_true] += np.where(rng.random(n) < skill, 4.0, 0.0)
    logits[:, 8] -= 100.0
    proba = np.exp(logits - logits.max(axis=1, keepdims=True))
    proba /= proba.sum(axis=1, keepdims=True)
    return y_true, proba, proba.argmax(axis=1)


SEEDS = [0, 1, 2]


@pytest.mark.parametrize("seed", SEEDS)
def test_accuracy_and_confusion_matrix_agree_with_scikit_learn(seed):
    from sklearn import metrics

    y_true, _, y_pred = random_predictions(seed)
    assert accuracy(y_true, y_pred) == pytest.approx(metrics.accuracy_score(y_true, y_pred))
    expected = metrics.confusion_matrix(y_true, y_pred, labels=range(10))
    np.testing.assert_array_equal(confusion_matrix_frame(y_true, y_pred).to_numpy(), expected)


@pytest.mark.parametrize("seed", SEEDS)
def test_per_class_report_agrees_with_scikit_learn(seed):
    from sklearn import metrics

    y_true, _, y_pred = random_predictions(seed)
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=range(10), zero_division=0
    )
    report = per_class_report(y_true, y_pred)
    np.testing.assert_allclose(report["precision"], precision)
    np.testing.assert_allclose(report["recall"], recall)
    np.testing.assert_allclose(report["f1"], f1)
    np.testing.assert_array_equal(report["support"], support)


@pytest.mark.parametrize("seed", SEEDS)
def test_mistakes_frame_agrees_with_scikit_learn(seed):
    from sklearn import metrics

    y_true, proba, y_pred = random_predictions(seed)
    mistakes = mistakes_frame(y_true, proba)
    assert len(mistakes) == round((1 - metrics.accuracy_score(y_true, y_pred)) * len(y_true))
    # the mistakes, counted per (true, predicted) pair, are the confusion matrix off its diagonal
    off_diagonal = metrics.confusion_matrix(y_true, y_pred, labels=range(10))
    np.fill_diagonal(off_diagonal, 0)
    counted = np.zeros((10, 10), dtype=int)
    np.add.at(counted, (mistakes["true"], mistakes["predicted"]), 1)
    np.testing.assert_array_equal(counted, off_diagonal)
    assert mistakes["confidence"].is_monotonic_decreasing
    # p_true is what the model gave the right digit: top-2 accuracy is the top-1 hits plus
    # the mistakes whose p_true was the runner-up
    np.testing.assert_array_equal(mistakes["p_true"], proba[mistakes["index"], mistakes["true"]])
    runner_up = np.sort(proba[mistakes["index"]], axis=1)[:, -2]
    rescued = int(np.sum(mistakes["p_true"].to_numpy() == runner_up))
    top2 = metrics.top_k_accuracy_score(y_true, proba, k=2, labels=range(10))
    assert top2 == pytest.approx((len(y_true) - len(mistakes) + rescued) / len(y_true))


@pytest.mark.parametrize("seed", SEEDS)
def test_calibration_table_and_error_agree_with_scikit_learn(seed):
    from sklearn import calibration

    y_true, proba, y_pred = random_predictions(seed)
    table = calibration_table(y_true, proba, n_bins=10)
    correct = (y_pred == y_true).astype(int)
    confidence = proba.max(axis=1)
    accuracy_per_bin, confidence_per_bin = calibration.calibration_curve(
        correct, confidence, n_bins=10, strategy="uniform"
    )
    np.testing.assert_allclose(table["accuracy"], accuracy_per_bin)
    np.testing.assert_allclose(table["confidence"], confidence_per_bin)
    assert table["count"].sum() == len(y_true)
    bins = np.clip(np.ceil(confidence * 10).astype(int) - 1, 0, 9)
    ece = sum(
        np.sum(bins == b)
        / len(y_true)
        * abs(correct[bins == b].mean() - confidence[bins == b].mean())
        for b in np.unique(bins)
    )
    assert expected_calibration_error(table) == pytest.approx(ece)


# --------------------------------------------------------------------------- bad inputs are refused

GOOD_TRUE = np.array([0, 1, 2])
GOOD_PROBA = np.eye(10)[[0, 1, 3]]

LABEL_FUNCTIONS = {
    "accuracy": accuracy,
    "confusion_matrix_frame": confusion_matrix_frame,
    "per_class_report": per_class_report,
}
PROBA_FUNCTIONS = {"mistakes_frame": mistakes_frame, "calibration_table": calibration_table}

BAD_LABELS = {
    "a column (n, 1)": (np.array([[0], [1], [2]]), r"1-D .*got shape \(3, 1\)"),
    "probabilities": (GOOD_PROBA, r"got shape \(3, 10\).*argmax"),
    "a label of 10": (np.array([0, 10, 2]), r"0-9, got 10 "),
    "a label of -1": (np.array([0, -1, 2]), r"0-9, got -1 "),
    "floats": (np.array([0.0, 1.5, 2.0]), r"integer .*got dtype float64"),
    "a different length": (np.array([0, 1]), r"\(3,\).*\(2,\)"),
}


@pytest.mark.parametrize("case", sorted(BAD_LABELS))
@pytest.mark.parametrize("function", sorted(LABEL_FUNCTIONS))
def test_label_metrics_refuse_bad_predictions_naming_them(function, case):
    bad, message = BAD_LABELS[case]
    with pytest.raises(ValueError, match=message):
        LABEL_FUNCTIONS[function](GOOD_TRUE, bad)


@pytest.mark.parametrize("case", sorted(set(BAD_LABELS) - {"a different length"}))
@pytest.mark.parametrize("function", sorted(LABEL_FUNCTIONS | PROBA_FUNCTIONS))
def test_every_metric_refuses_bad_true_labels_naming_them(function, case):
    bad, message = BAD_LABELS[case]
    other = GOOD_PROBA if function in PROBA_FUNCTIONS else GOOD_TRUE
    with pytest.raises(ValueError, match=f"y_true .*{message}"):
        (LABEL_FUNCTIONS | PROBA_FUNCTIONS)[function](bad, other)


def test_a_column_of_predictions_no_longer_broadcasts_into_the_confusion_matrix():
    # this used to count 9 cells for 3 images
    with pytest.raises(ValueError, match=r"y_pred must be a 1-D .*\(3, 1\).*ravel"):
        confusion_matrix_frame(GOOD_TRUE, GOOD_TRUE[:, None])


BAD_PROBA = {
    "labels instead": (np.array([0, 1, 3]), r"shape \(n, 10\).*got shape \(3,\)"),
    "9 classes": (np.eye(9)[[0, 1, 3]], r"shape \(n, 10\).*got shape \(3, 9\)"),
    "too few rows": (GOOD_PROBA[:2], r"2 rows but y_true 3 labels"),
    "logits": (GOOD_PROBA * 7 - 2, r"probabilities .*from -2 to 5.*softmax"),
    "rows not summing to 1": (GOOD_PROBA * 0.5, r"row sums from 0.5 to 0.5"),
    "NaN": (np.where(GOOD_PROBA == 1, np.nan, 0.0), r"finite"),
}


@pytest.mark.parametrize("case", sorted(BAD_PROBA))
@pytest.mark.parametrize("function", sorted(PROBA_FUNCTIONS))
def test_probability_metrics_refuse_what_is_not_n_by_10_probabilities(function, case):
    bad, message = BAD_PROBA[case]
    with pytest.raises(ValueError, match=f"proba .*{message}"):
        PROBA_FUNCTIONS[function](GOOD_TRUE, bad)


def test_empty_labels_are_refused_rather_than_giving_nan():
    with pytest.raises(ValueError, match="y_true is empty"):
        accuracy(np.array([], dtype=int), np.array([], dtype=int))


def test_small_integer_types_and_lists_are_accepted():
    assert accuracy([0, 1, 2], np.array([0, 1, 3], dtype=np.uint8)) == pytest.approx(2 / 3)
    assert confusion_matrix_frame(GOOD_TRUE.astype(np.uint8), [0, 1, 2]).to_numpy().trace() == 3


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: most_confused_pairs(np.zeros((9, 9))), r"10x10 .*got shape \(9, 9\)"),
        (lambda: most_confused_pairs(confusion_matrix_frame(Y_TRUE, Y_PRED), k=0), "k must"),
        (lambda: calibration_table(GOOD_TRUE, GOOD_PROBA, n_bins=0), "n_bins must .*got 0"),
        (lambda: expected_calibration_error(pd.DataFrame({"x": [1]})), r"columns \['x'\]"),
        (
            lambda: expected_calibration_error(
                pd.DataFrame({"count": [0], "confidence": [0.5], "accuracy": [0.5]})
            ),
            "counts 0 predictions",
        ),
    ],
    ids=["cm shape", "k", "n_bins", "table columns", "empty table"],
)
def test_other_arguments_are_checked_with_a_clear_message(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------- load_run


GOOD_HISTORY = "epoch,accuracy,loss\n0,0.5,1.5\n1,0.7,0.9\n"


def write_run(folder, model_file, metrics='{"test_accuracy": 0.5}', history=GOOD_HISTORY):
    """Write a run folder as training does: the model file, metrics.json and history.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.keras").write_bytes(model_file.read_bytes())
    for name, text in (("metrics.json", metrics), ("history.csv", history)):
        path = folder / name
        path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
    return folder


def test_load_run_reads_the_model_metrics_and_history(workspace, tiny_model_file):
    write_run(workspace / "runs" / "mine", tiny_model_file)
    run = load_run("mine")
    assert run.metrics == {"test_accuracy": 0.5}
    assert run.history.index.name == "epoch" and run.history["loss"].tolist() == [1.5, 0.9]
    assert run.model.output_shape == (None, 10)


def test_load_run_never_runs_a_lambda_layer_whatever_the_session_switched_on(workspace):
    import keras
    from keras.src.saving.serialization_lib import SafeModeScope

    from mnist_helpers.model_file import UnsafeModelError

    marker = workspace / "code_ran.txt"
    inputs = keras.Input((28, 28, 1))
    touch = keras.layers.Lambda(
        lambda x, marker: (open(marker, "w").close(), x)[1], arguments={"marker": str(marker)}
    )
    dense = keras.layers.Dense(10, "softmax")
    model = keras.Model(inputs, dense(keras.layers.Flatten()(touch(inputs))))
    model.save(workspace / "model.keras")
    marker.unlink()  # building the model ran the layer once
    write_run(workspace / "runs" / "run", workspace / "model.keras")
    with SafeModeScope(None):  # puts Keras' global switch back afterwards
        keras.config.enable_unsafe_deserialization()  # e.g. in an earlier notebook cell
        with pytest.raises(UnsafeModelError, match="safe mode forbids"):
            load_run("run")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("metrics.json", "{'test_accuracy': 0.5", "not valid JSON"),
        ("metrics.json", b"\xff\xfe\x00garbage", "not valid JSON"),
        ("metrics.json", "[0.5, 0.1]", "holds a list, not a mapping"),
        ("metrics.json", "", "not valid JSON"),
        ("history.csv", b"\x89PNG\r\n\x1a\n\x00\xff", "not a table of epochs"),
        ("history.csv", "", "not a table of epochs"),
        ("history.csv", "loss,accuracy\n1.5,0.5\n", "not a table of epochs"),
        ("history.csv", "epoch,loss\n0,abc\n", "not a table of epochs"),
    ],
    ids=[
        "bad json",
        "binary json",
        "json list",
        "empty json",
        "binary csv",
        "empty csv",
        "no epoch",
        "text values",
    ],
)
def test_a_damaged_run_file_is_named_with_how_to_make_it_again(
    workspace, tiny_model_file, name, content, why
):
    folder = write_run(workspace / "runs" / "run", tiny_model_file, **{name.split(".")[0]: content})
    with pytest.raises(RunFileError) as refused:
        load_run("run")
    message = str(refused.value)
    assert message.startswith(f"{folder / name}: ") and why in message
    assert "`make run`" in message and "04" in message


class FixedModel:
    """A stand-in model whose ``predict`` gives the same row for every image."""

    name = "fixed"

    def __init__(self, row):
        self.row = np.asarray(row, dtype=np.float32)

    def predict(self, x, batch_size=32, verbose="auto"):
        return np.tile(self.row, (len(x), 1))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (np.full(10, 0.1), None),
        (np.arange(10.0) * 100, "not probabilities: values from 0 to 900"),
        (np.full(5, 0.2), "outputs of shape (3, 5) for 3 images"),
        (np.full(10, np.nan), "3 of 3 images got NaN or infinite outputs"),
    ],
    ids=["probabilities", "raw scores", "five classes", "nan"],
)
def test_predict_proba_gives_probabilities_over_ten_digits_or_says_what_it_got(row, message):
    from mnist_helpers.evaluation import predict_proba
    from mnist_helpers.model_file import ModelOutputError

    x = np.zeros((3, 28, 28, 1), dtype=np.float32)
    if message is None:
        assert predict_proba(FixedModel(row), x).shape == (3, 10)
        return
    with pytest.raises(ModelOutputError, match=re.escape(message)) as refused:
        predict_proba(FixedModel(row), x)
    assert str(refused.value).startswith("the model 'fixed': ")


def test_mcnemar_counts_only_the_disagreements_and_gives_the_exact_p_value():
    from math import comb

    from mnist_helpers.evaluation import mcnemar_test

    y = np.zeros(100, dtype=int)
    a, b = y.copy(), y.copy()
    a[:3] = 1  # a wrong on 3 images that b gets right
    b[3:13] = 1  # b wrong on 10 images that a gets right
    a[90:], b[90:] = 2, 2  # both wrong on 10: no evidence either way
    result = mcnemar_test(y, a, b)
    assert (result["only_a"], result["only_b"]) == (10, 3)
    by_hand = 2 * sum(comb(13, k) for k in range(4)) / 2**13  # two-sided: 3 or fewer of 13
    assert result["p_value"] == pytest.approx(by_hand)
    assert mcnemar_test(y, a, b)["p_value"] == mcnemar_test(y, b, a)["p_value"]
    assert mcnemar_test(y, y, y) == {"only_a": 0, "only_b": 0, "p_value": 1.0}
    with pytest.raises(ValueError):
        mcnemar_test(y, a, b[:50])
