"""Time to 99 % test accuracy: the course's recipe against the canonical Keras example.

Usage (takes about 4 minutes on 2 CPU cores)::

    .venv/bin/python benchmarks/time_to_accuracy.py [--epochs-ours 6] [--epochs-keras 15]

Both recipes train in this one process on the same 55,000 training images (5,000 held out
for validation, as in 04) with the same seed. After every epoch the clock is paused and the
model is scored on the 10,000 test images; the table gives the training seconds until the test
accuracy first reached 99.0 %, the final accuracy, and the parameters. Beside them, from
``machine.py``: the work of an epoch (its training steps' floating-point operations, counted by
TensorFlow's profiler from the model), the GFLOP/s achieved while training, and this machine's
practical peak measured in the same run (a large matrix product and a large convolution), so
that every figure is a ratio on one machine. This is a benchmark, not a test: its numbers
depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import pandas as pd  # noqa: E402
from machine import describe_machine, practical_peak, training_step_flops  # noqa: E402

from mnist_helpers.course import parse_value  # noqa: E402
from mnist_helpers.data import load_mnist  # noqa: E402
from mnist_helpers.models import build_model  # noqa: E402
from mnist_helpers.training import (  # noqa: E402
    KERAS_EXAMPLE_RECIPE,
    STEPS_PER_EXECUTION,
    TrainConfig,
    compile_model,
    seed_everything,
)  # noqa: E402

TARGET = 0.99


class TestAccuracyClock(keras.callbacks.Callback):
    """Scores the test set after each epoch, with the scoring time left off the clock."""

    def __init__(self, x_test, y_test):
        super().__init__()
        self.x_test, self.y_test = x_test, y_test
        self.train_seconds = 0.0
        self.rows: list[dict] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.train_seconds += time.perf_counter() - self._start
        _, accuracy = self.model.evaluate(self.x_test, self.y_test, batch_size=1000, verbose=0)
        self.rows.append({"epoch": epoch + 1, "seconds": self.train_seconds, "test": accuracy})
        print(f"  epoch {epoch + 1}: {self.train_seconds:6.1f} s, test {accuracy:.2%}", flush=True)


def run_recipe(
    name: str, config: TrainConfig, data, steps_per_execution: int = 1, policy: str = "float32"
) -> dict:
    """Train one recipe and return its row of the table. ``steps_per_execution`` > 1 runs that
    many training steps per call into the compiled graph (Keras' ``compile`` option);
    ``policy`` is Keras' dtype policy for the model (``mixed_bfloat16``: bfloat16 arithmetic,
    float32 weights)."""
    keras.mixed_precision.set_global_policy(policy)
    print(
        f"{name}: {config.architecture}, {config.epochs} epochs, {config.lr_schedule} lr",
        flush=True,
    )
    seed_everything(config.seed)
    steps = -(-len(data.x_train) // config.batch_size)
    model = compile_model(build_model(config.architecture), config, steps, steps_per_execution)
    clock = TestAccuracyClock(data.x_test, data.y_test)
    model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        epochs=config.epochs,
        batch_size=config.batch_size,
        callbacks=[clock],
        verbose=0,
    )
    history = pd.DataFrame(clock.rows)
    reached = history[history["test"] >= TARGET]
    epoch_flops = training_step_flops(model, config.batch_size) * steps
    return {
        "recipe": name,
        "parameters": model.count_params(),
        "epochs": config.epochs,
        f"seconds to {TARGET:.1%}": round(reached["seconds"].iloc[0]) if len(reached) else None,
        "epoch reached": int(reached["epoch"].iloc[0]) if len(reached) else None,
        "final test accuracy": f"{history['test'].iloc[-1]:.2%}",
        "training seconds": round(clock.train_seconds),
        "TFLOP per epoch": f"{epoch_flops / 1e12:.2f}",
        "GFLOP/s": round(epoch_flops * len(history) / clock.train_seconds / 1e9),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs-ours", type=int, default=TrainConfig().epochs)
    parser.add_argument("--epochs-keras", type=int, default=15)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a TrainConfig field of our recipe, e.g. --set batch_size=256 (a lever to measure)",
    )
    parser.add_argument(
        "--steps-per-execution",
        type=int,
        default=STEPS_PER_EXECUTION,
        help=f"for our recipe (train's: {STEPS_PER_EXECUTION}; the Keras example runs 1)",
    )
    parser.add_argument(
        "--policy", default="float32", help="our recipe's Keras dtype policy: mixed_bfloat16"
    )
    parser.add_argument("--skip-keras", action="store_true", help="train our recipe only")
    args = parser.parse_args()
    overrides = {}
    for item in args.set:  # values read as make run's -p reads them (3 -> int, true -> bool)
        name, _, value = item.partition("=")
        overrides[name] = parse_value(value)

    data = load_mnist(validation_size=5000, seed=args.seed)
    recipes = {
        "course CNN (04 default)": TrainConfig(
            **{"epochs": args.epochs_ours, "seed": args.seed, **overrides}
        ).validate(),
        "Keras example CNN": TrainConfig(
            **KERAS_EXAMPLE_RECIPE, epochs=args.epochs_keras, seed=args.seed
        ),
    }
    peak = practical_peak()
    if args.skip_keras:
        del recipes["Keras example CNN"]
    ours = {"steps_per_execution": args.steps_per_execution, "policy": args.policy}
    rows = [
        run_recipe(name, config, data, **(ours if "course" in name else {}))
        for name, config in recipes.items()
    ]
    if overrides or args.steps_per_execution != STEPS_PER_EXECUTION or args.policy != "float32":
        print(f"our recipe with {overrides}, {ours}")
    print(f"\n{describe_machine()}, seed {args.seed}")
    print(
        f"practical peak, measured in this run: matmul {peak['matmul']:.0f} GFLOP/s, "
        f"conv2d {peak['conv2d']:.0f} GFLOP/s\n"
    )
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for row in rows:
        print(
            "| "
            + " | ".join(
                "-" if v is None else f"{v:,}" if isinstance(v, int) else str(v)
                for v in row.values()
            )
            + " |"
        )


if __name__ == "__main__":
    main()
