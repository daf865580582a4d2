"""How close training comes to what this machine can do: the work of a training step counted
from the model, this machine's practical peak measured now, and where a step's time goes.

Used by ``time_to_accuracy.py`` (FLOPs and GFLOP/s beside the time to 99 %) and runnable on its
own for the profile of one training step::

    .venv/bin/python benchmarks/machine.py [--architecture cnn] [--batch-size 256]

* **Work** (:func:`training_step_flops`): TensorFlow's own profiler counts the floating-point
  operations of the graph of one whole training step (forward, gradients, optimizer update),
  traced from the compiled model: counted, not estimated from a rule of thumb.
* **Peak** (:func:`practical_peak`): the GFLOP/s of a large matrix product and of a large
  convolution, timed in this process with TensorFlow's kernels (oneDNN on x86): what the
  machine sustains on work that suits it, not the vendor's paper figure.
* **Profile** (:func:`step_profile`): the median seconds of the parts of a step, each compiled
  and timed on its own (input, augmentation layers, forward, forward and gradients, the full
  step with the optimizer) and Keras' ``fit`` per step; the differences say what each adds.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from sweep_throughput import cpu_model  # noqa: E402

from mnist_helpers.models import TRAINING_ONLY_LAYERS, build_model  # noqa: E402
from mnist_helpers.timing import median_seconds  # noqa: E402
from mnist_helpers.training import (  # noqa: E402
    STEPS_PER_EXECUTION,
    TrainConfig,
    compile_model,
    seed_everything,
)


def _graph_flops(concrete_function) -> int:
    """Floating-point operations in ``concrete_function``'s graph, by TensorFlow's profiler
    (each op's registered cost: Conv2D, its two gradients, MatMul, element-wise ops...)."""
    from tensorflow.python.profiler import model_analyzer, option_builder

    tf.get_logger().setLevel("ERROR")  # "This API was designed for TensorFlow v1": it still counts
    options = (
        option_builder.ProfileOptionBuilder(option_builder.ProfileOptionBuilder.float_operation())
        .with_empty_output()
        .build()
    )
    info = model_analyzer.profile(graph=concrete_function.graph, options=options)
    return int(info.total_float_ops)


def _gradients(model: keras.Model, x, y):
    """The loss of ``model`` on ``(x, y)`` in training mode, and its gradients."""
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=True))
    return loss, tape.gradient(loss, model.trainable_variables)


def _train_step(model: keras.Model):
    """One training step of a compiled ``model`` as a tf.function: forward in training mode,
    the loss, its gradients, the optimizer's update."""

    @tf.function
    def step(x, y):
        loss, gradients = _gradients(model, x, y)
        model.optimizer.apply(gradients, model.trainable_variables)
        return loss

    return step


def training_step_flops(model: keras.Model, batch_size: int) -> int:
    """FLOPs of one training step of the compiled ``model`` on a batch of ``batch_size``."""
    x = tf.TensorSpec((batch_size, 28, 28, 1), tf.float32)
    y = tf.TensorSpec((batch_size,), tf.int64)
    return _graph_flops(_train_step(model).get_concrete_function(x, y))


def practical_peak(size: int = 2048, repeats: int = 5) -> dict[str, float]:
    """GFLOP/s of a ``size`` x ``size`` float32 matrix product and of a 3x3 convolution
    (batch 256, 28x28, 64 -> 64 channels), each the median of ``repeats`` runs."""
    a = tf.random.normal((size, size))
    matmul = tf.function(lambda: tf.linalg.matmul(a, a))
    images = tf.random.normal((256, 28, 28, 64))
    kernel = tf.random.normal((3, 3, 64, 64))
    conv = tf.function(lambda: tf.nn.conv2d(images, kernel, 1, "SAME"))
    work = {
        "matmul": (matmul, 2 * size**3),
        "conv2d": (conv, 2 * 256 * 28 * 28 * 3 * 3 * 64 * 64),
    }
    return {
        name: flops / median_seconds(lambda f=f: f().numpy(), repeats) / 1e9
        for name, (f, flops) in work.items()
    }


def step_profile(architecture: str = "cnn", batch_size: int = 256, steps: int = 40) -> dict:
    """Median seconds per step of each part of training ``architecture`` (see module doc), with
    the step's FLOPs; on random images, so that no data set is needed."""
    seed_everything(0)
    config = TrainConfig(architecture=architecture, batch_size=batch_size)
    # as train compiles it (04's 55,000 training images): STEPS_PER_EXECUTION steps per call
    steps_per_epoch = -(-55_000 // batch_size)
    model = compile_model(build_model(architecture), config, steps_per_epoch, STEPS_PER_EXECUTION)
    rng = np.random.default_rng(0)
    x_all = rng.random((batch_size * steps, 28, 28, 1), dtype=np.float32)
    y_all = rng.integers(0, 10, batch_size * steps)
    x, y = tf.constant(x_all[:batch_size]), tf.constant(y_all[:batch_size])
    augment = [layer for layer in model.layers if isinstance(layer, TRAINING_ONLY_LAYERS)]
    rest = [layer for layer in model.layers if not isinstance(layer, TRAINING_ONLY_LAYERS)]
    core = keras.Sequential([keras.Input((28, 28, 1)), *rest])

    @tf.function
    def augmentation():
        out = x
        for layer in augment:
            out = layer(out, training=True)
        return out

    forward = tf.function(lambda: core(x, training=True))

    forward_backward = tf.function(lambda: _gradients(model, x, y)[1])
    step = _train_step(model)
    # what fit's input side does per step: slice the arrays, batch, make tensors
    dataset = tf.data.Dataset.from_tensor_slices((x_all, y_all)).batch(batch_size)
    batches = iter(dataset.repeat().prefetch(2))

    parts = {
        "input (tf.data batches of a NumPy array)": lambda: next(batches)[0].numpy(),
        "augmentation layers": lambda: augmentation().numpy(),
        "forward, without augmentation": lambda: forward().numpy(),
        "forward and gradients": lambda: [g.numpy() for g in forward_backward()][0],
        "full step (forward, gradients, optimizer)": lambda: step(x, y).numpy(),
    }
    seconds = {name: median_seconds(part, repeats=20) for name, part in parts.items()}
    model.fit(x_all, y_all, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)  # compiles
    start = time.perf_counter()
    model.fit(x_all, y_all, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
    seconds["Keras fit, per step"] = (time.perf_counter() - start) / steps
    return {"seconds": seconds, "flops": training_step_flops(model, batch_size)}


def describe_machine() -> str:
    """One line: cores, processor, TensorFlow and Keras versions."""
    return (
        f"{os.cpu_count()} CPU cores, {cpu_model()}, "
        f"TensorFlow {tf.__version__}, Keras {keras.version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architecture", default="cnn")
    parser.add_argument("--batch-size", type=int, default=TrainConfig().batch_size)
    args = parser.parse_args()
    peak = practical_peak()
    profile = step_profile(args.architecture, args.batch_size)
    step = profile["seconds"]["full step (forward, gradients, optimizer)"]
    fit = profile["seconds"]["Keras fit, per step"]
    print(describe_machine())
    print(
        f"practical peak: matmul {peak['matmul']:.0f} GFLOP/s, conv2d {peak['conv2d']:.0f} GFLOP/s"
    )
    print(
        f"{args.architecture}, batch {args.batch_size}: {profile['flops'] / 1e9:.2f} GFLOP per "
        f"training step; full step {1e3 * step:.1f} ms = {profile['flops'] / step / 1e9:.0f} "
        f"GFLOP/s; Keras fit {1e3 * fit:.1f} ms per step = "
        f"{profile['flops'] / fit / 1e9:.0f} GFLOP/s "
        f"({profile['flops'] / fit / 1e9 / peak['conv2d']:.0%} of the conv2d peak)"
    )
    print("\n| part of a step | ms (median) |\n|---|---:|")
    for name, seconds in profile["seconds"].items():
        print(f"| {name} | {1e3 * seconds:.1f} |")


if __name__ == "__main__":
    main()
