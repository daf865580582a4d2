"""The course's models (our CNN and its variants, the Keras example CNN, an MLP), uncompiled,
and the augmentation layers that change images in training only (:func:`inference_model`
leaves them out). Taught in 03."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import keras
from keras import layers

from mnist_helpers.checks import check_choice, check_number

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
#: Batch normalisation's momentum: with Keras' 0.99 a short run keeps near-initial statistics.
BN_MOMENTUM = 0.9
#: The appearance augmentation: the largest change of brightness (pixels in [0, 1]), the
#: standard deviation of the pixel noise, and the share of images that get each of the two.
BRIGHTNESS_CHANGE = 0.3
PIXEL_NOISE = 0.1
APPEARANCE_PROBABILITY = 0.5


def build_cnn(
    filters: Sequence[int] = (16, 32, 32),
    kernel_sizes: Sequence[int] = (5, 3, 3),
    pool: Sequence[bool] = (True, True, False),
    dense_units: int | None = 128,
    dropout: float = 0.3,
    batch_norm: bool = True,
    name: str = "cnn",
    pool_last: bool = False,
    standardize: bool = False,
    augment_appearance: bool = True,
) -> keras.Model:
    """Build the course's CNN: blocks of ``Conv2D -> (MaxPooling2D; last with pool_last) ->
    (BatchNormalization) -> ReLU`` (``filters``, ``kernel_sizes``, ``pool``: one per block),
    dropout, a hidden ``Dense`` layer (``dense_units``, or None), a 10-way softmax; first, if
    asked, :func:`standardize_layer` and :func:`appearance_augmentation_layers`. Taught in 03."""
    if not (len(filters) == len(kernel_sizes) == len(pool)):
        raise ValueError(
            "filters, kernel_sizes and pool need one entry per block, got "
            f"{len(filters)}, {len(kernel_sizes)} and {len(pool)}"
        )
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    model = keras.Sequential(name=name)
    model.add(keras.Input(shape=INPUT_SHAPE, name="image"))
    for layer in appearance_augmentation_layers() if augment_appearance else []:
        model.add(layer)
    if standardize:
        model.add(standardize_layer())
    bias = not batch_norm  # batch normalisation's offset would cancel it
    blocks = zip(filters, kernel_sizes, pool, strict=True)
    for n, (n_filters, size, do_pool) in enumerate(blocks, start=1):
        model.add(layers.Conv2D(n_filters, size, padding="same", use_bias=bias, name=f"conv{n}"))
        if do_pool and not pool_last:
            model.add(layers.MaxPooling2D(2, name=f"pool{n}"))
        if batch_norm:
            model.add(layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{n}"))
        model.add(layers.ReLU(name=f"relu{n}"))
        if do_pool and pool_last:
            model.add(layers.MaxPooling2D(2, name=f"pool{n}"))
    model.add(layers.Flatten(name="flatten"))
    if dense_units:
        if dropout:
            model.add(layers.Dropout(dropout, name="dropout_flat"))
        model.add(layers.Dense(dense_units, use_bias=bias, name="dense"))
        if batch_norm:
            model.add(layers.BatchNormalization(momentum=BN_MOMENTUM, name="bn_dense"))
        model.add(layers.ReLU(name="relu_dense"))
    if dropout:
        model.add(layers.Dropout(dropout, name="dropout"))
    model.add(layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities"))
    return model


def standardize_layer() -> keras.layers.Layer:
    """A layer that standardises each image on its own, ``(x - mean) / std`` of its pixels:
    Keras' ``LayerNormalization`` with nothing learned. A brighter or paler copy of an image
    comes out the same. Taught in 07."""
    return layers.LayerNormalization(axis=(1, 2, 3), center=False, scale=False, name="standardize")


class _TrainingOnlyLayer(layers.Layer):
    """Changes images (``change``) in training only; at test time passes them through."""

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed  # None: from Keras' global seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        return self.change(images) if training else images

    def uniform(self, images, low: float = 0.0, high: float = 1.0):
        """One random number per image, in [low, high), shaped to broadcast over it."""
        shape, seed = (keras.ops.shape(images)[0], 1, 1, 1), self.seed_generator
        return keras.random.uniform(shape, low, high, dtype=images.dtype, seed=seed)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="mnist_helpers")
class RandomStrokeWidth(_TrainingOnlyLayer):
    """In training, thin the strokes of a random quarter of the images (2x2 erosion) and
    thicken another quarter's (3x3 dilation); at test time, pass them through. Taught in 07."""

    def change(self, images):
        ops = keras.ops
        # 3x3 dilation as two 1-D maxima over shifted copies (faster on a CPU than pooling)
        padded = ops.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]])
        rows = ops.maximum(ops.maximum(padded[:, :-2], padded[:, 1:-1]), padded[:, 2:])
        thick = ops.maximum(ops.maximum(rows[:, :, :-2], rows[:, :, 1:-1]), rows[:, :, 2:])
        # 2x2 erosion: the smallest of each pixel and its neighbours below and to the right
        padded = ops.pad(images, [[0, 0], [0, 1], [0, 1], [0, 0]])
        below, right, diagonal = padded[:, 1:, :-1], padded[:, :-1, 1:], padded[:, 1:, 1:]
        thin = ops.minimum(ops.minimum(images, below), ops.minimum(right, diagonal))
        draw = self.uniform(images)
        return ops.where(draw < 0.25, thin, ops.where(draw < 0.5, thick, images))


class _RandomShareLayer(_TrainingOnlyLayer):
    """Changes a random share ``probability`` of the images, in training only."""

    def __init__(self, probability: float = 1.0, seed: int | None = None, **kwargs):
        super().__init__(seed, **kwargs)
        self.probability = check_number("probability", probability, 0, 1, low_open=True)

    def call(self, images, training=False):
        if not training:
            return images
        changed = self.change(images)
        if self.probability >= 1:
            return changed
        return keras.ops.where(self.uniform(images) < self.probability, changed, images)

    def get_config(self) -> dict:
        return {**super().get_config(), "probability": self.probability}


@keras.saving.register_keras_serializable(package="mnist_helpers")
class RandomBrightnessShift(_RandomShareLayer):
    """In training, add one random amount in ``[-max_change, max_change]`` to every pixel of
    an image (a share ``probability`` of them), then clip to [0, 1]; at test time, nothing.
    Unlike Keras' ``RandomBrightness``, a plain ``model(x)`` is not random. Taught in 07."""

    def __init__(
        self, max_change: float, probability: float = 1.0, seed: int | None = None, **kwargs
    ):
        super().__init__(probability, seed, **kwargs)
        self.max_change = check_number("max_change", max_change, 0, 1, low_open=True)

    def change(self, images):
        amount = self.uniform(images, -self.max_change, self.max_change)
        return keras.ops.clip(images + amount, 0.0, 1.0)

    def get_config(self) -> dict:
        return {**super().get_config(), "max_change": self.max_change}


@keras.saving.register_keras_serializable(package="mnist_helpers")
class RandomPixelNoise(_RandomShareLayer):
    """In training, add Gaussian noise of standard deviation ``stddev`` to every pixel of a
    share ``probability`` of the images (no clipping); at test time, nothing. Taught in 07."""

    def __init__(self, stddev: float, probability: float = 1.0, seed: int | None = None, **kwargs):
        super().__init__(probability, seed, **kwargs)
        self.stddev = check_number("stddev", stddev, 0, 1, low_open=True)

    def change(self, images):
        shape, seed = keras.ops.shape(images), self.seed_generator
        return images + keras.random.normal(shape, 0.0, self.stddev, images.dtype, seed)

    def get_config(self) -> dict:
        return {**super().get_config(), "stddev": self.stddev}


def appearance_augmentation_layers(seed: int | None = None) -> list[keras.layers.Layer]:
    """The course's default augmentation: a thinner or thicker pen, a lighter or darker paper
    for half of the images and noise for half of them. Taught in 07."""
    share = APPEARANCE_PROBABILITY
    return [
        RandomStrokeWidth(seed=seed, name="stroke_width"),
        RandomBrightnessShift(BRIGHTNESS_CHANGE, share, seed=seed, name="brightness"),
        RandomPixelNoise(PIXEL_NOISE, share, seed=seed, name="noise"),
    ]


@keras.saving.register_keras_serializable(package="mnist_helpers")
class RandomAffine(_TrainingOnlyLayer):
    """In training, turn each image by up to ``degrees``, slant it by up to ``shear`` (each
    row moves sideways by ``shear`` times its height above the centre), zoom it by up to
    ``zoom`` (a share) and shift it by up to ``shift`` (a share of its size), all at once:
    one resampling, so a stroke is moved once and not three times. ``interpolation``:
    ``"nearest"`` (every new pixel is an old one's value) or ``"bilinear"``. At test time,
    pass images through. Taught in 08."""

    def __init__(
        self,
        degrees: float = 10.0,
        shear: float = 0.2,
        zoom: float = 0.1,
        shift: float = 0.1,
        interpolation: str = "nearest",
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(seed, **kwargs)
        check_choice("interpolation", interpolation, ("nearest", "bilinear"), "e.g. 'nearest'")
        self.degrees = check_number("degrees", degrees, 0, 45)
        self.shear = check_number("shear", shear, 0, 0.5)
        self.zoom = check_number("zoom", zoom, 0, 0.5)
        self.shift = check_number("shift", shift, 0, 0.5)
        self.interpolation = interpolation

    def _draw(self, n, half: float):
        """``n`` numbers drawn uniformly from [-half, half)."""
        return keras.random.uniform((n,), -half, half, seed=self.seed_generator)

    def change(self, images):
        ops = keras.ops
        n, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]
        angle = self._draw(n, math.radians(self.degrees))
        slant = self._draw(n, self.shear)
        scale = 1.0 + self._draw(n, self.zoom)
        dx, dy = self._draw(n, self.shift * width), self._draw(n, self.shift * height)
        # where each output pixel (x, y) reads from: turned, slanted, then scaled by 1 / scale
        cos, sin = ops.cos(angle), ops.sin(angle)
        a, b = cos / scale, (cos * slant - sin) / scale
        c, d = sin / scale, (sin * slant + cos) / scale
        cx, cy = (width - 1) / 2, (height - 1) / 2  # about the image's centre
        zero = ops.zeros_like(angle)
        transform = ops.stack(
            [a, b, cx - a * cx - b * cy + dx, c, d, cy - c * cx - d * cy + dy, zero, zero], axis=1
        )
        return ops.image.affine_transform(
            images, transform, self.interpolation, fill_mode="constant", fill_value=0.0
        )

    def get_config(self) -> dict:
        names = ("degrees", "shear", "zoom", "shift", "interpolation")
        return {**super().get_config(), **{name: getattr(self, name) for name in names}}


def geometric_augmentation_layers(
    seed: int | None = None, interpolation: str = "nearest"
) -> keras.Sequential:
    """08's augmentation (:class:`RandomAffine`): each training image turned by up to 10
    degrees, slanted by up to 11 degrees, zoomed by up to 10 % and shifted by up to 10 %
    (2.8 pixels), in one step; areas moved in from outside are black, like MNIST's
    background. Each new pixel takes the value of the ``nearest`` old one, so strokes stay
    sharp (``"bilinear"`` averages its neighbours: a slight blur). Taught in 08."""
    affine = RandomAffine(interpolation=interpolation, seed=seed, name="affine")
    return keras.Sequential([affine], name="geometry")


#: The layers that change images in training only and pass them through at test time: ours
#: and Keras' random image layers.
TRAINING_ONLY_LAYERS = (_TrainingOnlyLayer,) + tuple(
    getattr(layers, f"Random{kind}")
    for kind in ("Rotation", "Translation", "Zoom", "Flip", "Contrast", "Brightness")
)


def _training_only(layer: keras.layers.Layer) -> bool:
    if isinstance(layer, TRAINING_ONLY_LAYERS):
        return True
    inner = layer.layers if isinstance(layer, keras.Sequential) else []
    return bool(inner) and all(map(_training_only, inner))


def inference_model(model: keras.Model) -> keras.Model:
    """``model`` without its training-only layers (:data:`TRAINING_ONLY_LAYERS`, also in
    nested ``Sequential`` models): the same weights and predictions, and for the course's
    models Keras' own layers only, so that plain Keras loads it once saved. Any other model
    comes back as it is."""
    if not isinstance(model, keras.Sequential):
        return model
    kept = [inference_model(layer) for layer in model.layers if not _training_only(layer)]
    if [id(layer) for layer in kept] == [id(layer) for layer in model.layers]:
        return model  # nothing to leave out
    image = keras.Input(model.input_shape[1:], name=model.inputs[0].name)
    return keras.Sequential([image, *kept], name=model.name)


def build_keras_example_cnn() -> keras.Model:
    """Build Keras' "Simple MNIST convnet" (Conv32-pool-Conv64-pool-Dropout-Dense), the
    reference the course's CNN must beat. Taught in 03."""
    return keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE, name="image"),
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


def build_mlp() -> keras.Model:
    """Build a multi-layer perceptron (784 -> 256 -> 128 -> 10, dropout 0.2): the baseline
    that ignores which pixels are neighbours. Taught in 03."""
    model = keras.Sequential(name="mlp")
    model.add(keras.Input(shape=INPUT_SHAPE, name="image"))
    model.add(layers.Flatten(name="flatten"))
    for i, units in enumerate((256, 128), start=1):
        model.add(layers.Dense(units, activation="relu", name=f"dense{i}"))
        model.add(layers.Dropout(0.2, name=f"dropout{i}"))
    model.add(layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities"))
    return model


#: The architectures a notebook's ``architecture`` parameter may name.
MODEL_VARIANTS: dict[str, Callable[[], keras.Model]] = {
    "cnn": build_cnn,
    # the CNN before 07: without the appearance augmentation
    "cnn_plain": lambda: build_cnn(augment_appearance=False, name="cnn_plain"),
    # 07's fixes: standardisation instead of the appearance augmentation, or after it
    "cnn_standardized": lambda: build_cnn(
        standardize=True, augment_appearance=False, name="cnn_standardized"
    ),
    "cnn_standardized_appearance": lambda: build_cnn(
        standardize=True, name="cnn_standardized_appearance"
    ),
    # four convolutions, two of them at 14 x 14, as 08 trains it
    "cnn_deep": lambda: build_cnn(
        filters=(32, 32, 64, 64),
        kernel_sizes=(5, 3, 3, 3),
        pool=(True, False, True, False),
        name="cnn_deep",
        augment_appearance=False,
    ),
    "keras_example": build_keras_example_cnn,
    "mlp": build_mlp,
}


def build_model(architecture: str, augment_geometry: bool = False) -> keras.Model:
    """Build the architecture named ``architecture`` (one of :data:`MODEL_VARIANTS`); with
    ``augment_geometry=True``, :func:`geometric_augmentation_layers` (08's shifts, turns and
    zooms) come first. Taught in 03 and 08."""
    hint = "set it in the parameters cell, e.g. architecture='cnn'"
    check_choice("architecture", architecture, MODEL_VARIANTS, hint)
    model = MODEL_VARIANTS[architecture]()
    if not augment_geometry:
        return model
    return keras.Sequential(
        [keras.Input(shape=INPUT_SHAPE, name="image"), geometric_augmentation_layers(), model],
        name=f"{model.name}_augmented",
    )


def layer_table(model: keras.Model):
    """A pandas DataFrame of each layer's name, type, output shape (without the batch axis)
    and number of parameters: a friendlier ``model.summary()``. Taught in 03."""
    import pandas as pd

    rows = [
        (layer.name, type(layer).__name__, tuple(layer.output.shape[1:]), layer.count_params())
        for layer in model.layers
    ]
    return pd.DataFrame(rows, columns=["layer", "type", "output shape", "parameters"])
