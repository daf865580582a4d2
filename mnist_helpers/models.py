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
#: Largest change of brightness of :func:`appearance_augmentation_layers` (pixels in [0, 1]).
BRIGHTNESS_CHANGE = 0.3
#: Standard deviation of the pixel noise of :func:`appearance_augmentation_layers`.
PIXEL_NOISE = 0.1
#: Probability that :func:`appearance_augmentation_layers` change an image's brightness, and
#: (drawn apart) that they add noise to it: the other images keep their look. Half and half
#: scored better than every image on the corruptions, on two seeds, and as well clean (07).
APPEARANCE_PROBABILITY = 0.5


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
    standardize: bool = False,
    augment_appearance: bool = True,
) -> keras.Model:
    """Build a small convolutional network for 28x28 grey digits.

    First, in training only, the :func:`appearance_augmentation_layers` vary each digit's
    look (stroke width, brightness, noise). Then each block is ``Conv2D -> (MaxPooling2D
    2x2) -> (BatchNormalization) -> ReLU``; the feature maps are flattened, go through
    dropout and an optional hidden ``Dense`` layer, and end in a 10-way softmax. The
    defaults are the course's recipe: 217,050 parameters, above 99.4 % test accuracy after
    7 epochs, in about two to three minutes on two CPU cores (03), and far less brittle on
    shifted digits than the same network trained without the augmentation (07:
    :func:`build_plain_cnn`, the course's CNN before 07).

    Why pool *before* normalising? Max pooling keeps the largest value of each 2x2 window,
    and ReLU (and batch normalisation, with a positive scale) never change which value is
    the largest, so the order barely changes what the network can compute. But batch
    normalisation and ReLU then work on a quarter as many numbers, which cuts the time of a
    training step on a CPU (02 measures by how much against ``pool_last=True``: 11 % in its
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
        standardize: give every image a mean of 0 and a standard deviation of 1 over its own
            pixels first (:func:`standardize_layer`), so that a brighter background or a
            weaker contrast does not reach the layers after it. Off by default: 07 measures
            it as a fix and finds that it breaks other shifts (bright bands at the edges).
        augment_appearance: in training only, first vary how each digit looks: its stroke
            width, the brightness of the paper, a little noise
            (:func:`appearance_augmentation_layers`; at test time they do nothing).

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
    if augment_appearance:
        for layer in appearance_augmentation_layers():
            model.add(layer)
    if standardize:
        model.add(standardize_layer())
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


def standardize_layer() -> keras.layers.Layer:
    """A layer that standardises each image on its own: ``(x - mean) / std`` of its pixels.

    A uniformly brighter image, or one with weaker contrast, comes out the same as the
    original (up to clipping of the brightest pixels), so the layers after it never see the
    difference. It is Keras' ``LayerNormalization`` over the height, width and channel axes
    without a learned scale or offset: no parameters, nothing learned, the same in training
    and at test time (unlike batch normalisation, which uses statistics frozen at the end of
    training). Taught in 07.
    """
    return layers.LayerNormalization(axis=(1, 2, 3), center=False, scale=False, name="standardize")


@keras.saving.register_keras_serializable(package="mnist_helpers")
class RandomStrokeWidth(layers.Layer):
    """In training, thin the strokes of a random quarter of the images and thicken another's.

    People write with thin and thick pens, scanners blur or sharpen: the same digit comes
    with many stroke widths, while MNIST's are all much alike. Thinning is a 2x2 *erosion*
    (each pixel takes the smallest value of its 2x2 neighbourhood), thickening a 3x3
    *dilation* (the largest value of its 3x3 neighbourhood); half of the images stay as they
    are. At test time (``training=False``) the layer passes images through unchanged.

    Args:
        seed: seed of the random choices (``None``: from Keras' global seed, which
            :func:`mnist_helpers.training.seed_everything` sets).

    Taught in 07.
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training:
            return images
        ops = keras.ops
        # 3x3 dilation as two 1-D maxima over shifted copies (much faster on a CPU than
        # a stride-1 max pooling): rows first, then columns
        padded = ops.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]])
        rows = ops.maximum(ops.maximum(padded[:, :-2], padded[:, 1:-1]), padded[:, 2:])
        thick = ops.maximum(ops.maximum(rows[:, :, :-2], rows[:, :, 1:-1]), rows[:, :, 2:])
        # 2x2 erosion: the smallest of each pixel and its neighbours below and to the right
        padded = ops.pad(images, [[0, 0], [0, 1], [0, 1], [0, 0]])
        below, right, diagonal = padded[:, 1:, :-1], padded[:, :-1, 1:], padded[:, 1:, 1:]
        thin = ops.minimum(ops.minimum(images, below), ops.minimum(right, diagonal))
        draw = keras.random.uniform(
            (ops.shape(images)[0], 1, 1, 1), seed=self.seed_generator, dtype=images.dtype
        )
        return ops.where(draw < 0.25, thin, ops.where(draw < 0.5, thick, images))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}


class _RandomShareLayer(layers.Layer):
    """Base of the layers that change a random share of the images, in training only.

    A subclass says how to change a batch (``change``) and adds its own setting to
    ``get_config``; this class draws which images get the change (each with probability
    ``probability``) and passes images through at test time.
    """

    def __init__(self, probability: float = 1.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.probability = _check_probability(probability)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def change(self, images):
        raise NotImplementedError

    def call(self, images, training=False):
        if not training:
            return images
        return _some_images(self.change(images), images, self.probability, self.seed_generator)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "probability": self.probability, "seed": self.seed}


@keras.saving.register_keras_serializable(package="mnist_helpers")
class RandomBrightnessShift(_RandomShareLayer):
    """In training, lift or lower all pixels of an image by one random amount, then clip.

    Each image is changed with probability ``probability``; a changed image gets its own
    amount, drawn uniformly between ``-max_change`` and ``max_change``, added to every
    pixel, and the result is clipped to [0, 1]. A lifted image
    has a grey background and its brightest ink saturates at 1 (less contrast); a lowered
    one has fainter ink. At test time (``training=False``, the default) images pass through
    unchanged. (Keras' own ``RandomBrightness`` does the same, but acts by default when a
    model is called without ``training=``, so a plain ``model(x)`` would be random.)

    Args:
        max_change: the largest change, in pixel units of [0, 1].
        probability: the chance that an image is changed at all (1: every image).
        seed: seed of the random draws (``None``: from Keras' global seed).

    Taught in 07.
    """

    def __init__(
        self, max_change: float, probability: float = 1.0, seed: int | None = None, **kwargs
    ):
        super().__init__(probability, seed, **kwargs)
        if not 0 < max_change <= 1:
            raise ValueError(f"max_change must be in (0, 1], got {max_change!r}")
        self.max_change = max_change

    def change(self, images):
        amount = keras.random.uniform(
            (keras.ops.shape(images)[0], 1, 1, 1),
            minval=-self.max_change,
            maxval=self.max_change,
            seed=self.seed_generator,
            dtype=images.dtype,
        )
        return keras.ops.clip(images + amount, 0.0, 1.0)

    def get_config(self) -> dict:
        return {**super().get_config(), "max_change": self.max_change}


@keras.saving.register_keras_serializable(package="mnist_helpers")
class RandomPixelNoise(_RandomShareLayer):
    """In training, add Gaussian noise to every pixel of a random share of the images.

    Each image gets noise with probability ``probability``: an independent draw of mean 0
    and standard deviation ``stddev`` for each of its pixels (no clipping, like Keras'
    ``GaussianNoise``, which is this layer with ``probability=1``). At test time
    (``training=False``, the default) images pass through unchanged.

    Args:
        stddev: standard deviation of the noise, in pixel units of [0, 1].
        probability: the chance that an image gets noise at all (1: every image).
        seed: seed of the random draws (``None``: from Keras' global seed).

    Taught in 07.
    """

    def __init__(self, stddev: float, probability: float = 1.0, seed: int | None = None, **kwargs):
        super().__init__(probability, seed, **kwargs)
        if not 0 < stddev <= 1:
            raise ValueError(f"stddev must be in (0, 1], got {stddev!r}")
        self.stddev = stddev

    def change(self, images):
        noise = keras.random.normal(
            keras.ops.shape(images),
            stddev=self.stddev,
            seed=self.seed_generator,
            dtype=images.dtype,
        )
        return images + noise

    def get_config(self) -> dict:
        return {**super().get_config(), "stddev": self.stddev}


def _check_probability(probability: object) -> float:
    if isinstance(probability, bool) or not isinstance(probability, int | float):
        raise ValueError(f"probability must be a number in (0, 1], got {probability!r}")
    if not 0 < probability <= 1:
        raise ValueError(f"probability must be in (0, 1], got {probability!r}")
    return float(probability)


def _some_images(changed, images, probability: float, seed_generator):
    """``changed`` for a random share ``probability`` of the images, ``images`` for the rest."""
    if probability >= 1:
        return changed
    draw = keras.random.uniform(
        (keras.ops.shape(images)[0], 1, 1, 1), seed=seed_generator, dtype=images.dtype
    )
    return keras.ops.where(draw < probability, changed, images)


def appearance_augmentation_layers(seed: int | None = None) -> list[keras.layers.Layer]:
    """The course's default augmentation: vary how a digit *looks*, not where it is.

    Three layers that act in training only (at test time they pass images through):

    1. :class:`RandomStrokeWidth`: a thinner or thicker pen for half of the images;
    2. :class:`RandomBrightnessShift`: for half of the images (:data:`APPEARANCE_PROBABILITY`),
       every pixel lifted or lowered by the same random amount, up to
       :data:`BRIGHTNESS_CHANGE`, then clipped to [0, 1] (a lighter or darker paper; lifted
       ink saturates at 1, so the contrast shrinks);
    3. :class:`RandomPixelNoise`: for half of the images, drawn apart, noise of standard
       deviation :data:`PIXEL_NOISE` on every pixel.

    Half of the images keep their brightness and half stay free of noise: changing every
    image did no better in 07's trials (a hair lower on clean digits, and much less steady
    on salt-and-pepper noise).

    05's :func:`augmentation_layers` change *where* the digit is (shifts, turns, zooms); these
    teach the network that a digit stays the same digit whatever the pen, the light and the
    scanner. 07 measures what each buys on shifted test images.

    Args:
        seed: seed of the random draws (``None``: from Keras' global seed).

    Returns:
        The three layers, in order, to add at the front of a model.

    Taught in 07.
    """
    return [
        RandomStrokeWidth(seed=seed, name="stroke_width"),
        RandomBrightnessShift(
            BRIGHTNESS_CHANGE, APPEARANCE_PROBABILITY, seed=seed, name="brightness"
        ),
        RandomPixelNoise(PIXEL_NOISE, APPEARANCE_PROBABILITY, seed=seed, name="noise"),
    ]


def build_wide_cnn() -> keras.Model:
    """Build the course's CNN one and a half times as wide: 24, 48 and 48 filters.

    335,042 parameters and about twice the computation per image of :func:`build_cnn`'s
    default. After 03's short training it scored no better (99.43 % after 6 epochs against
    the default's 99.42 % after 7, seed 42, both before 07), so 03 uses the quicker one; 05,
    which spends an hour on augmentation and ensembles, uses this one. It is built as 05
    trained and measured it, without 07's appearance augmentation.
    """
    return build_cnn(filters=(24, 48, 48), name="cnn_wide", augment_appearance=False)


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


def build_plain_cnn() -> keras.Model:
    """Build the course's CNN as it was before 07: without the appearance augmentation.

    The same 217,050 parameters as :func:`build_cnn`; 07 shows how brittle it is on
    shifted digits (a brighter background, fog, outlines) and why. Taught in 07.
    """
    return build_cnn(augment_appearance=False, name="cnn_plain")


def build_standardized_cnn() -> keras.Model:
    """Build the course's CNN with per-image standardisation instead of appearance augmentation.

    One of the fixes 07 measures: it makes the network blind to a brighter background, but
    not to fog or outlines, and worse on bright bands. Taught in 07.
    """
    return build_cnn(standardize=True, augment_appearance=False, name="cnn_standardized")


def build_standardized_appearance_cnn() -> keras.Model:
    """Build the default CNN with per-image standardisation after its appearance augmentation.

    :func:`appearance_augmentation_layers`, then :func:`standardize_layer`, then the same
    217,050-parameter network. On its own it is no better than the default (bright bands
    still break it); trained with 05's shifts and turns in front (``build_model(...,
    augment=True)``) it is the partner of 07's best configuration: an ensemble with the
    default, which fails where this one holds (moved digits) and holds where this one fails
    (bright bands). Taught in 07.
    """
    return build_cnn(standardize=True, name="cnn_standardized_appearance")


#: The model variants a notebook's ``model`` parameter may name.
MODEL_VARIANTS: dict[str, Callable[[], keras.Model]] = {
    "cnn": build_cnn,
    "cnn_plain": build_plain_cnn,
    "cnn_standardized": build_standardized_cnn,
    "cnn_standardized_appearance": build_standardized_appearance_cnn,
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
