"""Tests of mnist_helpers.models: shapes, parameter counts, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_helpers.models import (
    MODEL_VARIANTS,
    build_cnn,
    build_keras_example_cnn,
    build_mlp,
    build_model,
    layer_table,
)


@pytest.mark.parametrize("variant", sorted(MODEL_VARIANTS))
def test_every_variant_maps_a_batch_of_digits_to_probabilities(variant):
    model = build_model(variant)
    probabilities = np.asarray(model(np.zeros((3, 28, 28, 1), dtype="float32")))
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_keras_example_has_the_published_parameter_count():
    # Keras' "Simple MNIST convnet" example reports 34,826 parameters.
    assert build_keras_example_cnn().count_params() == 34_826


def test_default_cnn_parameter_count_and_layers():
    model = build_cnn()
    assert model.count_params() == 217_050
    names = [layer.name for layer in model.layers]
    # pooling comes before batch norm and ReLU: they then work on a quarter of the numbers
    assert names[:4] == ["conv1", "pool1", "bn1", "relu1"]
    assert names[8:11] == ["conv3", "bn3", "relu3"]  # the last block does not pool
    assert names[-1] == "probabilities"
    # batch norm follows every convolution, so the convolutions carry no bias
    assert model.get_layer("conv1").get_weights()[0].shape == (5, 5, 1, 16)
    assert len(model.get_layer("conv1").get_weights()) == 1
    assert model.get_layer("relu1").output.shape[1:] == (14, 14, 16)


def test_pool_last_moves_pooling_to_the_end_of_each_block_and_keeps_the_parameters():
    first, last = build_cnn(), build_cnn(pool_last=True)
    names = [layer.name for layer in last.layers]
    assert names[:4] == ["conv1", "bn1", "relu1", "pool1"]
    assert names[8:11] == ["conv3", "bn3", "relu3"]  # the last block still does not pool
    assert last.count_params() == first.count_params()
    assert last.get_layer("bn1").output.shape[1:] == (28, 28, 16)  # 4x the numbers to normalise


def test_wide_cnn_has_one_and_a_half_times_the_filters():
    model = build_model("cnn_wide")
    assert model.name == "cnn_wide"
    assert model.count_params() == 335_042
    assert [model.get_layer(f"conv{i}").filters for i in (1, 2, 3)] == [24, 48, 48]


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
    allowed = r"model must be one of 'cnn', 'cnn_wide', 'keras_example', 'mlp'"
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
    from mnist_helpers.models import augmentation_layers

    plain = build_model("keras_example")
    augmented = build_model("keras_example", augment=True)
    assert augmented.count_params() == plain.count_params()
    assert augmented.layers[0].name == "augment"
    images = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    augment = augmentation_layers(seed=1)
    np.testing.assert_array_equal(np.asarray(augment(images, training=False)), images)
    changed = np.asarray(augment(images, training=True))
    assert changed.shape == images.shape and not np.allclose(changed, images)
