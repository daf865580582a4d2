"""The models of the course: our fast CNN, the canonical Keras example CNN, and an MLP baseline.

Every builder returns an *uncompiled* ``keras.Model``; :func:`mnist_helpers.training.train`
compiles and fits it. Taught in 02.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
from keras import layers

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
#: Batch normalisation's running statistics follow the batches at this rate. Keras' default
#: 0.99 needs hundreds of steps to forget its initial values, so short runs (the smoke
#: profile, a 2-epoch race) would be evaluated with nearly untouched statistics.
BN_MOMENTUM = 0.9


def build_cnn(
    filters: Sequence[int] = (16, 32, 32),
    kernel_sizes: Sequence[int] = (5, 3, 3),
    pool: Sequence[bool] = (True, True, False),
    dense_units: int | None = 128,
    dropout: float = 0.3,
    batch_norm: bool = True,
    input_shape: tuple[int, int, int] = INPUT_SHAPE,
    name: str = "cnn",
    pool_last: bool = False,
) -> keras.Model:
    """Build a small convolutional network for 28x28 grey digits.

    Each block is ``Conv2D -> (MaxPooling2D 2x2) -> (BatchNormalization) -> ReLU``; then the
    feature maps are flattened, go through dropout and an optional hidden ``Dense`` layer, and
    end in a 10-way softmax. The defaults are the course's recipe: 217,050 parameters,
    above 99.3 % test accuracy after 7 epochs, in about two minutes on two CPU cores (03).

    Why pool *before* normalising? Max pooling keeps the largest value of each 2x2 window,
    and ReLU (and batch normalisation, with a positive scale) never change which value is
    the largest, so the order barely changes what the network can compute. But batch
    normalisation and ReLU then work on a quarter as many numbers, which cuts the time of a
    training step on a CPU (02 measures by how much against ``pool_last=True``: 18 % in its
    committed run).

    Args:
        filters: number of filters of each convolutional block.
        kernel_sizes: kernel size of each block (one int per block, square kernels).
        pool: whether each block pools 2x2 right after its convolution.
        dense_units: width of the hidden dense layer, or ``None`` for none.
        dropout: dropout rate before each dense layer (0 switches it off).
        batch_norm: add batch normalisation to each block and after the hidden layer
            (the biases of the layers before them are then redundant and left out).
        input_shape: the shape of one image, channel last.
        name: the model's name.
        pool_last: pool at the end of each block instead (``Conv2D -> BatchNormalization
            -> ReLU -> MaxPooling2D``), the order many networks use: the same layers and
            parameters, more computation.

    Returns:
        An uncompiled ``keras.Model``.

    Taught in 02.
    """
    if not (len(filters) == len(kernel_sizes) == len(pool)):
        raise ValueError(
            "filters, kernel_sizes and pool need one entry per block, got "
            f"{len(filters)}, {len(kernel_sizes)} and {len(pool)}"
        )
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    model = keras.Sequential(name=name)
    model.add(keras.Input(shape=input_shape, name="image"))
    for i, (n_filters, size, do_pool) in enumerate(zip(filters, kernel_sizes, pool, strict=True)):
        model.add(
            layers.Conv2D(
                n_filters, size, padding="same", use_bias=not batch_norm, name=f"conv{i + 1}"
            )
        )
        if do_pool and not pool_last:
            model.add(layers.MaxPooling2D(2, name=f"pool{i + 1}"))
        if batch_norm:
            model.add(layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{i + 1}"))
        model.add(layers.ReLU(name=f"relu{i + 1}"))
        if do_pool and pool_last:
            model.add(layers.MaxPooling2D(2, name=f"pool{i + 1}"))
    model.add(layers.Flatten(name="flatten"))
    if dense_units:
        if dropout:
            model.add(layers.Dropout(dropout, name="dropout_flat"))
        model.add(layers.Dense(dense_units, use_bias=not batch_norm, name="dense"))
        if batch_norm:
            model.add(layers.BatchNormalization(momentum=BN_MOMENTUM, name="bn_dense"))
        model.add(layers.ReLU(name="relu_dense"))
    if dropout:
        model.add(layers.Dropout(dropout, name="dropout"))
    model.add(layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities"))
    return model


def build_wide_cnn() -> keras.Model:
    """Build the course's CNN one and a half times as wide: 24, 48 and 48 filters.

    335,042 parameters and about twice the computation per image of :func:`build_cnn`'s
    default. After 03's short training it scored no better (99.43 % after 6 epochs against
    the default's 99.42 % after 7, seed 42), so 03 uses the quicker one; 05, which spends
    an hour on augmentation and ensembles, uses this one.
    """
    return build_cnn(filters=(24, 48, 48), name="cnn_wide")


def build_keras_example_cnn(input_shape: tuple[int, int, int] = INPUT_SHAPE) -> keras.Model:
    """Build the canonical Keras "Simple MNIST convnet" (Conv32-pool-Conv64-pool-Dropout-Dense).

    About 35 k parameters; Keras' example trains it for 15 epochs with Adam and batch 128
    to about 99.2 %. We use it as the reference to beat. Taught in 02.
    """
    return keras.Sequential(
        [
            keras.Input(shape=input_shape, name="image"),
            layers.Conv2D(32, 3, activation="relu", name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(64, 3, activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Flatten(name="flatten"),
            layers.Dropout(0.5, name="dropout"),
            layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities"),
        ],
        name="keras_example",
    )


def build_mlp(
    hidden_units: Sequence[int] = (256, 128),
    dropout: float = 0.2,
    input_shape: tuple[int, int, int] = INPUT_SHAPE,
) -> keras.Model:
    """Build a multi-layer perceptron: the image flattened into 784 numbers, dense layers.

    The baseline a CNN must beat: it ignores that neighbouring pixels belong together.
    Taught in 02.
    """
    model = keras.Sequential(name="mlp")
    model.add(keras.Input(shape=input_shape, name="image"))
    model.add(layers.Flatten(name="flatten"))
    for i, units in enumerate(hidden_units):
        model.add(layers.Dense(units, activation="relu", name=f"dense{i + 1}"))
        if dropout:
            model.add(layers.Dropout(dropout, name=f"dropout{i + 1}"))
    model.add(layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities"))
    return model


def augmentation_layers(
    rotation_degrees: float = 10.0, shift: float = 0.1, zoom: float = 0.1, seed: int | None = None
) -> keras.Sequential:
    """Random small rotations, shifts and zooms, as Keras preprocessing layers.

    They change each training image a little every time it is seen (at inference they do
    nothing), so the network learns that a digit moved or turned slightly is the same digit.
    Areas moved in from outside the image are filled with black (0), like MNIST's background.

    Args:
        rotation_degrees: largest rotation, either way, in degrees.
        shift: largest shift, as a fraction of the image size (0.1 = 2.8 pixels).
        zoom: largest zoom in or out, as a fraction.
        seed: seed of the random transformations.

    Taught in 05.
    """
    fill = {"fill_mode": "constant", "fill_value": 0.0, "seed": seed}
    return keras.Sequential(
        [
            layers.RandomRotation(rotation_degrees / 360, name="rotate", **fill),
            layers.RandomTranslation(shift, shift, name="shift", **fill),
            layers.RandomZoom(zoom, name="zoom", **fill),
        ],
        name="augment",
    )


#: The model variants a notebook's ``model`` parameter may name.
MODEL_VARIANTS: dict[str, Callable[[], keras.Model]] = {
    "cnn": build_cnn,
    "cnn_wide": build_wide_cnn,
    "keras_example": build_keras_example_cnn,
    "mlp": build_mlp,
}


def build_model(variant: str, augment: bool = False) -> keras.Model:
    """Build the model variant named ``variant`` (one of :data:`MODEL_VARIANTS`).

    With ``augment=True`` the :func:`augmentation_layers` come first (active in training
    only). Taught in 02 and 05.
    """
    if variant not in MODEL_VARIANTS:
        raise ValueError(
            f"model must be one of {', '.join(repr(v) for v in MODEL_VARIANTS)}, got {variant!r} "
            "(set it in the parameters cell, e.g. model='cnn')"
        )
    model = MODEL_VARIANTS[variant]()
    if not augment:
        return model
    return keras.Sequential(
        [keras.Input(shape=INPUT_SHAPE, name="image"), augmentation_layers(), model],
        name=f"{model.name}_augmented",
    )


def layer_table(model: keras.Model):
    """Return a pandas DataFrame with each layer's name, type, output shape and parameters.

    A friendlier ``model.summary()``: the shapes drop the batch axis. Taught in 02.
    """
    import pandas as pd

    rows = [
        {
            "layer": layer.name,
            "type": type(layer).__name__,
            "output shape": tuple(layer.output.shape[1:]),
            "parameters": layer.count_params(),
        }
        for layer in model.layers
    ]
    return pd.DataFrame(rows)
