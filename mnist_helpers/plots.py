"""Every figure of the course. Each function returns a matplotlib Figure.

Pass ``save="04_confusion_matrix"`` to also write it to ``figures/04_confusion_matrix.png``
(fixed size and dpi, so the README's pictures are reproducible). Digits are always drawn
as the model sees them, white ink on black (``cmap="gray"``, 0 black, full ink white), on a
fixed scale (0 to 1, or 0 to 255 for bytes) and without ticks.
"""

from __future__ import annotations

import matplotlib

matplotlib.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "axes.titleweight": "bold"})

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mnist_helpers.files import atomic_path  # noqa: E402
from mnist_helpers.paths import figures_dir  # noqa: E402

#: Digits as the model sees them: 0 (background) black, full ink white.
DIGIT_CMAP = "gray"


def save_figure(fig: Figure, name: str) -> str:
    """Save ``fig`` as ``figures/<name>.png`` (atomically) and return the path as text."""
    path = figures_dir() / f"{name}.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, bbox_inches="tight", metadata={"Software": None})
    return str(path)


def _finish(fig: Figure, save: str | None) -> Figure:
    if fig.get_layout_engine() is None:  # figures with a shared colour bar lay out themselves
        fig.tight_layout()
    if save:
        save_figure(fig, save)
    return fig


def _show_digit(ax, image: np.ndarray, title: str | None = None, **title_kw) -> None:
    image = np.squeeze(np.asarray(image))
    full_ink = 255 if image.dtype.kind in "ui" or image.max(initial=0) > 1 else 1
    ax.imshow(image, cmap=DIGIT_CMAP, vmin=0, vmax=full_ink)
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=9, fontweight="normal", **title_kw)


# ----------------------------------------------------------------------------- data (01)


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
    fig.suptitle("Random training images, one row per digit")
    return _finish(fig, save)


def plot_class_balance(counts: pd.Series, save: str | None = None) -> Figure:
    """Bar chart of how many images each digit has, with the mean as a dashed line. 01."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(counts.index.astype(str), counts.to_numpy(), color="C0")
    ax.axhline(counts.mean(), color="C1", linestyle="--", label=f"mean {counts.mean():,.0f}")
    ax.set_title("Training images per digit")
    ax.set_xlabel("digit")
    ax.set_ylabel("number of images")
    ax.legend(loc="lower right")
    return _finish(fig, save)


def plot_mean_digits(x: np.ndarray, y: np.ndarray, save: str | None = None) -> Figure:
    """Draw the pixel-wise mean image of each digit: the 'average handwriting'. 01."""
    fig, axes = plt.subplots(1, 10, figsize=(10, 1.6))
    for digit, ax in enumerate(axes):
        _show_digit(ax, x[y == digit].mean(axis=0), str(digit))
    fig.suptitle("Mean image of each digit")
    return _finish(fig, save)


def plot_pixel_histogram(x: np.ndarray, save: str | None = None) -> Figure:
    """Where the pixel values lie, on linear scales that show their true shares. Taught in 01.

    Left: the share of all pixels that are background (0), in between (1-249) and full ink
    (250-255). Right: the cumulative share of the ink pixels (value 1 or more) at or below
    each value: a steady climb through the soft stroke edges, then a final jump at full ink.
    ``x`` holds bytes (0-255) or floats in [0, 1] (scaled to 0-255).
    """
    values = np.ravel(x)
    if values.dtype.kind == "f":
        values = np.rint(values * 255)
    values = values.astype(np.int64)
    groups = {
        "background\n0": values == 0,
        "in between\n1-249": (values > 0) & (values < 250),
        "full ink\n250-255": values >= 250,
    }
    shares = [100 * mask.mean() for mask in groups.values()]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), width_ratios=(2, 3))
    bars = left.bar(list(groups), shares, color=["0.3", "C0", "C1"])
    left.bar_label(bars, fmt="%.1f %%", fontsize=9)
    left.set_ylim(0, 100)
    left.set_title("All pixels")
    left.set_xlabel("pixel value")
    left.set_ylabel("share of all pixels (%)")
    ink = values[values > 0]
    counts = np.bincount(ink, minlength=256)[1:]
    cumulative = 100 * np.cumsum(counts) / max(len(ink), 1)
    right.plot(np.arange(1, 256), cumulative, color="C0")
    right.axvline(249.5, color="C1", linestyle="--", label="full ink starts (250)")
    right.set_xlim(0, 256)
    right.set_ylim(0, 100)
    right.set_title("Ink pixels (value 1 or more), cumulative")
    right.set_xlabel("pixel value")
    right.set_ylabel("share of ink pixels at or below (%)")
    right.legend(loc="upper left")
    right.grid(alpha=0.3)
    fig.suptitle("Pixel intensities of the training images")
    return _finish(fig, save)


# ----------------------------------------------------------------------------- model (02)


def plot_convolution(
    image: np.ndarray, kernel: np.ndarray, result: np.ndarray, save: str | None = None
) -> Figure:
    """Show an image, a 3x3 kernel (with its numbers) and the feature map it produces. 02."""
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.3))
    _show_digit(axes[0], image, "input image (28x28)")
    k_limit = float(np.abs(kernel).max()) or 1.0
    axes[1].imshow(kernel, cmap="cividis", vmin=-k_limit, vmax=k_limit)
    for (i, j), value in np.ndenumerate(kernel):
        colour = "k" if value > 0 else "w"  # dark text on the light (positive) cells
        axes[1].text(j, i, f"{value:g}", ha="center", va="center", color=colour, fontsize=12)
    axes[1].set_xticks([])
    axes[1].set_yticks([])
    axes[1].set_title("3x3 kernel", fontsize=9, fontweight="normal")
    r_limit = float(np.abs(result).max()) or 1.0
    shown = axes[2].imshow(np.squeeze(result), cmap="cividis", vmin=-r_limit, vmax=r_limit)
    axes[2].set_xticks([])
    axes[2].set_yticks([])
    axes[2].set_title(
        f"feature map ({result.shape[0]}x{result.shape[1]})", fontsize=9, fontweight="normal"
    )
    fig.colorbar(shown, ax=axes[2], fraction=0.046, pad=0.04, label="response (0 = flat)")
    fig.suptitle("A convolution: slide the kernel, multiply, add")
    return _finish(fig, save)


def plot_losses_by_learning_rate(
    losses: dict[float, list[float]], save: str | None = None
) -> Figure:
    """The training loss after each gradient step, one line per learning rate. Taught in 02.

    Args:
        losses: learning rate -> the loss at each step (the first one before any step).
        save: figure name (see the module docstring), or None.
    """
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for learning_rate, values in losses.items():
        ax.plot(np.arange(len(values)), values, "o-", markersize=3, label=f"{learning_rate:g}")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_title("One learning rate too small, one right, one too large")
    ax.set_xlabel("gradient step")
    ax.set_ylabel("loss on the batch (log scale)")
    ax.legend(title="learning rate")
    return _finish(fig, save)


def plot_receptive_fields(
    image: np.ndarray, fields: dict[str, int], save: str | None = None
) -> Figure:
    """Draw the pixels one unit at the image's centre sees after each layer. Taught in 02.

    Args:
        image: a 28x28 digit (white ink on black).
        fields: layer name -> receptive field size in pixels (a square of that side).
        save: figure name (see the module docstring), or None.
    """
    image = np.squeeze(image)
    fig, ax = plt.subplots(figsize=(4.6, 4.6))
    _show_digit(ax, image)
    centre = (image.shape[0] - 1) / 2
    for colour, (name, size) in zip(
        plt.cm.viridis(np.linspace(0.5, 1, len(fields))), fields.items(), strict=True
    ):
        corner = centre - size / 2
        ax.add_patch(
            plt.Rectangle(
                (corner, corner),
                size,
                size,
                fill=False,
                lw=2,
                color=colour,
                label=f"{name}: {size}x{size}",
            )
        )
    ax.set_xlim(-0.5, image.shape[1] - 0.5)
    ax.set_ylim(image.shape[0] - 0.5, -0.5)
    ax.set_title("What one central unit sees, layer by layer")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=2, fontsize=8, frameon=False)
    return _finish(fig, save)


def _panels_on_one_scale(
    panels: list[np.ndarray],
    title: str,
    cmap: str,
    limits: tuple[float, float],
    label: str,
    panel_size: tuple[float, float],
    numbered: bool,
) -> Figure:
    """Small images in rows of 8, all on one colour scale (``limits``), with one colour bar."""
    cols = 8
    rows = max(1, int(np.ceil(len(panels) / cols)))
    width, height = panel_size
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(cols * width + 0.9, rows * height + 0.6),
        squeeze=False,
        layout="constrained",
    )
    image = None
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i < len(panels):
            image = ax.imshow(panels[i], cmap=cmap, vmin=limits[0], vmax=limits[1])
            if numbered:
                ax.set_title(f"#{i}", fontsize=8, fontweight="normal")
        else:
            ax.axis("off")
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.9, label=label)
    fig.suptitle(title)
    return fig


def plot_feature_maps(
    maps: np.ndarray, title: str, max_maps: int = 16, save: str | None = None
) -> Figure:
    """Draw up to ``max_maps`` channels of one image's feature maps ``(h, w, channels)``.

    Every panel uses the same colour scale, from 0 (dark) to the largest value shown
    (bright), with one colour bar: panels can be compared, and a dim map is a weak response,
    not a rescaled strong one. Taught in 04.
    """
    shown = maps[..., : min(max_maps, maps.shape[-1])]
    limits = (min(0.0, float(shown.min())), float(shown.max()) or 1.0)
    panels = [shown[..., i] for i in range(shown.shape[-1])]
    fig = _panels_on_one_scale(panels, title, "viridis", limits, "activation", (1.1, 1.2), True)
    return _finish(fig, save)


def plot_filters(kernels: np.ndarray, title: str, save: str | None = None) -> Figure:
    """Draw first-layer kernels ``(h, w, 1, n)`` as small images, on one shared colour scale.

    Red: a positive weight (the filter responds to ink there), blue: a negative one (it
    responds to background there), white: zero; one colour bar for all. Taught in 04.
    """
    limit = float(np.abs(kernels).max()) or 1.0
    panels = [kernels[:, :, 0, i] for i in range(kernels.shape[-1])]
    fig = _panels_on_one_scale(
        panels, title, "RdBu_r", (-limit, limit), "weight", (1.0, 1.1), False
    )
    return _finish(fig, save)


# ----------------------------------------------------------------------------- training (03)


def plot_learning_curves(
    history: pd.DataFrame,
    save: str | None = None,
    best_epoch: int | None = None,
    title: str | None = None,
) -> Figure:
    """Loss and accuracy per epoch, training against validation. Taught in 03.

    ``best_epoch`` (counted from 1) draws a dotted line at the epoch whose weights were
    kept, e.g. by early stopping; ``title`` adds a title above both panels.
    """
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = np.arange(1, len(history) + 1)
    for metric, ax, label in (("loss", ax_loss, "loss"), ("accuracy", ax_acc, "accuracy")):
        ax.plot(epochs, history[metric], "o-", label="training")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "s--", label="validation")
        if best_epoch is not None:
            ax.axvline(best_epoch, color="0.3", linestyle=":", label=f"best epoch ({best_epoch})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        if len(epochs) <= 15:
            ax.set_xticks(epochs)
        else:  # one tick per epoch would crowd the axis
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.legend()
    ax_loss.set_title("Loss (cross-entropy)")
    ax_acc.set_title("Accuracy")
    if title:
        fig.suptitle(title)
    return _finish(fig, save)


def _running_mean(values, window: int) -> np.ndarray:
    """The mean of each ``window`` consecutive values (``len(values) - window + 1`` of them)."""
    values = np.asarray(values, dtype=float)
    window = max(1, min(int(window), len(values)))
    sums = np.cumsum(np.concatenate([[0.0], values]))
    return (sums[window:] - sums[:-window]) / window


def plot_ablation(
    step_losses: dict[str, list[float]],
    val_accuracy: dict[str, list[float]],
    steps_per_epoch: int,
    window: int = 20,
    save: str | None = None,
) -> Figure:
    """Compare short runs of recipe variants: training loss per step, validation per epoch.

    Left: each variant's training loss at every step, smoothed by a running mean of
    ``window`` steps (fewer for very short runs), on a log scale, against epochs. Right:
    its validation accuracy after each epoch. Both dicts are keyed by the variant's name,
    in the order of the legend. Taught in 03.
    """
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    shortest = min(len(losses) for losses in step_losses.values())
    window = max(1, min(window, shortest // 5))
    for name, losses in step_losses.items():
        smooth = _running_mean(losses, window)
        steps = np.arange(window, window + len(smooth))  # the last step of each window
        ax_loss.plot(steps / steps_per_epoch, smooth, label=name)
    ax_loss.set_yscale("log")
    ax_loss.set_title(f"Training loss (running mean of {window} steps)")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss (cross-entropy, log scale)")
    ax_loss.legend()
    for name, accuracies in val_accuracy.items():
        epochs = np.arange(1, len(accuracies) + 1)
        ax_acc.plot(epochs, 100 * np.asarray(accuracies), "o-", label=name)
    longest = max(len(accuracies) for accuracies in val_accuracy.values())
    ax_acc.set_xticks(np.arange(1, longest + 1))
    ax_acc.set_xlim(0.5, longest + 0.5)
    ax_acc.set_title("Validation accuracy after each epoch")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("validation accuracy (%)")
    ax_acc.legend()
    fig.suptitle("What each ingredient of the recipe buys: the same short run, one change each")
    return _finish(fig, save)


def plot_learning_rate(
    steps: np.ndarray, learning_rates: np.ndarray, steps_per_epoch: int, save: str | None = None
) -> Figure:
    """The learning rate at each training step, against epochs (warm-up, then decay).

    Taught in 03.
    """
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot(np.asarray(steps) / steps_per_epoch, learning_rates, color="C0")
    ax.set_title("Learning rate during training")
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    ax.set_xlim(0, max(1e-9, float(np.max(steps)) / steps_per_epoch))
    ax.set_ylim(bottom=0)
    return _finish(fig, save)


# ----------------------------------------------------------------------------- evaluation (04)


def plot_confusion_matrix(cm: pd.DataFrame, save: str | None = None) -> Figure:
    """Draw the confusion matrix with its counts; the colour shows the errors only.

    The diagonal (the right answers, far larger) is left white with dark counts, so the
    colour scale is spent on the mistakes and every count stays readable. Taught in 04.
    """
    values = cm.to_numpy()
    off = np.ma.masked_array(values, mask=np.eye(*values.shape, dtype=bool))
    colours = matplotlib.colormaps["viridis"].with_extremes(bad="white")  # the diagonal
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    image = ax.imshow(off, cmap=colours, vmin=0)
    top = max(int(off.max() or 0), 1)
    for (t, p), count in np.ndenumerate(values):
        if t == p:
            ax.text(
                p, t, str(count), ha="center", va="center", fontsize=8, color="k", fontweight="bold"
            )
        elif count:
            colour = "k" if count > top / 2 else "w"
            ax.text(p, t, str(count), ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title("Confusion matrix (colour: errors; diagonal: right)")
    colorbar = fig.colorbar(image, ax=ax, label="number of test images")
    colorbar.ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    return _finish(fig, save)


def plot_mistakes(
    x: np.ndarray,
    mistakes: pd.DataFrame,
    n: int = 24,
    save: str | None = None,
    title: str = "Most confident mistakes: true → predicted (probability)",
) -> Figure:
    """Draw the ``n`` most confident mistakes, titled 'true → predicted (confidence)'. 04/05."""
    n = min(n, len(mistakes))
    cols = 8
    rows = max(1, int(np.ceil(n / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.3, rows * 1.55 + 0.4), squeeze=False)
    for ax, (_, row) in zip(axes.flat, mistakes.head(n).iterrows(), strict=False):
        _show_digit(
            ax,
            x[int(row["index"])],
            f"{row['true']:.0f}→{row['predicted']:.0f} ({row['confidence']:.0%})",
        )
    for ax in axes.flat[n:]:
        ax.axis("off")
    fig.suptitle(title)
    return _finish(fig, save)


def plot_confidence_histogram(
    proba: np.ndarray, y_true: np.ndarray, save: str | None = None
) -> Figure:
    """Histogram of the top probability, for right and wrong predictions. Taught in 04."""
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == np.asarray(y_true)
    bins = np.linspace(0, 1, 41)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    # outlines (step histograms), so that neither group hides the other
    ax.hist(
        confidence[correct],
        bins=bins,
        log=True,
        histtype="step",
        linewidth=2,
        label=f"right ({correct.sum():,})",
    )
    ax.hist(
        confidence[~correct],
        bins=bins,
        log=True,
        histtype="step",
        linewidth=2,
        linestyle="--",
        label=f"wrong ({(~correct).sum():,})",
    )
    ax.set_title("How sure is the model?")
    ax.set_xlabel("probability of the predicted digit")
    ax.set_ylabel("number of test images (log scale)")
    ax.legend(loc="upper left")
    return _finish(fig, save)


def plot_reliability(table: pd.DataFrame, save: str | None = None) -> Figure:
    """Reliability diagram: accuracy against confidence per bin; the diagonal is perfect. 04."""
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    ax.plot([0, 1], [0, 1], color="0.5", linestyle="--", label="perfectly calibrated")
    ax.plot(table["confidence"], table["accuracy"], "o-", label="model")
    for _, row in table.iterrows():
        ax.annotate(
            f"{row['count']:.0f}",
            (row["confidence"], row["accuracy"]),
            fontsize=7,
            textcoords="offset points",
            xytext=(4, -10),
        )
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("mean confidence in bin")
    ax.set_ylabel("accuracy in bin")
    ax.set_title("Reliability diagram (labels: images per bin)")
    ax.legend(loc="lower right")
    return _finish(fig, save)


# ----------------------------------------------------------------------------- going further (05)


def plot_augmented_examples(
    originals: np.ndarray, augmented_rows: list[np.ndarray], save: str | None = None
) -> Figure:
    """Draw a few digits (top row) and random augmented copies of them (one row per draw).

    Args:
        originals: ``(n, 28, 28)`` or ``(n, 28, 28, 1)`` images.
        augmented_rows: arrays shaped like ``originals``, one per row of random copies.
        save: a figure name, e.g. ``"05_augmentation"``.

    Taught in 05.
    """
    rows = [np.asarray(originals), *(np.asarray(r) for r in augmented_rows)]
    n = len(rows[0])
    fig, axes = plt.subplots(
        len(rows), n, figsize=(n * 1.0 + 0.6, len(rows) * 1.05 + 0.5), squeeze=False
    )
    for r, images in enumerate(rows):
        for c in range(n):
            _show_digit(axes[r, c], images[c])
        label = "original" if r == 0 else f"random {r}"
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle("Data augmentation: each training image, changed at random every epoch")
    return _finish(fig, save)


def plot_accuracy_vs_time(
    labels: list[str],
    seconds: np.ndarray,
    accuracies: np.ndarray,
    target: float | None = None,
    save: str | None = None,
    n_test: int | None = None,
) -> Figure:
    """Test accuracy (in %) of each model or ensemble against its training time.

    Args:
        labels: one name per point, written beside it.
        seconds: training seconds of each (an ensemble: the sum of its members').
        accuracies: test accuracies as fractions (0.996 is drawn as 99.6).
        target: an accuracy (fraction) to draw as a dashed line, or ``None``.
        save: a figure name, e.g. ``"05_accuracy_vs_time"``.
        n_test: the number of test images the accuracies were measured on; when given, each
            point gets an error bar of one binomial standard error, sqrt(p (1 - p) / n): the
            noise of a test accuracy (05's exercise 05.3).

    Taught in 05.
    """
    seconds = np.asarray(seconds, dtype=float)
    percent = np.asarray(accuracies, dtype=float) * 100
    fig, ax = plt.subplots(figsize=(8, 4.5))
    errors = np.zeros_like(percent)
    if n_test is not None:
        if isinstance(n_test, bool) or not isinstance(n_test, int) or n_test < 1:
            raise ValueError(f"n_test must be a positive integer, got {n_test!r}")
        fractions = percent / 100
        errors = 100 * np.sqrt(fractions * (1 - fractions) / n_test)
        ax.errorbar(
            seconds,
            percent,
            yerr=errors,
            fmt="o",
            color="C0",
            capsize=3,
            zorder=3,
            label=f"test accuracy ± 1 standard error ({n_test:,} images)",
        )
    else:
        ax.scatter(seconds, percent, color="C0", zorder=3)
    if target is not None:
        ax.axhline(target * 100, color="C1", linestyle="--", label=f"target {target:.1%}")
    if target is not None or n_test is not None:
        ax.legend(loc="lower right")
    # labels to the right of their points, pushed up where they would overlap
    x_max = float(seconds.max()) if len(seconds) else 1.0
    char = x_max / 95  # about one character of the 8-point labels, in seconds
    longest = max((len(label) for label in labels), default=0)
    low, high = (
        (float((percent - errors).min()), float((percent + errors).max()))
        if len(percent)
        else (0.0, 1.0)
    )
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
        ax.annotate(
            label,
            (x, y),
            xytext=(x + 1.5 * char, text_y),
            fontsize=8,
            va="center",
            arrowprops=line,
        )
    ax.set_xlim(0, x_max + char * (longest + 3))
    ax.set_ylim(low - gap, max(high, float(label_y.max(initial=high))) + gap)
    ax.set_title("Test accuracy against training time")
    ax.set_xlabel("training time (s, an ensemble: all its members)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    return _finish(fig, save)


# ----------------------------------------------------------------------------- sweeps (05)


def plot_sweep(
    table: pd.DataFrame, keys: list[str], title: str = "Sweep", save: str | None = None
) -> Figure:
    """Test accuracy of each finished run of a sweep, against its training seconds.

    Each point is one combination, labelled with its settings. Taught in 05.
    """
    done = table[table["test_accuracy"].notna()]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter(done["train_seconds"], done["test_accuracy"] * 100, color="C0")
    for _, row in done.iterrows():
        label = ", ".join(f"{k}={row[k]}" for k in keys)
        ax.annotate(
            label,
            (row["train_seconds"], row["test_accuracy"] * 100),
            fontsize=7,
            textcoords="offset points",
            xytext=(4, 4),
        )
    ax.margins(x=0.3, y=0.1)  # room for the labels
    ax.set_title(title)
    ax.set_xlabel("training time (s)")
    ax.set_ylabel("test accuracy (%)")
    return _finish(fig, save)


# ----------------------------------------------------------------------------- your own digits (06)


def plot_preprocessing_steps(
    steps: dict[str, np.ndarray],
    title: str = "The MNIST recipe, step by step",
    save: str | None = None,
) -> Figure:
    """Draw each step of the MNIST recipe side by side, titled with its name and size.

    ``steps`` is the dict that ``mnist_like(image, return_steps=True)`` returns, optionally
    with an ``"original"`` image first. The original and the ``"grayscale"`` step hold
    brightness (paper light, ink dark) and are drawn as they look, the original in its own
    colours; the later steps hold ink (1 = ink) and are drawn like every digit of the course,
    white ink on black, as the model sees them. The last panel marks the centre of mass (+)
    and the field's centre (dotted lines). Taught in 06.
    """
    fig, axes = plt.subplots(1, len(steps), figsize=(2.3 * len(steps), 3.0), squeeze=False)
    for ax, (name, image) in zip(axes[0], steps.items(), strict=True):
        image = np.asarray(image)
        size = f"{image.shape[0]}x{image.shape[1]}"
        if name in ("original", "grayscale"):
            peak = 255 if image.dtype.kind in "ui" else 1
            ax.imshow(image, cmap="gray", vmin=0, vmax=peak)  # colour images keep theirs
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{name}\n{size}", fontsize=9, fontweight="normal")
        else:
            _show_digit(ax, image, f"{name}\n{size}")
    last = np.squeeze(np.asarray(list(steps.values())[-1]))
    if last.sum() > 0:
        rows, cols = np.indices(last.shape)
        centre = ((rows * last).sum() / last.sum(), (cols * last).sum() / last.sum())
        middle = (last.shape[0] - 1) / 2
        ax = axes[0, -1]
        ax.axhline(middle, color="C9", linestyle=":", linewidth=1)
        ax.axvline(middle, color="C9", linestyle=":", linewidth=1)
        ax.plot(centre[1], centre[0], "+", color="C1", markersize=12, markeredgewidth=2)
        ax.set_title(f"{ax.get_title()}, + centre of mass", fontsize=9, fontweight="normal")
    fig.suptitle(title)
    return _finish(fig, save)


def plot_predictions(
    images: np.ndarray,
    probabilities: np.ndarray,
    names: list[str],
    labels: list[int] | None = None,
    per_row: int = 3,
    save: str | None = None,
) -> Figure:
    """For each image: the 28x28 input and a bar chart of its 10 probabilities.

    Args:
        images: model inputs ``(n, 28, 28, 1)``.
        probabilities: the model's output ``(n, 10)``; the top digit's bar is highlighted.
        names: a title per image (e.g. its file name).
        labels: the true digits, if known: wrong predictions are then marked "wrong".
        per_row: images per row.

    Taught in 06.
    """
    n = len(images)
    rows = int(np.ceil(n / per_row))
    fig, axes = plt.subplots(
        rows,
        2 * per_row,
        figsize=(4.6 * per_row, 2.2 * rows + 0.5),
        squeeze=False,
        gridspec_kw={"width_ratios": [1, 1.7] * per_row},
    )
    for i in range(rows * per_row):
        ax_image, ax_bars = axes[i // per_row, 2 * (i % per_row) : 2 * (i % per_row) + 2]
        if i >= n:
            ax_image.axis("off")
            ax_bars.axis("off")
            continue
        _show_digit(ax_image, images[i], names[i])
        best = int(np.argmax(probabilities[i]))
        colours = ["0.7"] * 10
        colours[best] = "C0"
        ax_bars.bar(range(10), probabilities[i], color=colours)
        verdict = f"predicted {best} ({probabilities[i][best]:.0%})"
        wrong = labels is not None and labels[i] != best
        ax_bars.set_title(
            verdict + (f", true {labels[i]}: wrong" if wrong else ""),
            fontsize=9,
            fontweight="bold" if wrong else "normal",
        )
        ax_bars.set_xticks(range(10))
        ax_bars.set_ylim(0, 1)
        ax_bars.set_yticks([0, 0.5, 1])
        ax_bars.tick_params(labelsize=8)
        ax_bars.set_xlabel("digit", fontsize=8)
        ax_bars.set_ylabel("probability", fontsize=8)
    fig.suptitle("What the model sees, and its probability for each digit (blue: its answer)")
    return _finish(fig, save)


# ----------------------------------------------------------------------------- shifted data (07)


def plot_corruptions(
    images: dict[str, np.ndarray], n: int | None = None, save: str | None = None
) -> Figure:
    """The same digits under each corruption: one column per corruption, one row per digit.

    Args:
        images: corruption name -> uint8 images ``(k, 28, 28)`` (the same k digits in
            each), e.g. ``{"clean": x, "fog": corrupt(x, "fog", 4)}``; drawn in that order.
        n: how many digits (rows) to draw, default all of them.
        save: a figure name, e.g. ``"07_corruptions"``.

    Taught in 07.
    """
    if not images:
        raise ValueError("images is empty: pass {name: images}, e.g. {'clean': x[:4]}")
    rows = min(len(v) for v in images.values()) if n is None else n
    cols = len(images)
    fig, axes = plt.subplots(rows, cols, figsize=(1.05 * cols, 1.15 * rows + 0.6), squeeze=False)
    for col, (name, batch) in enumerate(images.items()):
        for row in range(rows):
            _show_digit(axes[row, col], batch[row], name.replace("_", "\n") if row == 0 else None)
    fig.suptitle("The same test digits under each corruption (as the model sees them)")
    return _finish(fig, save)


def plot_shift_accuracy(table: pd.DataFrame, save: str | None = None) -> Figure:
    """Accuracy on each corruption, one line per model.

    Args:
        table: accuracies as fractions, one row per corruption (the index, in the order to
            draw, e.g. ``clean`` first and ``mean`` last), one column per model.
        save: a figure name, e.g. ``"07_shift_accuracy"``.

    Taught in 07.
    """
    if table.empty:
        raise ValueError("table is empty: one row per corruption, one column per model")
    fig, ax = plt.subplots(figsize=(11, 4.8))
    positions = np.arange(len(table))
    markers = "osD^vP*X"
    for i, model in enumerate(table.columns):
        ax.plot(
            positions,
            table[model].to_numpy(dtype=float) * 100,
            marker=markers[i % len(markers)],
            linewidth=1.3,
            markersize=5,
            label=model,
        )
    ax.set_xticks(positions, [name.replace("_", " ") for name in table.index], rotation=45)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
        if label.get_text() in ("clean", "mean"):
            label.set_fontweight("bold")
    ax.set_ylim(0, 101)
    ax.set_ylabel("test accuracy (%)")
    ax.set_xlabel("corruption (benchmark severity)")
    ax.set_title("Accuracy on each corruption of the test images, one line per model")
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)  # beside the lines
    return _finish(fig, save)


def plot_severity_curves(
    curves: dict[str, pd.Series], corruption: str, save: str | None = None
) -> Figure:
    """Accuracy against a corruption's severity, one line per model.

    Args:
        curves: model name -> accuracies (fractions) indexed by severity (0 = clean).
        corruption: the corruption's name, for the title.
        save: a figure name, e.g. ``"07_translate"``.

    Taught in 07.
    """
    if not curves:
        raise ValueError("curves is empty: pass {model name: accuracy by severity}")
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in curves.items():
        severities = np.asarray(curve.index, dtype=float)  # also a pandas nullable index
        ax.plot(severities, curve.to_numpy(dtype=float) * 100, marker="o", label=name)
    ax.set_ylim(0, 101)
    ax.set_xticks(sorted({int(s) for c in curves.values() for s in c.index}))
    ax.set_xlabel(f"severity of {corruption.replace('_', ' ')} (0 = clean)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"Accuracy as {corruption.replace('_', ' ')} grows")
    ax.grid(alpha=0.3)
    ax.legend()
    return _finish(fig, save)
