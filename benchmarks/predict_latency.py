"""Inference speed: single-image latency and batched throughput of a trained model.

Usage::

    .venv/bin/python benchmarks/predict_latency.py [--model runs/default/model.keras]

Compares Keras' ``model.predict`` (convenient, but with ~40 ms of set-up per call) with the
``tf.function`` wrapper of :class:`mnist_helpers.predict.Predictor` that the predict command
uses, on one image at a time and on batches of the 10,000 test images. Reports the median of
many calls. A benchmark, not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from mnist_helpers.data import load_mnist  # noqa: E402
from mnist_helpers.paths import runs_dir  # noqa: E402
from mnist_helpers.predict import Predictor, load_model_safely  # noqa: E402


def median_seconds(call, repeats: int) -> float:
    """Median wall time of ``call()`` over ``repeats`` runs, after two warm-up runs."""
    call()
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(runs_dir() / "default" / "model.keras"))
    parser.add_argument("--batch-size", type=int, default=2048)
    args = parser.parse_args()

    model = load_model_safely(args.model)
    predictor = Predictor(model)
    x = load_mnist().x_test
    one = x[:1]

    rows = [
        ("model.predict, 1 image", median_seconds(lambda: model.predict(one, verbose=0), 30), 1),
        ("Predictor (tf.function), 1 image", median_seconds(lambda: predictor(one), 300), 1),
        (
            f"model.predict, 10,000 images (batch {args.batch_size})",
            median_seconds(lambda: model.predict(x, batch_size=args.batch_size, verbose=0), 5),
            len(x),
        ),
        (
            f"Predictor, 10,000 images (batch {args.batch_size})",
            median_seconds(lambda: predictor.predict_batches(x, args.batch_size), 5),
            len(x),
        ),
    ]
    same = np.allclose(
        predictor.predict_batches(x[:500]), model.predict(x[:500], verbose=0), atol=1e-5
    )
    print(f"model: {args.model} ({model.count_params():,} parameters), {os.cpu_count()} CPU cores")
    print(f"Predictor agrees with model.predict: {same}\n")
    print("| how | per call | per image | images/s |")
    print("|---|---|---|---|")
    for name, seconds, n in rows:
        print(
            f"| {name} | {seconds * 1e3:.2f} ms | {seconds / n * 1e3:.3f} ms | {n / seconds:,.0f} |"
        )


if __name__ == "__main__":
    main()
