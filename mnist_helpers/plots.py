"""Every figure of the course, each function returning a matplotlib Figure; ``save="05_x"``
also writes ``figures/05_x.png``. Digits are drawn as the model sees them, white ink on black
on a fixed scale. The course's style (:data:`STYLE`) applies inside each function only:
importing this module changes no matplotlib setting."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from mnist_helpers.checks import check_int
from mnist_helpers.files import atomic_path
from mnist_helpers.paths import figures_dir
from mnist_helpers.preprocess import center_of_mass

#: The course's figure style: each plotting function draws (and saves) in it, ``@_styled``.
STYLE = {"figure.dpi": 100, "savefig.dpi": 100, "axes.titleweight": "bold"}
_styled = matplotlib.rc_context(STYLE)


def save_figure(fig: Figure, name: str) -> str:
    """Save ``fig`` as ``figures/<name>.png`` (atomically) and return the path as text."""
    path = figures_dir() / f"{name}.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, bbox_inches="tight", metadata={"Software": None})
    return str(path)


def _finish(fig: Figure, save: str | None, title: str | None = None) -> Figure:
    if title:
        fig.suptitle(title)
    if fig.get_layout_engine() is None:  # figures with a shared colour bar lay out themselves
        fig.tight_layout()
    if save:
        save_figure(fig, save)
    return fig


def _show_digit(ax, image: np.ndarray, title: str | None = None) -> None:
    image = np.squeeze(np.asarray(image))
    # pixels 0-255 (integers, or floats far above 1) or 0-1 floats, which training-time noise
    # may push a little past 1 (then shown as full ink, not as a black 0-255 image)
    full_ink = 255 if image.dtype.kind in "ui" or image.max(initial=0) > 2 else 1
    ax.imshow(image, cmap="gray", vmin=0, vmax=full_ink)  # as the model sees it: ink white
    ax.set(xticks=[], yticks=[])
    if title is not None:
        ax.set_title(title, fontsize=9, fontweight="normal")


@_styled
def plot_digit_grid(
    x: np.ndarray, y: np.ndarray, per_class: int = 8, seed: int = 0, save: str | None = None
) -> Figure:
    """Draw ``per_class`` random examples of each digit, one row per digit. Taught in 01."""
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(10, per_class, figsize=(per_class * 0.8, 8.4))
    for digit in range(10):
        picks = rng.choice(np.flatnonzero(y == digit), size=per_class, replace=False)
        for col, index in enumerate(picks):
            _show_digit(axes[digit, col], x[index])
        axes[digit, 0].set_ylabel(str(digit), rotation=0, labelpad=12, fontsize=12)
    return _finish(fig, save, "Random training images, one row per digit")


@_styled
def plot_class_balance(counts: pd.Series, save: str | None = None) -> Figure:
    """Bar chart of how many images each digit has, the mean dashed. Taught in 01."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(counts.index.astype(str), counts.to_numpy(), color="C0")
    ax.axhline(counts.mean(), color="C1", linestyle="--", label=f"mean {counts.mean():,.0f}")
    ax.set(title="Training images per digit", xlabel="digit", ylabel="number of images")
    ax.legend(loc="lower right")
    return _finish(fig, save)


@_styled
def plot_mean_digits(x: np.ndarray, y: np.ndarray, save: str | None = None) -> Figure:
    """Draw the pixel-wise mean image of each digit. Taught in 01."""
    fig, axes = plt.subplots(1, 10, figsize=(10, 1.6))
    for digit, ax in enumerate(axes):
        _show_digit(ax, x[y == digit].mean(axis=0), str(digit))
    return _finish(fig, save, "Mean image of each digit")


@_styled
def plot_pixel_histogram(x: np.ndarray, save: str | None = None) -> Figure:
    """Where the pixel values of ``x`` (bytes, or floats in [0, 1]) lie: the share of each kind,
    and the cumulative share of the ink pixels at or below each value. Taught in 01."""
    values = np.ravel(x)
    values = (np.rint(values * 255) if values.dtype.kind == "f" else values).astype(np.int64)
    groups = ("background\n0", "in between\n1-249", "full ink\n250-255")
    shares = [100 * np.mean(m) for m in (values == 0, (values > 0) & (values < 250), values >= 250)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), width_ratios=(2, 3))
    bars = left.bar(groups, shares, color=["0.3", "C0", "C1"])
    left.bar_label(bars, fmt="%.1f %%", fontsize=9)
    left.set(ylim=(0, 100), title="All pixels", xlabel="pixel value")
    left.set_ylabel("share of all pixels (%)")
    ink = values[values > 0]
    counts = np.bincount(ink, minlength=256)[1:]
    right.plot(np.arange(1, 256), 100 * np.cumsum(counts) / max(len(ink), 1), color="C0")
    right.axvline(249.5, color="C1", linestyle="--", label="full ink starts (250)")
    right.set(xlim=(0, 256), ylim=(0, 100), title="Ink pixels (value 1 or more), cumulative")
    right.set(xlabel="pixel value", ylabel="share of ink pixels at or below (%)")
    right.legend(loc="upper left")
    right.grid(alpha=0.3)
    return _finish(fig, save, "Pixel intensities of the training images")


@_styled
def plot_convolution(
    image: np.ndarray, kernel: np.ndarray, result: np.ndarray, save: str | None = None
) -> Figure:
    """An image, a 3x3 kernel with its numbers, and the feature map it makes. Taught in 03."""
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.3))
    _show_digit(axes[0], image, "input image (28x28)")
    mapped = f"feature map ({result.shape[0]}x{result.shape[1]})"
    for ax, values, title in ((axes[1], kernel, "3x3 kernel"), (axes[2], result, mapped)):
        limit = float(np.abs(values).max()) or 1.0
        shown = ax.imshow(np.squeeze(values), cmap="cividis", vmin=-limit, vmax=limit)
        ax.set(xticks=[], yticks=[])
        ax.set_title(title, fontsize=9, fontweight="normal")
    for (i, j), value in np.ndenumerate(kernel):
        colour = "k" if value > 0 else "w"  # dark text on the light (positive) cells
        axes[1].text(j, i, f"{value:g}", ha="center", va="center", color=colour, fontsize=12)
    fig.colorbar(shown, ax=axes[2], fraction=0.046, pad=0.04, label="response (0 = flat)")
    return _finish(fig, save, "A convolution: slide the kernel, multiply, add")


@_styled
def plot_losses_by_learning_rate(
    losses: dict[float, list[float]], save: str | None = None
) -> Figure:
    """The loss after each gradient step, one line per learning rate, log scale. Taught in 02."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for learning_rate, values in losses.items():
        ax.plot(np.arange(len(values)), values, "o-", markersize=3, label=f"{learning_rate:g}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(yscale="log", title="One learning rate too small, one right, one too large")
    ax.set(xlabel="gradient step", ylabel="loss on the batch (log scale)")
    ax.legend(title="learning rate")
    return _finish(fig, save)


@_styled
def plot_loss_against_accuracy(
    steps: np.ndarray, losses: np.ndarray, accuracies: np.ndarray, save: str | None = None
) -> Figure:
    """The loss and the accuracy of one batch as the weights move along a line: ``steps`` are
    how far they moved, ``losses`` and ``accuracies`` (fractions) the batch's values there.
    Taught in 02: the loss slopes everywhere, the accuracy is a staircase."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 4.6), sharex=True)
    top.plot(steps, losses, color="C0")
    top.set(ylabel="loss on the batch", title="The loss: a slope at every point")
    bottom.step(steps, 100 * np.asarray(accuracies), where="mid", color="C1")
    bottom.set(ylabel="accuracy on the batch (%)", title="The accuracy: flat, then a jump")
    bottom.set(xlabel="distance moved against the gradient (step size)")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    return _finish(fig, save, "Moving the weights along one line")


@_styled
def plot_descent_paths(
    curvatures: tuple[float, float], paths: dict[float, np.ndarray], save: str | None = None
) -> Figure:
    """Gradient descent on the bowl ``(a * w1**2 + c * w2**2) / 2`` with ``curvatures``
    ``(a, c)``: the loss's contours, and one path of points (an array of shape (steps + 1, 2))
    per learning rate in ``paths``. Taught in 02."""
    a, c = curvatures
    fig, axes = plt.subplots(1, len(paths), figsize=(4 * len(paths), 3.4), sharey=True)
    w1, w2 = np.meshgrid(np.linspace(-5, 5, 201), np.linspace(-2.5, 2.5, 201))
    for ax, (rate, path) in zip(np.atleast_1d(axes), paths.items(), strict=True):
        ax.contour(w1, w2, (a * w1**2 + c * w2**2) / 2, levels=12, cmap="viridis", alpha=0.6)
        inside = (np.abs(path[:, 0]) <= 5) & (np.abs(path[:, 1]) <= 2.5)
        shown = path[: len(path) if inside.all() else int(np.argmin(inside))]  # up to leaving
        ax.plot(shown[:, 0], shown[:, 1], "o-", color="C3", markersize=3, lw=1)
        ax.plot(0, 0, "k*", markersize=10)
        ax.set(xlim=(-5, 5), ylim=(-2.5, 2.5), xlabel="weight 1 (flat direction)")
        steps = len(shown) - 1
        note = "" if len(shown) == len(path) else f", off the plot after {steps} step"
        note += "s" if note and steps != 1 else ""
        ax.set_title(f"learning rate {rate:g}{note}", fontsize=10)
    np.atleast_1d(axes)[0].set_ylabel("weight 2 (steep direction)")
    return _finish(fig, save, "Gradient descent on a bowl, from the same start (star: the minimum)")


@_styled
def plot_receptive_fields(
    image: np.ndarray, fields: dict[str, int], save: str | None = None
) -> Figure:
    """The pixels one unit at the image's centre sees after each layer: ``fields`` maps a
    layer's name to the side of its receptive field, in pixels. Taught in 03."""
    image = np.squeeze(image)
    fig, ax = plt.subplots(figsize=(4.6, 4.6))
    _show_digit(ax, image)
    centre = (image.shape[0] - 1) / 2
    colours = plt.cm.viridis(np.linspace(0.5, 1, len(fields)))
    for colour, (name, size) in zip(colours, fields.items(), strict=True):
        corner = centre - size / 2
        square = plt.Rectangle((corner, corner), size, size, fill=False, lw=2, color=colour)
        ax.add_patch(square).set_label(f"{name}: {size}x{size}")
    ax.set(xlim=(-0.5, image.shape[1] - 0.5), ylim=(image.shape[0] - 0.5, -0.5))
    ax.set_title("What one central unit sees, layer by layer")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=2, fontsize=8, frameon=False)
    return _finish(fig, save)


def _panels_on_one_scale(
    panels: list[np.ndarray],
    title: str,
    cmap: str,
    limits: tuple,
    label: str,
    names: list[str] | None = None,
) -> Figure:
    """Small images in rows of 8, all on one colour scale (``limits``), with one colour bar;
    each titled by ``names``, if given."""
    rows = max(1, int(np.ceil(len(panels) / 8)))
    size = (8 * 1.1 + 0.9, rows * 1.2 + 0.6) if names else (8 * 1.0 + 0.9, rows * 1.1 + 0.6)
    fig, axes = plt.subplots(rows, 8, figsize=size, squeeze=False, layout="constrained")
    image = None
    for i, ax in enumerate(axes.flat):
        ax.set(xticks=[], yticks=[])
        if i >= len(panels):
            ax.axis("off")
            continue
        image = ax.imshow(panels[i], cmap=cmap, vmin=limits[0], vmax=limits[1])
        if names:
            ax.set_title(names[i], fontsize=8, fontweight="normal")
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.9, label=label)
    fig.suptitle(title)
    return fig


@_styled
def plot_feature_maps(
    maps: np.ndarray, title: str, max_maps: int = 16, save: str | None = None
) -> Figure:
    """Up to ``max_maps`` feature maps ``(h, w, channels)`` on one colour scale. Taught in 05."""
    shown = maps[..., : min(max_maps, maps.shape[-1])]
    limits = (min(0.0, float(shown.min())), float(shown.max()) or 1.0)
    panels = [shown[..., i] for i in range(shown.shape[-1])]
    names = [f"#{i}" for i in range(len(panels))]
    return _finish(
        _panels_on_one_scale(panels, title, "viridis", limits, "activation", names), save
    )


@_styled
def plot_filters(
    kernels: np.ndarray, title: str, save: str | None = None, names: list[str] | None = None
) -> Figure:
    """Kernels ``(h, w, 1, n)`` on one scale: red positive, blue negative; ``names``, one per
    kernel, title them. Taught in 02 (a linear model's weights) and 05."""
    if names is not None and len(names) != kernels.shape[-1]:
        raise ValueError(f"names needs one name per kernel ({kernels.shape[-1]}), got {len(names)}")
    limit = float(np.abs(kernels).max()) or 1.0
    panels = [kernels[:, :, 0, i] for i in range(kernels.shape[-1])]
    fig = _panels_on_one_scale(panels, title, "RdBu_r", (-limit, limit), "weight", names)
    return _finish(fig, save)


@_styled
def plot_learning_curves(
    history: pd.DataFrame,
    save: str | None = None,
    best_epoch: int | None = None,
    title: str | None = None,
) -> Figure:
    """Loss and accuracy (fractions in ``history``, drawn in %) per epoch, training and
    validation; ``best_epoch`` (from 1), the epoch whose weights were kept (the best on
    validation), dotted. Taught in 04."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = np.arange(1, len(history) + 1)
    panels = (("loss", ax_loss, 1, "loss"), ("accuracy", ax_acc, 100, "accuracy (%)"))
    for metric, ax, scale, ylabel in panels:
        ax.plot(epochs, scale * np.asarray(history[metric], dtype=float), "o-", label="training")
        if f"val_{metric}" in history:
            validation = scale * np.asarray(history[f"val_{metric}"], dtype=float)
            ax.plot(epochs, validation, "s--", label="validation")
        if best_epoch is not None:
            ax.axvline(best_epoch, color="0.3", linestyle=":", label=f"kept epoch ({best_epoch})")
        ax.set(xlabel="epoch", ylabel=ylabel)
        if len(epochs) <= 15:
            ax.set_xticks(epochs)
        else:  # one tick per epoch would crowd the axis
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    ax_loss.set_title("Loss (cross-entropy)")
    ax_acc.set_title("Accuracy")
    return _finish(fig, save, title)


@_styled
def plot_ablation(
    step_losses: dict[str, list[float]],
    val_accuracy: dict[str, list[float]],
    steps_per_epoch: int,
    save: str | None = None,
) -> Figure:
    """Short runs of recipe variants: the training loss per step (a running mean of up to 20,
    log scale) and the validation accuracy per epoch. Taught in 04."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    window = max(1, min(20, min(len(losses) for losses in step_losses.values()) // 5))
    for name, losses in step_losses.items():
        sums = np.cumsum(np.concatenate([[0.0], np.asarray(losses, dtype=float)]))
        smooth = (sums[window:] - sums[:-window]) / window  # the mean of each window
        steps = np.arange(window, window + len(smooth))  # the last step of each window
        ax_loss.plot(steps / steps_per_epoch, smooth, label=name)
    ax_loss.set(yscale="log", title=f"Training loss (running mean of {window} steps)")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss (cross-entropy, log scale)")
    ax_loss.legend()
    for name, accuracies in val_accuracy.items():
        epochs = np.arange(1, len(accuracies) + 1)
        ax_acc.plot(epochs, 100 * np.asarray(accuracies), "o-", label=name)
    longest = max(len(accuracies) for accuracies in val_accuracy.values())
    ax_acc.set(xticks=np.arange(1, longest + 1), xlim=(0.5, longest + 0.5))
    ax_acc.set(title="Validation accuracy after each epoch", xlabel="epoch")
    ax_acc.set_ylabel("validation accuracy (%)")
    ax_acc.legend()
    title = "What each ingredient of the recipe buys: the same short run, one change each"
    return _finish(fig, save, title)


@_styled
def plot_learning_rate(
    steps: np.ndarray, learning_rates: np.ndarray, steps_per_epoch: int, save: str | None = None
) -> Figure:
    """The learning rate at each training step, against epochs, in plain decimals (0.002,
    not 2 with a "1e-3" in the corner). Taught in 04."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot(np.asarray(steps) / steps_per_epoch, learning_rates, color="C0")
    ax.set(title="Learning rate during training", xlabel="epoch", ylabel="learning rate")
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)  # as many decimals as needed
    ax.set(xlim=(0, max(1e-9, float(np.max(steps)) / steps_per_epoch)), ylim=(0, None))
    return _finish(fig, save)


@_styled
def plot_confusion_matrix(cm: pd.DataFrame, save: str | None = None) -> Figure:
    """The confusion matrix with its counts, coloured by the errors only. Taught in 05."""
    values = cm.to_numpy()
    off = np.ma.masked_array(values, mask=np.eye(*values.shape, dtype=bool))
    colours = matplotlib.colormaps["viridis"].with_extremes(bad="white")  # the diagonal
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    image = ax.imshow(off, cmap=colours, vmin=0)
    top = max(int(off.max() or 0), 1)
    for (t, p), count in np.ndenumerate(values):
        if t == p or count:
            colour = "k" if t == p or count > top / 2 else "w"
            weight = "bold" if t == p else "normal"
            ax.text(p, t, count, ha="center", va="center", fontsize=8, color=colour, weight=weight)
    ax.set(xticks=range(10), yticks=range(10), xlabel="predicted digit", ylabel="true digit")
    ax.set_title("Confusion matrix (colour: errors; diagonal: right)")
    colorbar = fig.colorbar(image, ax=ax, label="number of test images")
    colorbar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return _finish(fig, save)


@_styled
def plot_mistakes(
    x: np.ndarray,
    mistakes: pd.DataFrame,
    n: int = 24,
    save: str | None = None,
    title: str = "Most confident mistakes: true → predicted (probability)",
) -> Figure:
    """The first ``n`` rows of a ``mistakes_frame``, as true → predicted; when that is not all
    of them, the title says how many it shows. Taught in 05 and 08."""
    n = min(n, len(mistakes))
    if n < len(mistakes):
        title = f"{title} ({n:,} of {len(mistakes):,} shown)"
    rows = max(1, int(np.ceil(n / 8)))
    fig, axes = plt.subplots(rows, 8, figsize=(8 * 1.3, rows * 1.55 + 0.4), squeeze=False)
    for ax, (_, row) in zip(axes.flat, mistakes.head(n).iterrows(), strict=False):
        label = f"{row['true']:.0f}→{row['predicted']:.0f} ({row['confidence']:.0%})"
        _show_digit(ax, x[int(row["index"])], label)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return _finish(fig, save, title)


@_styled
def plot_confidence_histogram(
    proba: np.ndarray, y_true: np.ndarray, save: str | None = None
) -> Figure:
    """Histogram of the top probability, for right and wrong predictions. Taught in 05."""
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == np.asarray(y_true)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    # outlines (step histograms), so that neither group hides the other
    step = {"bins": np.linspace(0, 1, 41), "log": True, "histtype": "step", "linewidth": 2}
    for group, label, style in ((correct, "right", "-"), (~correct, "wrong", "--")):
        ax.hist(confidence[group], linestyle=style, label=f"{label} ({group.sum():,})", **step)
    ax.set(title="How sure is the model?", xlabel="probability of the predicted digit")
    ax.set_ylabel("number of test images (log scale)")
    ax.legend(loc="upper left")
    return _finish(fig, save)


@_styled
def plot_reliability(
    table: pd.DataFrame | dict[str, pd.DataFrame], save: str | None = None
) -> Figure:
    """Accuracy against confidence per bin of a calibration table (fractions, drawn in %);
    on the diagonal the model is calibrated. ``table`` may also map models' names to their
    tables, to draw several on one diagram. Taught in 05."""
    tables = table if isinstance(table, dict) else {"model": table}
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    ax.plot([0, 100], [0, 100], color="0.5", linestyle="--", label="perfectly calibrated")
    for name, one in tables.items():
        confidence = 100 * one["confidence"].to_numpy(dtype=float)
        accuracy = 100 * one["accuracy"].to_numpy(dtype=float)
        (line,) = ax.plot(confidence, accuracy, "o-", label=name)
        for x, y, count in zip(confidence, accuracy, one["count"], strict=True):
            at = {"textcoords": "offset points", "xytext": (4, -10), "color": line.get_color()}
            ax.annotate(f"{count:.0f}", (x, y), fontsize=7, **at)
    ax.set(xlim=(0, 102), ylim=(0, 102), xlabel="mean confidence in bin (%)")
    ax.set(ylabel="accuracy in bin (%)", title="Reliability diagram (labels: images per bin)")
    ax.legend(loc="lower right", fontsize=8)
    return _finish(fig, save)


@_styled
def plot_augmented_examples(
    originals: np.ndarray, augmented_rows: list[np.ndarray], save: str | None = None
) -> Figure:
    """Digits (top row) and their random augmented copies, a row per draw. Taught in 08."""
    rows = [np.asarray(originals), *(np.asarray(r) for r in augmented_rows)]
    n = len(rows[0])
    size = (n * 1.0 + 0.6, len(rows) * 1.05 + 0.5)
    fig, axes = plt.subplots(len(rows), n, figsize=size, squeeze=False)
    for r, images in enumerate(rows):
        for c in range(n):
            _show_digit(axes[r, c], images[c])
        label = "original" if r == 0 else f"random {r}"
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    title = "Data augmentation: each training image, changed at random every epoch"
    return _finish(fig, save, title)


@_styled
def plot_accuracy_vs_time(
    labels: list[str],
    seconds: np.ndarray,
    accuracies: np.ndarray,
    target: float | None = None,
    save: str | None = None,
    n_test: int | None = None,
) -> Figure:
    """Test accuracy (fractions, drawn in %) of each model against its training seconds;
    ``target`` dashed; ``n_test`` (the number of test images) gives each point an error bar
    of one binomial standard error, sqrt(p (1 - p) / n). Taught in 08."""
    if n_test is not None:
        n_test = check_int("n_test", n_test, hint="the number of test images, e.g. 10_000")
    seconds = np.asarray(seconds, dtype=float)
    percent = np.asarray(accuracies, dtype=float) * 100
    fig, ax = plt.subplots(figsize=(8, 4.5))
    errors = np.zeros_like(percent)
    if n_test is not None:
        errors = 100 * np.sqrt(percent / 100 * (1 - percent / 100) / n_test)
        label = f"test accuracy ± 1 standard error ({n_test:,} images)"
        ax.errorbar(seconds, percent, errors, fmt="o", color="C0", capsize=3, zorder=3, label=label)
    else:
        ax.scatter(seconds, percent, color="C0", zorder=3)
    if target is not None:
        ax.axhline(target * 100, color="C1", linestyle="--", label=f"target {target:.1%}")
    if target is not None or n_test is not None:
        ax.legend(loc="lower right")
    # labels to the right of their points, pushed up where they would overlap
    x_max = float(seconds.max()) if len(seconds) else 1.0
    char = x_max / 95  # about one character of the 8-point labels, in seconds
    spread = np.concatenate([percent - errors, percent + errors]) if len(percent) else [0, 1.0]
    low, high = float(np.min(spread)), float(np.max(spread))
    gap = max(high - low, 0.05) * 0.07
    label_y = percent.copy()
    # boxes (x from, x to, y) that a label must not cover: the points, then placed labels
    boxes = [(x - char, x + char, y) for x, y in zip(seconds, percent, strict=True)]
    for i in np.argsort(percent, kind="stable"):
        start, end = seconds[i] + char, seconds[i] + char * (len(labels[i]) + 2)
        moved = True
        while moved:
            moved = False
            for x0, x1, y in sorted(boxes, key=lambda box: box[2]):
                if x0 < end and start < x1 and abs(y - label_y[i]) < gap * 0.8:
                    label_y[i], moved = y + gap, True
        boxes.append((start, end, label_y[i]))
    for label, x, y, text_y in zip(labels, seconds, percent, label_y, strict=True):
        line = {"arrowstyle": "-", "color": "0.6", "lw": 0.6} if text_y != y else None
        at = (x + 1.5 * char, text_y)
        ax.annotate(label, (x, y), xytext=at, fontsize=8, va="center", arrowprops=line)
    ax.set_xlim(0, x_max + char * (max(map(len, labels), default=0) + 3))
    ax.set_ylim(low - gap, max(high, float(label_y.max(initial=high))) + gap)
    ax.set(title="Test accuracy against training time", ylabel="test accuracy (%)")
    ax.set_xlabel("training time (s, an ensemble: all its members)")
    ax.grid(alpha=0.3)
    return _finish(fig, save)


@_styled
def plot_sweep(
    table: pd.DataFrame, keys: list[str], title: str = "Sweep", save: str | None = None
) -> Figure:
    """A sweep's test accuracies against training seconds, labelled by ``keys``. Taught in 08."""
    done = table[table["test_accuracy"].notna()]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter(done["train_seconds"], done["test_accuracy"] * 100, color="C0")
    for _, row in done.iterrows():
        label = ", ".join(f"{k}={row[k]}" for k in keys)
        at = (row["train_seconds"], row["test_accuracy"] * 100)
        ax.annotate(label, at, fontsize=7, textcoords="offset points", xytext=(4, 4))
    ax.margins(x=0.3, y=0.1)  # room for the labels
    ax.set(title=title, xlabel="training time (s)", ylabel="test accuracy (%)")
    return _finish(fig, save)


@_styled
def plot_preprocessing_steps(
    steps: dict[str, np.ndarray],
    title: str = "The MNIST recipe, step by step",
    save: str | None = None,
) -> Figure:
    """The steps of ``mnist_like(image, return_steps=True)`` (and an ``"original"``) side by
    side; the last marks the image's centre (dotted) and the ink's centre of mass (+), with
    a legend below. Taught in 06."""
    size = (2.3 * len(steps), 3.4)
    fig, axes = plt.subplots(1, len(steps), figsize=size, squeeze=False, layout="constrained")
    for ax, (name, image) in zip(axes[0], steps.items(), strict=True):
        image = np.asarray(image)
        label = f"{name}\n{image.shape[0]}x{image.shape[1]}"
        _show_digit(ax, image, label)
        if name in ("original", "grayscale"):  # as they look: colour images keep theirs
            ax.images[0].set(clim=(0, 255 if image.dtype.kind in "ui" else 1))
    last = np.squeeze(np.asarray(list(steps.values())[-1]))
    if last.sum() > 0:
        centre, (height, width) = center_of_mass(last), last.shape
        ax = axes[0, -1]
        dotted = {"color": "C9", "linestyle": ":", "linewidth": 1}
        ax.axhline((height - 1) / 2, label=f"centre of the {height}x{width} image", **dotted)
        ax.axvline((width - 1) / 2, **dotted)
        mass = {"color": "C1", "markersize": 12, "markeredgewidth": 2}
        ax.plot(centre[1], centre[0], "+", label="centre of mass of the ink", **mass)
        fig.legend(loc="outside lower center", ncol=2, fontsize=9, frameon=False)
    return _finish(fig, save, title)


@_styled
def plot_predictions(
    images: np.ndarray,
    probabilities: np.ndarray,
    names: list[str],
    labels: list[int] | None = None,
    save: str | None = None,
) -> Figure:
    """Each input beside a bar chart of its 10 probabilities, three to a row; with the true
    ``labels``, wrong predictions are marked. Taught in 06."""
    rows = int(np.ceil(len(images) / 3))
    fig, axes = plt.subplots(
        rows, 6, figsize=(13.8, 2.2 * rows + 0.5), squeeze=False, width_ratios=[1, 1.7] * 3
    )
    for i, (ax_image, ax_bars) in enumerate(axes.reshape(-1, 2)):  # three pairs to a row
        if i >= len(images):
            ax_image.axis("off")
            ax_bars.axis("off")
            continue
        _show_digit(ax_image, images[i], names[i])
        best = int(np.argmax(probabilities[i]))
        colours = ["C0" if digit == best else "0.7" for digit in range(10)]
        ax_bars.bar(range(10), probabilities[i], color=colours)
        wrong = labels is not None and labels[i] != best
        verdict = f"predicted {best} ({probabilities[i][best]:.0%})"
        verdict += f", true {labels[i]}: wrong" if wrong else ""
        ax_bars.set_title(verdict, fontsize=9, fontweight="bold" if wrong else "normal")
        ax_bars.set(xticks=range(10), ylim=(0, 1), yticks=[0, 0.5, 1])
        ax_bars.tick_params(labelsize=8)
        ax_bars.set_xlabel("digit", fontsize=8)
        ax_bars.set_ylabel("probability", fontsize=8)
    title = "What the model sees, and its probability for each digit (blue: its answer)"
    return _finish(fig, save, title)


@_styled
def plot_corruptions(images: dict[str, np.ndarray], save: str | None = None) -> Figure:
    """The same digits under each corruption: ``images`` maps a corruption's name to uint8
    images ``(k, 28, 28)``, one column each in that order, one row per digit. Taught in 07."""
    if not images:
        raise ValueError("images is empty: pass {name: images}, e.g. {'clean': x[:4]}")
    rows, cols = min(len(v) for v in images.values()), len(images)
    fig, axes = plt.subplots(rows, cols, figsize=(1.05 * cols, 1.15 * rows + 0.6), squeeze=False)
    for col, (name, batch) in enumerate(images.items()):
        for row in range(rows):
            _show_digit(axes[row, col], batch[row], name.replace("_", "\n") if row == 0 else None)
    return _finish(fig, save, "The same test digits under each corruption (as the model sees them)")


@_styled
def plot_shift_heatmap(table: pd.DataFrame, save: str | None = None) -> Figure:
    """Accuracy (%) of each model (a row) on each corruption (a column), a number in each
    cell: ``table`` holds fractions, one row per corruption with "clean" and "mean" among
    them, one column per model. "clean" comes first; the "mean" column stands apart at the
    right; the colours run on a fixed 0-100 % scale, so that two heat maps compare. Taught
    in 07."""
    expected = (
        "one row per corruption, 'clean' and 'mean' (the corruptions' mean accuracy) among "
        "them, one column per model, accuracies as fractions"
    )
    if table.empty:
        raise ValueError(f"table is empty: pass {expected}")
    if "mean" not in table.index:
        raise ValueError(f"table has no 'mean' row (rows: {list(table.index)}): pass {expected}")
    corruptions = [name for name in table.index if name not in ("clean", "mean")]
    columns = (["clean"] if "clean" in table.index else []) + corruptions
    if not columns:
        raise ValueError(f"table has only a 'mean' row: pass {expected}")
    cells = 100 * table.loc[columns].to_numpy(dtype=float).T  # models as rows
    means = 100 * table.loc[["mean"]].to_numpy(dtype=float).T
    n_models, n_columns = cells.shape
    size = (0.62 * n_columns + 4.6, 0.42 * n_models + 2.6)
    fig, (ax, ax_mean) = plt.subplots(
        1, 2, figsize=size, sharey=True, width_ratios=(n_columns, 1.2), layout="constrained"
    )
    fig.get_layout_engine().set(wspace=0.02)  # a gap between the corruptions and their mean
    cmap, norm = matplotlib.colormaps["viridis"], Normalize(vmin=0, vmax=100)
    for axes, values in ((ax, cells), (ax_mean, means)):
        image = axes.imshow(values, cmap=cmap, norm=norm, aspect="auto")
        for (row, col), value in np.ndenumerate(values):
            if np.isnan(value):
                continue
            red, green, blue, _ = cmap(norm(value))
            light = 0.299 * red + 0.587 * green + 0.114 * blue > 0.5
            colour = "k" if light else "w"  # dark text on light cells, white on dark
            axes.text(col, row, f"{value:.1f}", ha="center", va="center", fontsize=8, color=colour)
    ax.set_yticks(range(n_models), [str(model) for model in table.columns])
    names = [str(name).replace("_", " ") for name in columns]
    ax.set_xticks(range(n_columns), names, rotation=45, ha="right", rotation_mode="anchor")
    if columns[0] == "clean":
        ax.get_xticklabels()[0].set_fontweight("bold")
        if corruptions:  # a white line between the clean images and the corruptions
            ax.axvline(0.5, color="white", linewidth=3)
    ax.set(xlabel="corruption (benchmark severity)", ylabel="model")
    ax.tick_params(length=0)
    ax_mean.set_xticks([])
    count = len(corruptions)
    ax_mean.set_xlabel(f"mean of\nthe {count}\ncorruption{'s' if count != 1 else ''}")
    ax_mean.xaxis.label.set_fontweight("bold")
    ax_mean.xaxis.set_label_position("top")
    ax_mean.tick_params(length=0)
    fig.colorbar(image, ax=[ax, ax_mean], label="test accuracy (%)", shrink=0.9)
    title = "Test accuracy (%) of each model (a row) on each corruption of the test images"
    return _finish(fig, save, title)


@_styled
def plot_saliency(
    images: np.ndarray, saliency: np.ndarray, titles: list[str], save: str | None = None
) -> Figure:
    """Digits (top row) and their saliency maps (bottom row: how strongly the model's answer
    reacts to each pixel, one colour scale for all). Taught in 07."""
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.5 * n + 1, 3.6), squeeze=False, layout="constrained")
    limit = float(np.max(saliency)) or 1.0
    shown = None
    for column, (image, heat, title) in enumerate(zip(images, saliency, titles, strict=True)):
        _show_digit(axes[0, column], image, title)
        shown = axes[1, column].imshow(np.squeeze(heat), cmap="magma", vmin=0, vmax=limit)
        axes[1, column].set(xticks=[], yticks=[])
    axes[0, 0].set_ylabel("digit")
    axes[1, 0].set_ylabel("saliency")
    if shown is not None:
        fig.colorbar(shown, ax=axes[1, :], shrink=0.9, label="size of the gradient")
    fig.suptitle("Where a small change of a pixel moves the model's answer most")
    return _finish(fig, save)


@_styled
def plot_adversarial(
    image: np.ndarray, adversarial: np.ndarray, titles: list[str], save: str | None = None
) -> Figure:
    """A digit, the change an attack made to it (on a colour scale), and the result: three
    panels titled by ``titles``. Taught in 07."""
    image, adversarial = np.squeeze(image), np.squeeze(adversarial)
    fig, axes = plt.subplots(1, 3, figsize=(8, 3.2), layout="constrained")
    _show_digit(axes[0], image, titles[0])
    change = adversarial - image
    limit = float(np.abs(change).max()) or 1.0
    shown = axes[1].imshow(change, cmap="cividis", vmin=-limit, vmax=limit)
    axes[1].set(xticks=[], yticks=[])
    axes[1].set_title(titles[1], fontsize=9, fontweight="normal")
    fig.colorbar(shown, ax=axes[1], fraction=0.046, pad=0.04, label="change of the pixel")
    _show_digit(axes[2], adversarial, titles[2])
    fig.suptitle("An adversarial example: a small change chosen by the gradient")
    return _finish(fig, save)


@_styled
def plot_severity_curves(
    curves: dict[str, pd.Series], corruption: str, save: str | None = None
) -> Figure:
    """Accuracy against a corruption's severity, one line per model: ``curves`` maps a
    model's name to accuracies (fractions) indexed by severity (0 = clean). Taught in 07."""
    if not curves:
        raise ValueError("curves is empty: pass {model name: accuracy by severity}")
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in curves.items():
        severities = np.asarray(curve.index, dtype=float)  # also a pandas nullable index
        ax.plot(severities, curve.to_numpy(dtype=float) * 100, marker="o", label=name)
    what = corruption.replace("_", " ")
    ax.set(ylim=(0, 101), xticks=sorted({int(s) for c in curves.values() for s in c.index}))
    ax.set(xlabel=f"severity of {what} (0 = clean)", ylabel="test accuracy (%)")
    ax.set_title(f"Accuracy as {what} grows")
    ax.grid(alpha=0.3)
    ax.legend()
    return _finish(fig, save)
