import pytest

from grader.layers import (
    LayerConfigError,
    chain_output_shapes,
    chain_param_counts,
    describe_layer,
    expand_layer,
    explain_output_shape,
    explain_param_count,
    layer_output_shape,
    layer_param_count,
    validate_layers,
)
from grader.result import ParamsError

from .layers_helpers import avg_pool, conv, dense, flatten, gap, max_pool, zero_pad

# ----------------------------------------------------------------------------- shapes

def test_the_decks_7x7_padded_example():
    # A 5x5 image padded by 1 (7x7), then a 3x3 kernel with stride 1: back to 5x5.
    assert chain_output_shapes((5, 5, 1), [zero_pad(1), conv(1, 3)]) == [(7, 7, 1), (5, 5, 1)]


@pytest.mark.parametrize("input_shape, layer, expected", [
    ((32, 32, 3), conv(16, 5, 2), (14, 14, 16)),               # floor((32-5)/2)+1
    ((32, 32, 3), conv(16, 5, 2, "same"), (16, 16, 16)),       # ceil(32/2)
    ((15, 15, 1), conv(8, 3, 2, "same"), (8, 8, 8)),           # ceil(7.5)
    ((28, 20, 1), conv(4, [3, 5], [1, 2]), (26, 8, 4)),        # per axis
    ((5, 5, 1), conv(1, 5), (1, 1, 1)),                        # kernel as large as input
    ((2, 2, 1), conv(1, 5, padding="same"), (2, 2, 1)),        # 'same' pads whatever it takes
    ((5, 5, 3), zero_pad([[1, 2], [3, 4]]), (8, 12, 3)),
    ((5, 5, 3), zero_pad([1, 2]), (7, 9, 3)),
    ((5, 5, 3), zero_pad(0), (5, 5, 3)),
    ((7, 7, 4), max_pool(2), (3, 3, 4)),
    ((7, 7, 4), max_pool(2, padding="same"), (4, 4, 4)),
    ((7, 7, 4), max_pool(3, 1), (5, 5, 4)),
    ((7, 7, 4), avg_pool(2, 3), (2, 2, 4)),
    ((2, 2, 1), max_pool(3, padding="same"), (1, 1, 1)),
    ((4000, 3000, 3), flatten(), (36_000_000,)),
    ((10,), flatten(), (10,)),
    ((7, 7, 64), gap(), (64,)),
    ((1600,), dense(10), (10,)),
    ((7, 7, 64), dense(10), (7, 7, 10)),                       # Dense acts on the last axis
])
def test_layer_output_shape(input_shape, layer, expected):
    assert layer_output_shape(input_shape, layer) == expected
    assert layer_output_shape(input_shape=list(input_shape), layer=layer) == expected


def test_224_chain():
    layers = [conv(32, 3, padding="same"), max_pool(2), conv(64, 3), max_pool(2),
              conv(128, 3, 2), max_pool(2), flatten(), dense(10)]
    assert chain_output_shapes((224, 224, 3), layers) == [
        (224, 224, 32), (112, 112, 32), (110, 110, 64), (55, 55, 64), (27, 27, 128),
        (13, 13, 128), (21632,), (10,)]


@pytest.mark.parametrize("input_shape, layer", [
    ((5, 5, 1), conv(1, 7)),                      # kernel larger than the input, no padding
    ((5, 6, 1), conv(1, [3, 7])),
    ((2, 2, 1), max_pool(3)),
    ((100,), conv(4, 3)),                         # Conv2D on a vector
    ((28, 28), conv(4, 3)),
    ((28, 28), max_pool(2)),
    ((100,), gap()),
    ((100,), zero_pad(1)),
    ((8, 8, 1), {"class_name": "Conv3D", "config": {}}),
    ((8, 8, 1), conv(0, 3)),
    ((8, 8, 1), conv(4, 0)),
    ((8, 8, 1), conv(4, 3, 0)),
    ((8, 8, 1), conv(4, 3.0)),
    ((8, 8, 1), conv(True, 3)),
    ((8, 8, 1), conv(4, [3, 3, 3])),
    ((8, 8, 1), conv(4, 3, padding="full")),
    ((8, 8, 1), conv(4, "3")),
    ((8, 8, 1), {"class_name": "Conv2D", "config": {"kernel_size": 3}}),
    ((8, 8, 1), {"class_name": "Conv2D", "config": {"filters": 3, "kernel_size": 3,
                                                     "dilation_rate": 2}}),
    ((8, 8, 1), {"class_name": "Conv2D", "config": {"filters": 3, "kernel_size": 3,
                                                     "use_bias": False}}),
    ((8, 8, 1), {"class_name": "Conv2D", "config": {"filters": 3, "kernel_size": 3,
                                                     "data_format": "channels_first"}}),
    ((8, 8, 1), {"class_name": "Conv2D", "config": {"filters": 3, "kernel_size": 3,
                                                     "colour": 1}}),
    ((8, 8, 1), {"class_name": "Dense", "config": {}}),
    ((8, 8, 1), zero_pad(-1)),
    ((8, 8, 1), zero_pad([[1, 2, 3], [1, 2]])),
    ((8, 8, 1), {"config": {}}),
    ((8, 8, 1), "Conv2D"),
    ((8, 8, 1), {"class_name": "Flatten", "config": []}),
    ((8, 8, 1), {"class_name": "GlobalAveragePooling2D", "config": {"keepdims": True}}),
    ((0, 8, 1), flatten()),
    ((), flatten()),
    ((8, 8.0, 1), flatten()),
])
def test_impossible_layers_raise_layer_config_error(input_shape, layer):
    with pytest.raises(LayerConfigError) as caught:
        layer_output_shape(input_shape, layer)
    assert isinstance(caught.value, ParamsError)
    assert caught.value.message["fr"] and caught.value.message["en"]


def test_harmless_keras_keys_are_ignored():
    layer = {"class_name": "Conv2D", "config": {
        "filters": 8, "kernel_size": [3, 3], "activation": "relu", "name": "conv_1",
        "use_bias": True, "dilation_rate": [1, 1], "data_format": "channels_last"}}
    assert layer_output_shape((10, 10, 1), layer) == (8, 8, 8)


def test_chain_error_names_the_layer():
    with pytest.raises(LayerConfigError) as caught:
        chain_output_shapes((8, 8, 1), [conv(4, 3), max_pool(2), conv(4, 5)])
    assert caught.value.message["fr"].startswith("Couche 3")
    assert caught.value.message["en"].startswith("Layer 3")


def test_validate_layers():
    validate_layers((8, 8, 1), [conv(4, 3)])
    with pytest.raises(LayerConfigError):
        validate_layers((8, 8, 1), [])
    with pytest.raises(LayerConfigError):
        validate_layers((8, 8, 1), [conv(4, 3), flatten(), conv(4, 3)])


def test_expand_layer_writes_every_value_out():
    assert expand_layer(conv(8, 3)) == {"class_name": "Conv2D", "config": {
        "filters": 8, "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid"}}
    assert expand_layer({"class_name": "MaxPooling2D", "config": {"pool_size": 3}}) == {
        "class_name": "MaxPooling2D",
        "config": {"pool_size": [3, 3], "strides": [3, 3], "padding": "valid"}}
    assert expand_layer(zero_pad(2))["config"] == {"padding": [[2, 2], [2, 2]]}
    assert expand_layer({"class_name": "Flatten"}) == {"class_name": "Flatten", "config": {}}
    assert describe_layer(conv(8, 3, 2, "same")) == \
        "Conv2D(8, kernel_size=3, strides=2, padding='same')"


# ----------------------------------------------------------------------------- parameters

@pytest.mark.parametrize("input_shape, layer, expected", [
    ((32, 32, 3), conv(16, 3), 448),                 # ((3*3*3)+1)*16
    ((32, 32, 16), conv(32, 5, 2, "same"), 12832),   # ((5*5*16)+1)*32
    ((32, 32, 3), conv(4, [1, 3]), 40),              # ((1*3*3)+1)*4
    ((36_000_000,), dense(100), 3_600_000_100),      # the deck's 12 Mpx question
    ((7, 7, 64), dense(10), 650),                    # Dense on the last axis only
    ((7, 7, 64), max_pool(2), 0),
    ((7, 7, 64), avg_pool(2), 0),
    ((7, 7, 64), zero_pad(1), 0),
    ((7, 7, 64), flatten(), 0),
    ((7, 7, 64), gap(), 0),
])
def test_layer_param_count(input_shape, layer, expected):
    assert layer_param_count(input_shape, layer) == expected


def test_12_mpx_image_into_dense_100():
    counts = chain_param_counts((4000, 3000, 3), [flatten(), dense(100)])
    assert counts == [0, 3_600_000_100]


def test_small_model_counts():
    layers = [conv(16, 3, padding="same"), max_pool(2), conv(32, 3), max_pool(2), flatten(),
              dense(10)]
    assert chain_param_counts((32, 32, 3), layers) == [448, 0, 4640, 0, 0, 15690]


def test_param_count_refuses_impossible_layers():
    with pytest.raises(LayerConfigError):
        layer_param_count((5, 5, 1), conv(1, 7))
    with pytest.raises(LayerConfigError):
        chain_param_counts((5, 5, 1), [flatten(), conv(1, 1)])


# ----------------------------------------------------------------------------- explanations

def test_explain_valid_conv():
    text = explain_output_shape((32, 32, 3), conv(16, 5, 2))
    assert "O = floor((I - K + 2P)/S) + 1 = floor((32 - 5 + 2×0)/2) + 1 = 14" in text["fr"]
    assert "O = floor((I - K + 2P)/S) + 1 = floor((32 - 5 + 2×0)/2) + 1 = 14" in text["en"]
    assert "16" in text["fr"] and "(14, 14, 16)" in text["en"]


def test_explain_same_conv_per_axis():
    text = explain_output_shape((32, 30, 3), conv(16, 3, 2, "same"))
    assert "O = ceil(I/S) = ceil(32/2) = 16" in text["fr"]
    assert "O = ceil(I/S) = ceil(30/2) = 15" in text["en"]
    assert "(16, 15, 16)" in text["en"]


def test_explain_zero_padding_and_pooling_and_flatten():
    assert "O = I + 2P = 5 + 2×1 = 7" in explain_output_shape((5, 5, 1), zero_pad(1))["fr"]
    assert "5 + 1 + 2 = 8" in explain_output_shape((5, 5, 1), zero_pad([[1, 2], [1, 1]]))["en"]
    assert "floor((7 - 2 + 2×0)/2) + 1 = 3" in explain_output_shape((7, 7, 4), max_pool(2))["fr"]
    flat = explain_output_shape((4000, 3000, 3), flatten())
    assert "4000 × 3000 × 3 = 36\u202f000\u202f000" in flat["fr"]
    assert "36,000,000" in flat["en"]
    assert "(64,)" in explain_output_shape((7, 7, 64), gap())["en"]
    assert "Flatten" in explain_output_shape((7, 7, 64), dense(10))["fr"]


def test_explain_param_counts():
    text = explain_param_count((32, 32, 3), conv(16, 3))
    assert "((m×n×d)+1)×k = ((3×3×3)+1)×16 = 448" in text["fr"]
    assert "((m×n×d)+1)×k = ((3×3×3)+1)×16 = 448" in text["en"]
    text = explain_param_count((36_000_000,), dense(100))
    assert "(n_in+1)×n_out" in text["fr"] and "3\u202f600\u202f000\u202f100" in text["fr"]
    assert "3,600,000,100" in text["en"] and "3,600,000,000" in text["en"]
    assert "biais" in text["fr"] and "bias" in text["en"]
    assert explain_param_count((8, 8, 1), max_pool(2))["fr"].startswith("0 paramètre")


def test_explanations_refuse_impossible_layers():
    with pytest.raises(LayerConfigError):
        explain_output_shape((5, 5, 1), conv(1, 7))
    with pytest.raises(LayerConfigError):
        explain_param_count((5,), conv(1, 1))
