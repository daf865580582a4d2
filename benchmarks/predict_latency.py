"""Inference speed: single-image latency and batched throughput of a trained model.

Usage::

    .venv/bin/python benchmarks/predict_latency.py [--model runs/default/model.keras]

Compares, in one process, Keras' ``model.predict`` (convenient, but with ~40 ms of set-up per
call), the ``tf.function`` wrapper :class:`mnist_helpers.runtimes.Predictor`, and the exported
model in LiteRT and in ONNX Runtime (:mod:`mnist_helpers.runtimes`; exported and checked first
if needed), on one image at a time and on batches of the 10,000 test images. Reports the median
of many calls, and how much faster LiteRT is than ``Predictor``. A benchmark, not a test: the
numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from mnist_helpers.data import load_mnist  # noqa: E402
from mnist_helpers.model_file import load_model_safely  # noqa: E402
from mnist_helpers.paths import runs_dir  # noqa: E402
from mnist_helpers.predict import load_predictor  # noqa: E402
from mnist_helpers.runtimes import Predictor  # noqa: E402
from mnist_helpers.timing import median_seconds  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(runs_dir() / "default" / "model.keras"))
    parser.add_argument("--batch-size", type=int, default=2048)
    args = parser.parse_args()

    model = load_model_safely(args.model)
    predictor = Predictor(model)
    x = load_mnist().x_test
    one = x[:1]
    fast = {name: load_predictor(args.model, name) for name in ("litert", "onnx")}
    batch = args.batch_size

    rows = [
        ("model.predict, 1 image", median_seconds(lambda: model.predict(one, verbose=0), 30), 1),
        ("Predictor (tf.function), 1 image", median_seconds(lambda: predictor(one), 300), 1),
    ]
    for name, fast_predictor in fast.items():
        rows.append((f"{name}, 1 image", median_seconds(lambda p=fast_predictor: p(one), 1000), 1))
    rows += [
        (
            f"model.predict, 10,000 images (batch {batch})",
            median_seconds(lambda: model.predict(x, batch_size=batch, verbose=0), 5),
            len(x),
        ),
        (
            f"Predictor, 10,000 images (batch {batch})",
            median_seconds(lambda: predictor.predict_batches(x, batch), 5),
            len(x),
        ),
    ]
    for name, fast_predictor in fast.items():
        seconds = median_seconds(lambda p=fast_predictor: p.predict_batches(x, batch), 5)
        rows.append((f"{name}, 10,000 images (batch {batch})", seconds, len(x)))

    reference = predictor.predict_batches(x)
    print(f"model: {args.model} ({model.count_params():,} parameters), {os.cpu_count()} CPU cores")
    for name, fast_predictor in fast.items():
        theirs = fast_predictor.predict_batches(x)
        differ = int((theirs.argmax(axis=1) != reference.argmax(axis=1)).sum())
        print(
            f"{name} against Predictor: largest probability difference "
            f"{np.abs(theirs - reference).max():.1e}, {differ} of {len(x):,} predictions differ"
        )
    print("\n| how | per call | per image | images/s |")
    print("|---|---:|---:|---:|")
    for name, seconds, n in rows:
        print(
            f"| {name} | {seconds * 1e3:.2f} ms | {seconds / n * 1e3:.3f} ms | {n / seconds:,.0f} |"
        )
    times = {name: seconds for name, seconds, _ in rows}
    single = times["Predictor (tf.function), 1 image"] / times["litert, 1 image"]
    batched = (
        times[f"Predictor, 10,000 images (batch {batch})"]
        / times[f"litert, 10,000 images (batch {batch})"]
    )
    print(
        f"\nLiteRT against Predictor: {single:.1f}x faster on one image, "
        f"{batched:.1f}x on 10,000 images."
    )


if __name__ == "__main__":
    main()
