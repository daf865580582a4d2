"""Tests of mnist_helpers.plots: every figure has a title and labelled axes, and saves."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from mnist_helpers import evaluation, plots  # noqa: E402
from mnist_helpers.preprocess import mnist_like  # noqa: E402

rng = np.random.default_rng(0)
X = rng.random((60, 28, 28))
Y = np.arange(60) % 10
PROBA = rng.dirichlet(np.ones(10), size=60)
BAR_PAGE = np.ones((40, 30))  # a dark bar on white paper
BAR_PAGE[8:32, 12:17] = 0.0
SHIFT_TABLE = pd.DataFrame(
    {"cnn": [0.99, 0.7, 0.85], "mlp": [0.98, 0.3, 0.64]}, index=["clean", "fog", "mean"]
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    matplotlib.pyplot.close("all")


def figure_cases():
    history = pd.DataFrame(
        {
            "loss": [1.0, 0.5],
            "accuracy": [0.8, 0.9],
            "val_loss": [1.1, 0.6],
            "val_accuracy": [0.7, 0.85],
        }
    )
    cm = evaluation.confusion_matrix_frame(Y, PROBA.argmax(axis=1))
    return {
        "digit_grid": lambda: plots.plot_digit_grid(X, Y, per_class=3),
        "class_balance": lambda: plots.plot_class_balance(pd.Series(np.bincount(Y))),
        "mean_digits": lambda: plots.plot_mean_digits(X, Y),
        "losses_by_learning_rate": lambda: plots.plot_losses_by_learning_rate(
            {0.01: [2.3, 2.2], 50.0: [2.3, 250.0]}
        ),
        "loss_against_accuracy": lambda: plots.plot_loss_against_accuracy(
            np.linspace(0, 1, 5),
            np.array([2.0, 1.5, 1.4, 1.6, 2.0]),
            np.array([0.5, 0.5, 0.6, 0.6, 0.6]),
        ),
        "descent_paths": lambda: plots.plot_descent_paths(
            (1, 10),
            {0.1: np.array([[-4.0, 1.5], [-3.6, 0.0]]), 0.3: np.array([[-4.0, 1.5], [-2.8, -3.0]])},
        ),
        "saliency": lambda: plots.plot_saliency(X[:3], rng.random((3, 28, 28)), ["a", "b", "c"]),
        "adversarial": lambda: plots.plot_adversarial(X[0], X[1], ["digit", "change", "attacked"]),
        "receptive_fields": lambda: plots.plot_receptive_fields(X[0], {"conv1": 5, "conv3": 20}),
        "pixel_histogram": lambda: plots.plot_pixel_histogram(X),
        "convolution": lambda: plots.plot_convolution(X[0], np.eye(3), X[0, :26, :26]),
        "feature_maps": lambda: plots.plot_feature_maps(rng.random((14, 14, 10)), "maps"),
        "filters": lambda: plots.plot_filters(rng.normal(size=(5, 5, 1, 12)), "filters"),
        "learning_curves": lambda: plots.plot_learning_curves(history),
        "learning_curves_best_epoch": lambda: plots.plot_learning_curves(
            history, best_epoch=1, title="Overfitting"
        ),
        "ablation": lambda: plots.plot_ablation(
            {"recipe": list(rng.random(40)), "no dropout": list(rng.random(40))},
            {"recipe": [0.9, 0.95], "no dropout": [0.92, 0.94]},
            steps_per_epoch=20,
        ),
        "confusion_matrix": lambda: plots.plot_confusion_matrix(cm),
        "mistakes": lambda: plots.plot_mistakes(X, evaluation.mistakes_frame(Y, PROBA), n=5),
        "confidence": lambda: plots.plot_confidence_histogram(PROBA, Y),
        "reliability": lambda: plots.plot_reliability(evaluation.calibration_table(Y, PROBA)),
        "corruptions": lambda: plots.plot_corruptions(
            {"clean": (X[:3] * 255).astype(np.uint8), "fog": (X[3:6] * 255).astype(np.uint8)}
        ),
        "shift_heatmap": lambda: plots.plot_shift_heatmap(SHIFT_TABLE),
        "learning_rate": lambda: plots.plot_learning_rate(
            np.arange(0, 100, 10), np.linspace(0.006, 0.0, 10), 20
        ),
        "predictions": lambda: plots.plot_predictions(X[:4, ..., None], PROBA[:4], list("abcd")),
        "preprocessing_steps": lambda: plots.plot_preprocessing_steps(
            mnist_like(BAR_PAGE, return_steps=True)[1]
        ),
        "severity_curves": lambda: plots.plot_severity_curves(
            {
                "cnn": pd.Series([0.99, 0.9, 0.6], index=pd.array([0, 1, 2], dtype="Int64")),
                "mlp": pd.Series([0.98, 0.5, 0.2]),
            },
            "translate",
        ),
    }


@pytest.mark.parametrize("name", sorted(figure_cases()))
def test_figure_has_a_title(name):
    fig = figure_cases()[name]()
    titles = [fig._suptitle.get_text() if fig._suptitle else ""]
    titles += [ax.get_title() for ax in fig.axes]
    assert any(titles), f"{name} has no title"
    for ax in fig.axes:
        if not ax.axison or ax.get_xlabel() or ax.get_ylabel() or not ax.get_xticks().size:
            continue
        # axes that show numbers must say what they are (image panels have no ticks)
        assert ax.get_xlabel() and ax.get_ylabel(), f"{name}: unlabelled axes"


def test_receptive_fields_draw_one_centred_square_of_each_size():
    fig = plots.plot_receptive_fields(X[0], {"conv1": 5, "conv2": 10, "conv3": 20})
    squares = fig.axes[0].patches
    assert [(sq.get_width(), sq.get_height()) for sq in squares] == [(5, 5), (10, 10), (20, 20)]
    centres = {
        (sq.get_x() + sq.get_width() / 2, sq.get_y() + sq.get_height() / 2) for sq in squares
    }
    assert centres == {(13.5, 13.5)}  # the middle of a 28x28 image (pixel centres 0 to 27)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()][-1] == "conv3: 20x20"


def test_losses_by_learning_rate_draw_one_line_per_rate_on_a_log_scale():
    fig = plots.plot_losses_by_learning_rate({0.01: [2.3, 2.2, 2.1], 50.0: [2.3, 250.0, 9.0]})
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert [list(line.get_ydata()) for line in ax.get_lines()] == [
        [2.3, 2.2, 2.1],
        [2.3, 250.0, 9.0],
    ]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0.01", "50"]


def test_save_writes_png_into_the_figures_folder_at_the_courses_dpi(workspace):
    fig = plots.plot_pixel_histogram(X, save="01_test")
    png = workspace / "figures" / "01_test.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in png.parent.iterdir()] == ["01_test.png"]  # no temporary left
    from PIL import Image

    with Image.open(png) as image:  # bbox "tight": a little smaller than the figure
        assert abs(image.width - fig.get_figwidth() * 100) < 0.1 * image.width


def test_the_courses_style_applies_inside_the_figures_only():
    import importlib

    with matplotlib.rc_context({"figure.dpi": 72, "axes.titleweight": "normal"}):  # a learner's
        before = dict(matplotlib.rcParams)
        importlib.reload(plots)  # what `import mnist_helpers.plots` does
        fig = plots.plot_class_balance(pd.Series(np.bincount(Y)))
        assert dict(matplotlib.rcParams) == before  # importing and drawing changed no setting
        assert fig.dpi == 100 and fig.axes[0].title.get_fontweight() == "bold"
        assert matplotlib.pyplot.figure().dpi == 72  # a learner's own figure: their settings


def test_accuracy_vs_time_draws_one_standard_error_per_point():
    from matplotlib.container import ErrorbarContainer

    fig = plots.plot_accuracy_vs_time(["a", "b"], [10.0, 20.0], [0.99, 0.996], n_test=10_000)
    [bars] = [c for c in fig.axes[0].containers if isinstance(c, ErrorbarContainer)]
    segments = bars.lines[2][0].get_segments()
    half_heights = [abs(seg[1][1] - seg[0][1]) / 2 for seg in segments]
    expected = [100 * np.sqrt(p * (1 - p) / 10_000) for p in (0.99, 0.996)]
    assert np.allclose(half_heights, expected)
    assert "standard error" in fig.axes[0].get_legend().get_texts()[0].get_text()
    with pytest.raises(ValueError, match="n_test must be a positive integer, got 0"):
        plots.plot_accuracy_vs_time(["a"], [1.0], [0.9], n_test=0)


@pytest.mark.parametrize("image", [X[0], (X[0] * 255).astype(np.uint8)], ids=["floats", "bytes"])
def test_digits_are_drawn_as_the_model_sees_them_white_ink_on_black(image):
    fig = plots.plot_digit_grid(np.stack([image] * 20), np.arange(20) % 10, per_class=2)
    shown = fig.axes[0].images[0]
    full_ink = 255 if image.dtype == np.uint8 else 1
    assert shown.norm.vmin == 0 and shown.norm.vmax == full_ink
    assert shown.cmap(0.0)[:3] == (0.0, 0.0, 0.0)  # background black
    assert shown.cmap(1.0)[:3] == (1.0, 1.0, 1.0)  # full ink white


@pytest.mark.parametrize(
    ("draw", "panels"),
    [
        (lambda: plots.plot_feature_maps(rng.random((14, 14, 10)) * [[np.arange(1, 11)]], "m"), 10),
        (lambda: plots.plot_filters(rng.normal(size=(5, 5, 1, 12)), "filters"), 12),
    ],
    ids=["feature_maps", "filters"],
)
def test_maps_share_one_colour_scale_and_carry_a_colour_bar(draw, panels):
    fig = draw()
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == panels
    assert len({(im.norm.vmin, im.norm.vmax) for im in images}) == 1  # one scale for all
    colour_bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(colour_bars) == 1 and colour_bars[0].get_ylabel()


def test_learning_curves_mark_the_best_epoch_only_when_asked():
    history = pd.DataFrame(
        {
            "loss": np.linspace(1.0, 0.01, 40),
            "accuracy": np.linspace(0.8, 1.0, 40),
            "val_loss": 0.2 + (np.arange(40) - 9) ** 2 / 1000,
            "val_accuracy": np.full(40, 0.95),
        }
    )

    def best_lines(fig):
        return [
            line.get_xdata()[0]
            for ax in fig.axes
            for line in ax.get_lines()
            if line.get_label() == "kept epoch (10)"
        ]

    assert best_lines(plots.plot_learning_curves(history)) == []
    fig = plots.plot_learning_curves(history, best_epoch=10, title="Overfitting")
    assert best_lines(fig) == [10, 10]  # in both panels
    assert "kept epoch (10)" in [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert fig._suptitle.get_text() == "Overfitting"
    assert len(fig.axes[0].get_xticks()) < 15, "40 epochs must not get 40 ticks"


def test_learning_curves_draw_accuracy_in_percent_and_loss_as_it_is():
    history = pd.DataFrame({"loss": [1.0, 0.5], "accuracy": [0.8, 0.9]})
    history["val_loss"], history["val_accuracy"] = [1.1, 0.6], [0.7, 0.85]
    ax_loss, ax_acc = plots.plot_learning_curves(history).axes
    assert ax_acc.get_ylabel() == "accuracy (%)" and ax_loss.get_ylabel() == "loss"
    training, validation = ax_acc.get_lines()
    np.testing.assert_allclose(training.get_ydata(), [80, 90])
    np.testing.assert_allclose(validation.get_ydata(), [70, 85])
    np.testing.assert_allclose(ax_loss.get_lines()[1].get_ydata(), [1.1, 0.6])


@pytest.mark.parametrize("peak", [1e-4, 6e-3, 0.1])
def test_learning_rate_ticks_are_plain_decimals_without_an_offset(peak):
    steps = np.arange(0, 1001, 10)
    rates = peak * np.minimum(1, steps / 125) * (1 + np.cos(np.pi * steps / 1000)) / 2
    fig = plots.plot_learning_rate(steps, rates, 100)
    fig.canvas.draw()
    ax = fig.axes[0]
    assert ax.yaxis.get_offset_text().get_text() == ""  # no "1e-3" in the corner
    labels = [t.get_text().replace("\u2212", "-") for t in ax.get_yticklabels()]
    assert all(label.startswith("0.") or label == "0" for label in labels), labels
    visible = [float(label) for label in labels]
    np.testing.assert_allclose(visible, ax.get_yticks(), atol=1e-12)  # the values, as written
    assert max(visible) >= peak * 0.5 and len(set(labels)) == len(labels)


def test_ablation_plots_each_variants_step_losses_as_a_running_mean():
    losses = {"recipe": [4.0, 2.0, 1.0, 1.0, 0.5] * 20, "plain SGD": [2.0] * 100}
    fig = plots.plot_ablation(losses, {"recipe": [0.9, 0.97], "plain SGD": [0.8, 0.9]}, 50)
    ax_loss, ax_acc = fig.axes
    lines = {line.get_label(): line for line in ax_loss.get_lines()}
    assert list(lines) == ["recipe", "plain SGD"]
    window = 20
    expected = np.convolve(losses["recipe"], np.ones(window) / window, mode="valid")
    np.testing.assert_allclose(lines["recipe"].get_ydata(), expected)
    np.testing.assert_allclose(lines["recipe"].get_xdata(), np.arange(window, 101) / 50)
    assert str(window) in ax_loss.get_title() and ax_loss.get_yscale() == "log"
    accuracy = {line.get_label(): line.get_ydata() for line in ax_acc.get_lines()}
    np.testing.assert_allclose(accuracy["recipe"], [90, 97])


def test_confusion_matrix_keeps_the_diagonal_white_with_dark_readable_counts():
    y = np.repeat(np.arange(10), 20)
    pred = y.copy()
    pred[:3] = 7  # three zeros read as 7
    fig = plots.plot_confusion_matrix(evaluation.confusion_matrix_frame(y, pred))
    ax = fig.axes[0]
    image = ax.images[0]
    assert image.get_array().mask[0, 0]
    assert np.allclose(image.cmap.get_bad()[:3], 1.0)  # white
    texts = {text.get_text(): text.get_color() for text in ax.texts}
    assert texts["17"] == "k" and texts["20"] == "k"  # diagonal counts: dark on white
    assert "3" in texts  # the mistake


def test_predictions_pair_each_image_with_its_bars_three_to_a_row_and_mark_wrong_answers():
    proba = np.eye(10)[[3, 5, 7, 1]]
    fig = plots.plot_predictions(X[:4, ..., None], proba, list("abcd"), labels=[3, 5, 2, 1])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:6] == ["a", "predicted 3 (100%)", "b", "predicted 5 (100%)", "c", titles[5]]
    assert titles[5] == "predicted 7 (100%), true 2: wrong"
    assert len(fig.axes) == 12 and fig.axes[7].axison and not fig.axes[8].axison  # 4 of 6


def test_preprocessing_steps_draw_each_step_titled_with_its_size_and_mark_the_centre():
    steps = {"original": (BAR_PAGE * 255).astype(np.uint8)} | mnist_like(BAR_PAGE, True)[1]
    fig = plots.plot_preprocessing_steps(steps)
    assert [ax.get_title().split("\n")[0] for ax in fig.axes] == list(steps)
    assert fig.axes[0].images[0].get_clim() == (0, 255)  # bytes, as they look
    last = fig.axes[-1]
    assert last.get_title() == "28x28 centred\n28x28"
    [legend] = fig.legends  # one legend for the figure says what the marks mean
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts == ["centre of the 28x28 image", "centre of mass of the ink"]
    horizontal, vertical, mass = last.get_lines()
    assert list(horizontal.get_ydata()) == [13.5, 13.5] and list(vertical.get_xdata()) == [13.5] * 2
    assert mass.get_marker() == "+"


def test_reliability_diagram_draws_both_axes_in_percent_with_the_diagonal():
    table = pd.DataFrame({"confidence": [0.35, 0.95], "accuracy": [0.3, 0.97], "count": [4, 96]})
    ax = plots.plot_reliability(table).axes[0]
    diagonal, model = ax.get_lines()
    assert list(diagonal.get_xdata()) == [0, 100] and list(diagonal.get_ydata()) == [0, 100]
    np.testing.assert_allclose(model.get_xdata(), [35, 95])
    np.testing.assert_allclose(model.get_ydata(), [30, 97])
    assert ax.get_xlabel().endswith("(%)") and ax.get_ylabel().endswith("(%)")
    assert ax.get_xlim()[1] > 100 and ax.get_ylim()[1] > 100
    assert [t.get_text() for t in ax.texts] == ["4", "96"]


def test_a_digit_with_noise_past_1_is_drawn_on_the_0_to_1_scale():
    """04's appearance augmentation adds noise without clipping: a 0-1 digit whose brightest
    pixel is 1.3 must not be drawn as a 0-255 image (all black)."""
    noisy = np.zeros((28, 28), dtype="float32")
    noisy[10:18, 12:16] = 1.3
    fig = plots.plot_augmented_examples(noisy[np.newaxis], [noisy[np.newaxis]])
    assert [ax.images[0].get_clim() for ax in fig.axes] == [(0, 1), (0, 1)]
    assert (
        plots.plot_augmented_examples(255 * noisy[np.newaxis], []).axes[0].images[0].get_clim()[1]
        == 255
    )


def test_reliability_diagram_draws_several_models_side_by_side():
    """05 puts an over-confident model beside the default, on one diagram."""
    calibrated = pd.DataFrame({"confidence": [0.95], "accuracy": [0.95], "count": [10]})
    overconfident = pd.DataFrame({"confidence": [0.99], "accuracy": [0.8], "count": [7]})
    tables = {"default": calibrated, "overfit": overconfident}
    ax = plots.plot_reliability(tables).axes[0]
    _, first, second = ax.get_lines()
    np.testing.assert_allclose(second.get_ydata(), [80])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["perfectly calibrated", "default", "overfit"]
    assert [t.get_color() for t in ax.texts] == [first.get_color(), second.get_color()]


def test_mistakes_title_says_how_many_it_shows_when_not_all():
    mistakes = evaluation.mistakes_frame(Y, PROBA)
    assert len(mistakes) > 5
    fig = plots.plot_mistakes(X, mistakes, n=5)
    assert fig._suptitle.get_text().endswith(f"(probability) (5 of {len(mistakes)} shown)")
    assert sum(ax.axison for ax in fig.axes) == 5
    fig = plots.plot_mistakes(X, mistakes, n=5, title="Wrong for every model")
    assert fig._suptitle.get_text() == f"Wrong for every model (5 of {len(mistakes)} shown)"
    fig = plots.plot_mistakes(X, mistakes.head(3), n=24, title="Wrong for every model")
    assert fig._suptitle.get_text() == "Wrong for every model"  # all shown: nothing to add


def test_confidence_histogram_draws_outlines_so_neither_group_hides_the_other():
    fig = plots.plot_confidence_histogram(PROBA, Y)
    patches = fig.axes[0].patches
    assert len(patches) == 2 and all(not patch.get_fill() for patch in patches)


SHIFT_SCORES = pd.DataFrame(  # "clean" not first: the heat map puts it first
    {"cnn": [0.05, 0.99, 0.7, 0.375], "mlp": [0.5, 0.98, 0.3, 0.4], "new": [0.9, 0.995, 0.9, 0.9]},
    index=["impulse_noise", "clean", "fog", "mean"],
)


def test_shift_heatmap_puts_models_in_rows_and_clean_first_and_mean_apart():
    fig = plots.plot_shift_heatmap(SHIFT_SCORES)
    ax, ax_mean, colour_bar = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cnn", "mlp", "new"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["clean", "impulse noise", "fog"]
    assert all(t.get_rotation() == 45 for t in ax.get_xticklabels())
    assert ax.images[0].get_array().shape == (3, 3)
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t for t in ax.texts}
    assert cells[(0, 0)].get_text() == "99.0" and cells[(0, 1)].get_text() == "5.0"
    assert cells[(1, 2)].get_text() == "30.0" and cells[(2, 0)].get_text() == "99.5"
    assert [t.get_text() for t in ax_mean.texts] == ["37.5", "40.0", "90.0"]
    assert ax_mean.get_xlabel().replace("\n", " ") == "mean of the 2 corruptions"
    fig.canvas.draw()
    assert ax.get_position().x1 < ax_mean.get_position().x0  # a gap sets the mean apart
    assert colour_bar.get_ylabel() == "test accuracy (%)"
    assert all((im.norm.vmin, im.norm.vmax) == (0, 100) for im in ax.images + ax_mean.images)
    assert "accuracy" in fig._suptitle.get_text()


def test_shift_heatmap_writes_dark_text_on_light_cells_and_light_text_on_dark_ones():
    fig = plots.plot_shift_heatmap(SHIFT_SCORES)
    colours = {t.get_text(): matplotlib.colors.to_rgb(t.get_color()) for t in fig.axes[0].texts}
    assert colours["99.0"] == (0, 0, 0)  # viridis is yellow at 100
    assert colours["5.0"] == (1, 1, 1)  # and dark purple near 0


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (pd.DataFrame(), "table is empty: pass one row per corruption"),
        (SHIFT_TABLE.drop(index="mean"), r"no 'mean' row \(rows: \['clean', 'fog'\]\): pass"),
        (SHIFT_TABLE.loc[["mean"]], "only a 'mean' row: pass one row per corruption"),
    ],
    ids=["empty", "no_mean", "only_mean"],
)
def test_shift_heatmap_says_what_table_it_expects(table, message):
    with pytest.raises(ValueError, match=message):
        plots.plot_shift_heatmap(table)


def test_corruption_grid_has_one_column_per_corruption_titled_once():
    images = {name: np.zeros((2, 28, 28), np.uint8) for name in ("clean", "glass_blur", "fog")}
    fig = plots.plot_corruptions(images)
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes] == ["clean", "glass\nblur", "fog", "", "", ""]


@pytest.mark.parametrize(
    "call",
    [
        lambda: plots.plot_corruptions({}),
        lambda: plots.plot_shift_heatmap(pd.DataFrame()),
        lambda: plots.plot_severity_curves({}, "fog"),
    ],
)
def test_shift_figures_refuse_empty_input_with_what_to_pass(call):
    with pytest.raises(ValueError, match="empty: "):
        call()


def test_filters_can_be_named_one_by_one():
    """02 draws the linear model's 784 x 10 weights as ten pictures titled by their digit."""
    weights = np.random.default_rng(0).normal(size=(28, 28, 1, 10))
    fig = plots.plot_filters(weights, "weights", names=[str(d) for d in range(10)])
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == [str(d) for d in range(10)]
    with pytest.raises(ValueError, match="one name per kernel"):
        plots.plot_filters(weights, "weights", names=["0"])


def test_descent_paths_stop_where_they_leave_the_plot_and_say_how_many_steps_are_off():
    path = np.array([[-4.0, 1.5], [-3.9, -1.8], [-3.8, 2.6], [-3.7, -2.0]])
    fig = plots.plot_descent_paths((1, 10), {0.21: path})
    ax = fig.axes[0]
    assert ax.get_title() == "learning rate 0.21, off the plot after 1 step"
    assert len(ax.lines[0].get_xdata()) == 2


def test_loss_against_accuracy_draws_accuracy_in_percent():
    fig = plots.plot_loss_against_accuracy(np.arange(3), np.ones(3), np.array([0.25, 0.5, 0.5]))
    assert list(fig.axes[1].lines[0].get_ydata()) == [25.0, 50.0, 50.0]


def test_saliency_maps_share_one_colour_scale_from_zero():
    heat = np.zeros((2, 28, 28))
    heat[1, 3, 3] = 5.0
    fig = plots.plot_saliency(X[:2], heat, ["one", "two"])
    scales = {ax.images[0].get_clim() for ax in fig.axes[2:4]}
    assert scales == {(0.0, 5.0)}


def test_adversarial_change_is_drawn_symmetric_around_zero():
    fig = plots.plot_adversarial(np.zeros((28, 28)), np.full((28, 28), 0.1), ["a", "b", "c"])
    assert np.allclose(fig.axes[1].images[0].get_clim(), (-0.1, 0.1))
