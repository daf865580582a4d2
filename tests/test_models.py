"""Tests of mnist_helpers.models: shapes, parameter counts, clear errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mnist_helpers.models import (
    MODEL_VARIANTS,
    build_cnn,
    build_keras_example_cnn,
    build_mlp,
    build_model,
    inference_model,
    layer_table,
)


def keras_layer_types(model) -> list[type]:
    """The type of every layer of ``model``, nested models' layers included."""
    found = [type(layer) for layer in model.layers]
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += keras_layer_types(layer)
    return found


@pytest.mark.parametrize("architecture", sorted(MODEL_VARIANTS))
def test_every_architecture_maps_digits_to_probabilities_and_predicts_with_keras_layers_only(
    architecture,
):
    """The run's saved file is the inference model: plain Keras must be able to load it."""
    model = build_model(
        architecture, augment_geometry=True
    )  # 08's shifts and turns, then the model
    images = np.random.default_rng(0).random((3, 28, 28, 1)).astype("float32")
    probabilities = np.asarray(model(images, training=False))  # Keras' layers: random by default
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    plain = inference_model(model)
    modules = {t.__module__ for t in keras_layer_types(plain)}
    assert all(m.startswith("keras.") for m in modules), modules
    assert plain.count_params() == model.count_params()
    np.testing.assert_allclose(np.asarray(plain(images)), probabilities, atol=1e-6)
    assert inference_model(plain) is plain  # nothing left to leave out


def test_keras_example_has_the_published_parameter_count():
    # Keras' "Simple MNIST convnet" example reports 34,826 parameters.
    assert build_keras_example_cnn().count_params() == 34_826


def test_default_cnn_parameter_count_and_layers():
    model = build_cnn()
    assert model.count_params() == 217_050
    names = [layer.name for layer in model.layers]
    # appearance augmentation, active in training only (07)
    assert names[:3] == ["stroke_width", "brightness", "noise"]
    names = names[3:]
    # pooling comes before batch norm and ReLU: they then work on a quarter of the numbers
    assert names[:4] == ["conv1", "pool1", "bn1", "relu1"]
    assert names[8:11] == ["conv3", "bn3", "relu3"]  # the last block does not pool
    assert names[-1] == "probabilities"
    # batch norm follows every convolution, so the convolutions carry no bias
    assert model.get_layer("conv1").get_weights()[0].shape == (5, 5, 1, 16)
    assert len(model.get_layer("conv1").get_weights()) == 1
    assert model.get_layer("relu1").output.shape[1:] == (14, 14, 16)


def test_without_07s_additions_the_cnn_starts_with_its_first_block_and_keeps_its_size():
    plain = build_model("cnn_plain")
    assert [layer.name for layer in plain.layers][:2] == ["conv1", "pool1"]
    assert plain.count_params() == build_cnn().count_params()  # the additions learn nothing
    standardized = build_model("cnn_standardized")
    assert [layer.name for layer in standardized.layers][:2] == ["standardize", "conv1"]
    assert standardized.count_params() == plain.count_params()
    # 07's ensemble partner: the default's augmentation, then standardisation
    partner = build_model("cnn_standardized_appearance")
    assert [layer.name for layer in partner.layers][:5] == [
        "stroke_width",
        "brightness",
        "noise",
        "standardize",
        "conv1",
    ]
    assert partner.count_params() == plain.count_params()


def test_pool_last_moves_pooling_to_the_end_of_each_block_and_keeps_the_parameters():
    first, last = build_cnn(), build_cnn(pool_last=True)
    names = [layer.name for layer in last.layers][3:]
    assert names[:4] == ["conv1", "bn1", "relu1", "pool1"]
    assert names[8:11] == ["conv3", "bn3", "relu3"]  # the last block still does not pool
    assert last.count_params() == first.count_params()
    assert last.get_layer("bn1").output.shape[1:] == (28, 28, 16)  # 4x the numbers to normalise


def test_deep_cnn_has_four_convolutions_two_of_them_at_14_by_14():
    model = build_model("cnn_deep")
    assert model.name == "cnn_deep"
    assert model.count_params() == 469_290
    assert [model.get_layer(f"conv{i}").filters for i in (1, 2, 3, 4)] == [32, 32, 64, 64]
    sizes = [model.get_layer(f"conv{i}").output.shape[1] for i in (1, 2, 3, 4)]
    assert sizes == [28, 14, 14, 7]


def test_cnn_is_configurable():
    model = build_cnn(
        filters=(8, 16),
        kernel_sizes=(3, 3),
        pool=(True, True),
        dense_units=None,
        dropout=0.0,
        batch_norm=False,
    )
    types = [type(layer).__name__ for layer in model.layers]
    assert "BatchNormalization" not in types and "Dropout" not in types
    # conv1: 3*3*1*8+8, conv2: 3*3*8*16+16, dense: 7*7*16*10+10
    assert model.count_params() == 80 + 1168 + 7850


def test_mlp_parameter_count():
    assert build_mlp().count_params() == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10


def test_unknown_variant_names_the_allowed_ones():
    allowed = (
        r"architecture must be one of \['cnn', 'cnn_plain', 'cnn_standardized', "
        r"'cnn_standardized_appearance', 'cnn_deep', 'keras_example', 'mlp'\], got 'resnet'"
    )
    with pytest.raises(ValueError, match=allowed):
        build_model("resnet")


def test_mismatched_block_settings_are_refused():
    with pytest.raises(ValueError, match="one entry per block"):
        build_cnn(filters=(8, 16), kernel_sizes=(3,), pool=(True, True))
    with pytest.raises(ValueError, match="dropout"):
        build_cnn(dropout=1.5)


def test_layer_table_lists_shapes_and_parameters():
    model = build_keras_example_cnn()
    table = layer_table(model)
    assert list(table.columns) == ["layer", "type", "output shape", "parameters"]
    assert table.loc[0, "output shape"] == (26, 26, 32)
    assert table["parameters"].sum() == model.count_params()


def test_augmented_model_has_the_same_parameters_and_is_idle_at_inference():
    from mnist_helpers.models import geometric_augmentation_layers

    plain = build_model("keras_example")
    augmented = build_model("keras_example", augment_geometry=True)
    assert augmented.count_params() == plain.count_params()
    assert augmented.layers[0].name == "geometry"
    images = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    augment = geometric_augmentation_layers(seed=1)
    np.testing.assert_array_equal(np.asarray(augment(images, training=False)), images)
    changed = np.asarray(augment(images, training=True))
    assert changed.shape == images.shape and not np.allclose(changed, images)


def test_augmentation_moves_whole_pixels_by_default_and_blurs_only_if_asked():
    """``nearest`` keeps the strokes sharp: every new pixel is an old one's value (or the black
    moved in from outside); ``bilinear`` mixes neighbours into new grey levels."""
    from mnist_helpers.models import geometric_augmentation_layers

    images = np.zeros((8, 28, 28, 1), dtype="float32")
    images[:, 8:20, 12:16] = 1.0  # a white bar: only 0 and 1 before
    sharp = np.asarray(geometric_augmentation_layers(seed=3)(images, training=True))
    assert set(np.unique(sharp)) <= {0.0, 1.0} and not np.array_equal(sharp, images)
    soft = np.asarray(
        geometric_augmentation_layers(seed=3, interpolation="bilinear")(images, training=True)
    )
    assert ((soft > 0.01) & (soft < 0.99)).any()
    with pytest.raises(ValueError, match=r"interpolation must be one of \['nearest', 'bilinear'\]"):
        geometric_augmentation_layers(interpolation="cubic")


def slant(image: np.ndarray) -> float:
    """How far a bar's columns move per row (least squares of the lit pixels' columns)."""
    rows, columns = np.nonzero(image[..., 0] > 0.5)
    return float(np.polyfit(rows, columns, 1)[0])


def test_random_affine_slants_by_at_most_its_shear_and_draws_both_directions():
    """Only a slant (no turn, zoom or shift): a vertical bar leans by at most ``shear``
    columns per row, to the left for some images and to the right for others."""
    from mnist_helpers.models import RandomAffine

    bars = np.zeros((64, 28, 28, 1), dtype="float32")
    bars[:, 4:24, 13:15] = 1.0
    only_slant = RandomAffine(degrees=0, shear=0.2, zoom=0, shift=0, seed=5)
    leans = np.array([slant(image) for image in np.asarray(only_slant(bars, training=True))])
    assert np.abs(leans).max() <= 0.2 + 0.03  # nearest pixels: a little over, at most
    assert (leans < -0.05).any() and (leans > 0.05).any()
    np.testing.assert_array_equal(np.asarray(only_slant(bars, training=False)), bars)


def test_random_affine_is_reproducible_and_survives_saving(tmp_path):
    from mnist_helpers.models import RandomAffine

    images = bar_images(6)
    first = RandomAffine(seed=7)(images, training=True)
    np.testing.assert_array_equal(np.asarray(first), RandomAffine(seed=7)(images, training=True))
    model = keras.Sequential([keras.Input((28, 28, 1)), RandomAffine(shear=0.1, seed=7)])
    model.save(tmp_path / "affine.keras")
    loaded = keras.models.load_model(tmp_path / "affine.keras").layers[0]
    assert (loaded.shear, loaded.degrees, loaded.interpolation) == (0.1, 10.0, "nearest")


@pytest.mark.parametrize(
    ("setting", "message"),
    [({"degrees": 90}, r"degrees must be .*45"), ({"shear": -0.1}, r"shear must be .*0\.5")],
)
def test_random_affine_refuses_changes_too_large_to_keep_the_label(setting, message):
    from mnist_helpers.models import RandomAffine

    with pytest.raises(ValueError, match=message):
        RandomAffine(**setting)


def test_standardize_layer_gives_each_image_mean_0_and_std_1_and_ignores_brightness():
    from mnist_helpers.models import standardize_layer

    rng = np.random.default_rng(0)
    images = (rng.random((3, 28, 28, 1)) * [[[[0.6]]], [[[1.0]]], [[[0.8]]]]).astype("float32")
    out = np.asarray(standardize_layer()(images))
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), 0, atol=1e-4)
    # not exactly 1: a small epsilon is added to the variance (a blank image must not blow up)
    np.testing.assert_allclose(out.std(axis=(1, 2, 3)), 1, atol=0.03)
    brighter = np.asarray(standardize_layer()(images + 0.3))
    np.testing.assert_allclose(brighter, out, atol=1e-4)


def bar_images(n: int = 400) -> np.ndarray:
    """n copies of a white bar 8 px tall and 3 px wide on black."""
    images = np.zeros((n, 28, 28, 1), dtype="float32")
    images[:, 10:18, 12:15] = 1.0
    return images


def test_random_stroke_width_thins_a_quarter_thickens_a_quarter_and_idles_at_test_time():
    from mnist_helpers.models import RandomStrokeWidth

    images = bar_images()
    layer = RandomStrokeWidth(seed=3)
    np.testing.assert_array_equal(np.asarray(layer(images)), images)  # inference: unchanged
    ink = np.asarray(layer(images, training=True)).sum(axis=(1, 2, 3))
    # thin: 2x2 erosion leaves 7 x 2 pixels; thick: 3x3 dilation makes 10 x 5
    assert set(np.unique(ink)) == {14.0, 24.0, 50.0}
    for area, share in ((14.0, 0.25), (50.0, 0.25), (24.0, 0.5)):
        assert abs(np.mean(ink == area) - share) < 0.08, (area, np.mean(ink == area))


def test_random_stroke_width_is_reproducible_with_a_seed():
    from mnist_helpers.models import RandomStrokeWidth

    images = bar_images(50)
    first = np.asarray(RandomStrokeWidth(seed=5)(images, training=True))
    again = np.asarray(RandomStrokeWidth(seed=5)(images, training=True))
    other = np.asarray(RandomStrokeWidth(seed=6)(images, training=True))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_appearance_augmentation_changes_training_images_only():
    from mnist_helpers.models import appearance_augmentation_layers

    images = bar_images(8)
    for layer in appearance_augmentation_layers(seed=1):
        np.testing.assert_array_equal(np.asarray(layer(images)), images)
        np.testing.assert_array_equal(np.asarray(layer(images, training=False)), images)
        changed = np.asarray(layer(images, training=True))
        assert changed.shape == images.shape and not np.allclose(changed, images), layer.name


def test_the_default_cnn_saves_and_loads_in_safe_mode(tmp_path):
    from mnist_helpers.model_file import load_model_safely

    model = build_cnn()
    images = bar_images(4)
    # a plain call (no training=) must not augment: twice the same answer
    np.testing.assert_array_equal(np.asarray(model(images)), np.asarray(model(images)))
    model.save(tmp_path / "model.keras")
    loaded = load_model_safely(tmp_path / "model.keras")
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    np.testing.assert_allclose(np.asarray(loaded(images)), np.asarray(model(images)), atol=1e-6)


def test_random_brightness_shift_moves_each_image_by_one_amount_and_clips():
    from mnist_helpers.models import RandomBrightnessShift

    images = np.full((200, 28, 28, 1), 0.5, dtype="float32")
    images[:, 0, 0] = 1.0  # full ink: can only stay or darken
    out = np.asarray(RandomBrightnessShift(0.3, seed=2)(images, training=True))
    change = out[:, 5, 5, 0] - 0.5
    assert np.abs(change).max() <= 0.3 + 1e-6 and change.min() < -0.2 and change.max() > 0.2
    same_shift = np.broadcast_to(0.5 + change[:, None, None], (200, 27, 27))
    np.testing.assert_allclose(out[:, 1:, 1:, 0], same_shift, atol=1e-6)
    assert out.max() <= 1.0 and out.min() >= 0.0
    with pytest.raises(ValueError, match="max_change must be a number in"):
        RandomBrightnessShift(0)


def test_pixel_noise_and_brightness_change_about_the_share_of_images_they_are_given():
    from mnist_helpers.models import RandomBrightnessShift, RandomPixelNoise

    images = np.full((400, 28, 28, 1), 0.5, dtype="float32")
    for layer in (
        RandomPixelNoise(0.1, probability=0.5, seed=3),
        RandomBrightnessShift(0.3, 0.5, seed=3),
    ):
        out = np.asarray(layer(images, training=True))
        changed = np.abs(out - images).max(axis=(1, 2, 3)) > 0
        assert 0.4 < changed.mean() < 0.6, (layer.name, changed.mean())
        np.testing.assert_array_equal(out[~changed], images[~changed])  # the rest untouched
        np.testing.assert_array_equal(np.asarray(layer(images)), images)  # test time: nothing
    noisy = np.asarray(RandomPixelNoise(0.1, seed=4)(images, training=True))
    assert abs(float((noisy - images).std()) - 0.1) < 0.005  # probability 1: every pixel
    again = np.asarray(RandomPixelNoise(0.1, seed=4)(images, training=True))
    np.testing.assert_array_equal(noisy, again)  # the seed decides


@pytest.mark.parametrize("probability", [0, 1.5, True, "half"])
def test_appearance_layers_reject_a_probability_outside_0_1(probability):
    from mnist_helpers.models import RandomBrightnessShift, RandomPixelNoise

    with pytest.raises(ValueError, match="probability must be"):
        RandomPixelNoise(0.1, probability=probability)
    with pytest.raises(ValueError, match="probability must be"):
        RandomBrightnessShift(0.3, probability=probability)
    with pytest.raises(ValueError, match="stddev must be a number in"):
        RandomPixelNoise(0)
