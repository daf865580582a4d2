"""Load MNIST as numpy arrays and split it: the canonical 60,000 training and 10,000 test
images, a stratified subsample and validation split (:func:`load_mnist`).

Getting the files (a folder, the cache, the mirrors) is :mod:`mnist_helpers.download`'s job.
``python -m mnist_helpers.data`` fetches them into the cache and prints where it is: fetch
once, copy that folder to an offline classroom, and point ``MNIST_DATA_DIR`` at it there.
Taught in 01.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_helpers.checks import check_int
from mnist_helpers.download import (
    CacheNotWritableError,
    MnistNotFoundError,
    fetch_mnist,
    load_mnist_files,
)
from mnist_helpers.idx import IDXFormatError, decode_idx


@dataclass
class MnistData:
    """The split :func:`load_mnist` returns: images ``x_*`` (``(n, 28, 28)`` or
    ``(n, 28, 28, 1)``) and labels ``y_*`` (0-9); ``x_val``, ``y_val`` may be empty."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    def summary(self) -> str:
        """A few lines describing the split: sizes, dtype, value range, class counts."""
        counts = np.bincount(self.y_train, minlength=10)
        lo, hi = (self.x_train.min(), self.x_train.max()) if self.x_train.size else ("-", "-")
        return "\n".join(
            [
                f"MNIST from {self.source}",
                f"  train      {self.x_train.shape} {self.x_train.dtype}, values {lo}..{hi}",
                f"  validation {self.x_val.shape}",
                f"  test       {self.x_test.shape}",
                "  train images per digit: " + ", ".join(f"{d}: {c}" for d, c in enumerate(counts)),
            ]
        )


def stratified_indices(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Return ``n`` sorted indices into ``labels`` that keep each class's share (rounded by
    largest remainder, so the total is exactly ``n``), drawn with ``seed``. Taught in 01."""
    labels = np.asarray(labels)
    check_int("n", n, 0, len(labels))
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * n / len(labels)
    take = np.floor(exact).astype(int)
    take[np.argsort(-(exact - take), kind="stable")[: n - take.sum()]] += 1
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(labels == c), size=k, replace=False)
        for c, k in zip(classes, take, strict=True)
    ]
    return np.sort(np.concatenate(chosen)) if chosen else np.array([], dtype=int)


def load_mnist(
    data_dir: str | Path | None = None,
    *,
    normalize: bool = True,
    channel_axis: bool = True,
    n_train: int | None = None,
    validation_size: int = 0,
    seed: int = 42,
    offline: bool | None = None,
) -> MnistData:
    """Load MNIST's 60,000 / 10,000 split, verified against the published checksums.

    ``data_dir``: a folder with the IDX files or mnist.npz (default: ``MNIST_DATA_DIR``, the
    cache, then the downloads); ``normalize``: float32 in [0, 1] (else uint8 0-255);
    ``channel_axis``: shape ``(n, 28, 28, 1)``; ``n_train``: keep this many training images,
    a stratified sample; ``validation_size``: hold out this many (stratified) as ``x_val``;
    ``seed``: both draws; ``offline``: never download. Returns an :class:`MnistData`.
    Taught in 01.
    """
    files, source = load_mnist_files(data_dir, offline=offline)
    arrays = {name: decode_idx(blob, name, expected_dtype=np.uint8) for name, blob in files.items()}
    x_train, y_train = arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]
    x_test, y_test = arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"]
    for x, y, split in ((x_train, y_train, "train"), (x_test, y_test, "t10k")):
        if len(x) != len(y):
            raise IDXFormatError(f"{split}: {len(x)} images but {len(y)} labels")
    check_int("validation_size", validation_size, 0, len(y_train) - 1, "e.g. validation_size=5000")
    keep, val = np.arange(len(y_train)), np.array([], dtype=int)
    if validation_size:
        val = stratified_indices(y_train, validation_size, seed)
        keep = np.setdiff1d(keep, val)
    if n_train is not None:
        hint = "or None to use every training image"
        check_int("n_train", n_train, 0, len(keep), hint)
        keep = keep[stratified_indices(y_train[keep], n_train, seed + 1)]

    def prepare(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32) / 255.0 if normalize else x.copy()
        return x[..., np.newaxis] if channel_axis else x

    return MnistData(
        x_train=prepare(x_train[keep]),
        y_train=y_train[keep].astype(np.int64),
        x_val=prepare(x_train[val]),
        y_val=y_train[val].astype(np.int64),
        x_test=prepare(x_test),
        y_test=y_test.astype(np.int64),
        source=source,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m mnist_helpers.data``: fetch MNIST into the cache and print where it is."""
    parser = argparse.ArgumentParser(
        prog="python -m mnist_helpers.data",
        description="Fetch and verify MNIST into the cache, then print where it is.",
    )
    parser.add_argument("--data-dir", help="a folder holding the IDX files or mnist.npz")
    parser.add_argument("--offline", action="store_true", help="never download")
    parser.add_argument("--summary", action="store_true", help="also load it and print a summary")
    args = parser.parse_args(argv)
    try:
        folder = fetch_mnist(args.data_dir, offline=args.offline or None)
    except (MnistNotFoundError, CacheNotWritableError) as err:
        print(err, file=sys.stderr)
        return 1
    print(f"MNIST verified in {folder}")
    print("(copy that folder to an offline machine and set MNIST_DATA_DIR to it)")
    if args.summary:
        print(load_mnist(args.data_dir, normalize=False, offline=True).summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
