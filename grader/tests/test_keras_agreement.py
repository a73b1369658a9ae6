"""The hand-written shape and parameter formulas agree with Keras itself.

Keras builds the very dicts the students see (``from_config`` on our serialised configs), so
this also checks that the variants can be pasted into Keras.
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader.convolution import apply_kernel
from grader.layers import (
    LayerConfigError,
    chain_output_shapes,
    chain_param_counts,
    expand_layer,
    layer_output_shape,
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

pytestmark = pytest.mark.keras

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])

sizes = st.integers(min_value=1, max_value=5)
pairs = st.tuples(sizes, sizes).map(list)
strides = st.tuples(st.integers(1, 3), st.integers(1, 3)).map(list)
paddings = st.sampled_from(["valid", "same"])

conv_layers = st.builds(
    lambda filters, kernel, stride, padding: {"class_name": "Conv2D", "config": {
        "filters": filters, "kernel_size": kernel, "strides": stride, "padding": padding}},
    st.integers(1, 6), pairs, strides, paddings)
zero_pad_layers = st.builds(
    lambda top, bottom, left, right: {"class_name": "ZeroPadding2D",
                                      "config": {"padding": [[top, bottom], [left, right]]}},
    *[st.integers(0, 3)] * 4)
pool_layers = st.builds(
    lambda name, pool, stride, padding: {"class_name": name, "config": {
        "pool_size": pool, "strides": stride, "padding": padding}},
    st.sampled_from(["MaxPooling2D", "AveragePooling2D"]), st.tuples(st.integers(1, 4),
                                                                     st.integers(1, 4)).map(list),
    st.none() | strides, paddings)
image_layers = st.one_of(conv_layers, zero_pad_layers, pool_layers)
heads = st.sampled_from([
    [],
    [{"class_name": "Flatten", "config": {}}],
    [{"class_name": "Flatten", "config": {}}, {"class_name": "Dense", "config": {"units": 7}}],
    [{"class_name": "GlobalAveragePooling2D", "config": {}}],
    [{"class_name": "GlobalAveragePooling2D", "config": {}},
     {"class_name": "Dense", "config": {"units": 3}}],
    [{"class_name": "Dense", "config": {"units": 5}}],
])
input_shapes = st.tuples(st.integers(1, 24), st.integers(1, 24), st.integers(1, 4))
# Now and then an image layer after the head, which Keras refuses on a vector.
chains = st.tuples(input_shapes, st.lists(image_layers, min_size=1, max_size=4), heads,
                   st.integers(0, 5), image_layers).map(
    lambda drawn: (drawn[0], drawn[1] + drawn[2] + ([drawn[4]] if drawn[3] == 0 else [])))


def keras_layer(layer):
    config = dict(layer["config"])
    if layer["class_name"] == "ZeroPadding2D":
        config["padding"] = tuple(tuple(side) for side in config["padding"])
    return getattr(keras.layers, layer["class_name"]).from_config(config)


def keras_shapes(input_shape, layers):
    """Shapes after each layer, from a symbolic Keras graph; None where Keras refuses."""
    tensor = keras.Input(shape=input_shape)
    shapes = []
    for layer in layers:
        try:
            tensor = keras_layer(layer)(tensor)
        except (ValueError, TypeError, IndexError):
            return shapes, None
        shape = tuple(tensor.shape[1:])
        shapes.append(shape)
        if min(shape) <= 0:
            return shapes, None
    return shapes, tensor


@settings(max_examples=300, **SETTINGS)
@given(chains)
def test_chain_shapes_agree_with_keras(chain):
    input_shape, layers = chain
    theirs, tensor = keras_shapes(input_shape, layers)
    try:
        ours = chain_output_shapes(input_shape, layers)
    except LayerConfigError:
        # Whatever we call impossible, Keras refuses or gives an empty dimension.
        assert tensor is None
        return
    assert tensor is not None, (input_shape, layers)
    assert ours == theirs


@settings(max_examples=200, **SETTINGS)
@given(input_shapes, image_layers)
def test_single_layer_shape_agrees_with_compute_output_shape(input_shape, layer):
    try:
        ours = layer_output_shape(input_shape, layer)
    except LayerConfigError:
        try:
            shape = keras_layer(layer).compute_output_shape((None, *input_shape))
        except ValueError:
            return
        assert min(shape[1:]) <= 0, (input_shape, layer, shape)
        return
    assert keras_layer(layer).compute_output_shape((None, *input_shape))[1:] == ours
    # The expanded form the students see builds the same layer.
    assert keras_layer(expand_layer(layer)).compute_output_shape((None, *input_shape))[1:] == ours


@settings(max_examples=120, **SETTINGS)
@given(chains)
def test_param_counts_agree_with_keras(chain):
    input_shape, layers = chain
    try:
        ours = chain_param_counts(input_shape, layers)
    except LayerConfigError:
        return
    inputs = keras.Input(shape=input_shape)
    tensor = inputs
    built = []
    for layer in layers:
        built.append(keras_layer(layer))
        tensor = built[-1](tensor)
    model = keras.Model(inputs, tensor)
    assert [layer.count_params() for layer in built] == ours
    assert model.count_params() == sum(ours)


def test_the_decks_cases_agree_with_keras():
    layers = [{"class_name": "ZeroPadding2D", "config": {"padding": [[1, 1], [1, 1]]}},
              {"class_name": "Conv2D", "config": {"filters": 1, "kernel_size": [3, 3],
                                                   "strides": [1, 1], "padding": "valid"}}]
    assert keras_shapes((5, 5, 1), layers)[0] == chain_output_shapes((5, 5, 1), layers)
    # 12 Mpx into Dense(100): Keras' own count, without allocating 3.6e9 weights.
    dense = keras.layers.Dense(100)
    dense.build((None, 36_000_000 // 10_000))
    assert dense.count_params() == (3600 + 1) * 100
    assert chain_param_counts((4000, 3000, 3), [
        {"class_name": "Flatten", "config": {}},
        {"class_name": "Dense", "config": {"units": 100}}])[1] == (36_000_000 + 1) * 100


@settings(max_examples=100, **SETTINGS)
@given(st.integers(3, 16), st.integers(3, 16), st.integers(1, 4), st.integers(1, 4), paddings,
       st.integers(0, 2**32 - 1))
def test_apply_kernel_agrees_with_keras_conv2d(height, width, rows, cols, padding, seed):
    rng = np.random.default_rng(seed)
    if padding == "valid" and (rows > height or cols > width):
        return
    image = rng.integers(0, 256, size=(height, width)).astype(np.float64)
    kernel = rng.normal(size=(rows, cols))
    layer = keras.layers.Conv2D(1, (rows, cols), padding=padding, use_bias=False)
    layer.build((None, height, width, 1))
    layer.set_weights([kernel[:, :, None, None].astype(np.float32)])
    batch = image[None, :, :, None].astype(np.float32)
    theirs = keras.ops.convert_to_numpy(layer(batch))[0, :, :, 0]
    ours = apply_kernel(image, kernel, padding)
    assert ours.shape == theirs.shape
    assert np.allclose(ours, theirs, rtol=1e-4, atol=1e-2)
