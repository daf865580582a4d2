"""Predict digits in image files with a trained model, fast.

``python -m mnist_helpers.predict IMAGE... --model runs/default/model.keras [--json]`` prints
the three most likely digits of each image with their probabilities. Each image goes through
:func:`mnist_helpers.preprocess.mnist_like` first. Models are loaded with Keras' safe mode on:
a file that would need unsafe deserialisation (a ``Lambda`` layer's Python code, say) is
refused, never run.

Taught in 06.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from mnist_helpers.paths import runs_dir


class UnsafeModelError(ValueError):
    """The model file would need unsafe deserialisation (arbitrary code) to load."""


def load_model_safely(path: str | Path):
    """Load a ``.keras`` model with ``safe_mode=True``.

    Raises:
        FileNotFoundError: no such file (the message says how to train one).
        UnsafeModelError: the file holds code (e.g. a Lambda layer) that safe mode refuses.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such model file; train one first (`make run`, or notebook 03)"
        )
    try:
        return keras.models.load_model(path, safe_mode=True)
    except ValueError as err:
        if "safe_mode" in str(err) or "unsafe" in str(err).lower():
            raise UnsafeModelError(
                f"{path}: refused: loading it would run code stored in the file (e.g. a "
                "Lambda layer), which safe mode forbids. Only a model you built yourself "
                "should ever be loaded with safe_mode=False."
            ) from err
        raise


class Predictor:
    """A model wrapped in a compiled ``tf.function`` for low-latency predictions.

    ``Predictor(model)(images)`` returns probabilities ``(n, 10)`` for images
    ``(n, 28, 28, 1)`` float32 in [0, 1]. ``model.predict`` spends ~40 ms of set-up on every
    call; a traced function called directly costs well under a millisecond for one image.
    """

    def __init__(self, model) -> None:
        import tensorflow as tf

        self.model = model
        self._function = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)],
            reduce_retracing=True,
        )

    def __call__(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, dtype=np.float32)
        if images.ndim == 3:
            images = images[np.newaxis]
        return self._function(images).numpy()

    def predict_batches(self, images: np.ndarray, batch_size: int = 2048) -> np.ndarray:
        """Probabilities for many images, ``batch_size`` at a time."""
        return np.concatenate(
            [self(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
        )


def top_k(probabilities: np.ndarray, k: int = 3) -> list[tuple[int, float]]:
    """The ``k`` most likely digits and their probabilities, most likely first."""
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [(int(d), float(probabilities[d])) for d in order]


def main(argv: list[str] | None = None) -> int:
    """Command line; returns 0, or 1 if any image could not be read, 2 for a bad model."""
    parser = argparse.ArgumentParser(
        prog="python -m mnist_helpers.predict",
        description="Print the top-3 digits, with probabilities, for each image.",
    )
    parser.add_argument("images", nargs="+", type=Path, help="image files (PNG, JPEG, ...)")
    parser.add_argument(
        "--model", type=Path, default=None, help="a .keras file (default: runs/default/model.keras)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--top", type=int, default=3, help="how many digits to show (1-10)")
    args = parser.parse_args(argv)
    if not 1 <= args.top <= 10:
        parser.error(f"--top must be from 1 to 10, got {args.top}")

    from mnist_helpers.preprocess import ImageError, mnist_like

    try:
        model = load_model_safely(args.model or runs_dir() / "default" / "model.keras")
    except (FileNotFoundError, UnsafeModelError, ValueError) as err:
        print(f"predict: {err}", file=sys.stderr)
        return 2
    predictor = Predictor(model)

    results, failed = [], 0
    for path in args.images:
        try:
            probabilities = predictor(mnist_like(path))[0]
        except ImageError as err:
            print(f"predict: {err}", file=sys.stderr)
            failed += 1
            results.append({"image": str(path), "error": str(err)})
            continue
        best = top_k(probabilities, args.top)
        results.append(
            {"image": str(path), "top": [{"digit": d, "probability": p} for d, p in best]}
        )
        if not args.json:
            shown = "  ".join(f"{d}: {p:6.2%}" for d, p in best)
            print(f"{path}: {shown}")
    if args.json:
        print(json.dumps(results, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
