"""Static intake checks of uploaded .keras files, on real files made in the tests.

Hand-written archives need no TensorFlow; the tests marked ``keras`` save real models.
"""
from __future__ import annotations

import copy
import json
import os
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader.backbone import BACKBONE_PATH
from grader.intake import (
    HDF5_SIGNATURE,
    MAX_PARAMS,
    IntakeError,
    IntakeReport,
    check_model_file,
    layer_estimate,
)

from .strategies import json_like

MAX_BYTES = 20 * 2**20
FAKE_WEIGHTS = HDF5_SIGNATURE + bytes(200)
DTYPE = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
         "registered_name": None}
GLOROT = {"module": "keras.initializers", "class_name": "GlorotUniform",
          "config": {"seed": None}, "registered_name": None}
ZEROS = {"module": "keras.initializers", "class_name": "Zeros", "config": {},
         "registered_name": None}


def layer(class_name, name, build=None, **config):
    entry = {"module": "keras.layers", "class_name": class_name,
             "config": {"name": name, "trainable": True, "dtype": DTYPE, **config},
             "registered_name": None}
    if build is not None:
        entry["build_config"] = {"input_shape": [None, *build]}
    return entry


def sequential(layers, input_shape=(32, 32, 3)):
    """A config as Keras 3.15 writes it for a Sequential model."""
    return {
        "module": "keras", "class_name": "Sequential",
        "config": {"name": "sequential", "trainable": True, "dtype": DTYPE, "layers": [
            {"module": "keras.layers", "class_name": "InputLayer",
             "config": {"batch_shape": [None, *input_shape], "dtype": "float32",
                        "sparse": False, "ragged": False, "name": "input_layer",
                        "optional": False},
             "registered_name": None},
            *layers]},
        "registered_name": None,
        "build_config": {"input_shape": [None, *input_shape]},
        "compile_config": {
            "optimizer": {"module": "keras.optimizers", "class_name": "Adam",
                          "config": {"name": "adam", "learning_rate": 0.001},
                          "registered_name": None},
            "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]},
    }


def small_cnn_config():
    return sequential([
        layer("Rescaling", "rescaling", [32, 32, 3], scale=1 / 255, offset=0.0),
        layer("Conv2D", "conv", [32, 32, 3], filters=8, kernel_size=[3, 3], strides=[1, 1],
              padding="valid", data_format="channels_last", dilation_rate=[1, 1], groups=1,
              activation="relu", use_bias=True, kernel_initializer=GLOROT,
              bias_initializer=ZEROS),
        layer("MaxPooling2D", "pool", None, pool_size=[2, 2], strides=[2, 2], padding="valid"),
        layer("Flatten", "flatten", [15, 15, 8]),
        layer("Dense", "dense", [1800], units=6, activation="softmax", use_bias=True,
              kernel_initializer=GLOROT, bias_initializer=ZEROS),
    ])


def write_archive(path: Path, config=None, *, members=None, weights=FAKE_WEIGHTS,
                  compression=zipfile.ZIP_STORED) -> Path:
    """A .keras zip as Keras writes it; ``members`` replaces or adds raw members."""
    contents = {
        "metadata.json": json.dumps({"keras_version": "3.15.1", "date_saved": "today"}),
        "config.json": json.dumps(config if config is not None else small_cnn_config()),
        "model.weights.h5": weights,
    }
    contents.update(members or {})
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in contents.items():
            if data is not None:
                archive.writestr(name, data)
    return path


def refused(path, *, word, code=None, filename=None, max_bytes=MAX_BYTES) -> IntakeError:
    with pytest.raises(IntakeError) as caught:
        check_model_file(path, filename=filename or Path(path).name, max_bytes=max_bytes)
    error = caught.value
    assert isinstance(error, ValueError)
    assert set(error.message) == {"fr", "en"} and all(error.message.values())
    assert word.lower() in error.message["en"].lower(), error.message
    if code is not None:
        assert error.code == code, (error.code, error.message)
    return error


# ----------------------------------------------------------------------------- accepted

def test_a_hand_written_small_cnn_passes(tmp_path):
    report = check_model_file(write_archive(tmp_path / "m.keras"), filename="m.keras",
                              max_bytes=MAX_BYTES)
    assert isinstance(report, IntakeReport)
    assert report.estimated_params == (3 * 3 * 3 + 1) * 8 + (1800 + 1) * 6
    assert report.input_shape == (32, 32, 3) and report.output_shape == (6,)
    assert [item.class_name for item in report.layers] == [
        "InputLayer", "Rescaling", "Conv2D", "MaxPooling2D", "Flatten", "Dense"]
    assert report.layers[2].output_shape == (30, 30, 8) and report.layers[2].params == 224
    assert report.keras_version == "3.15.1"
    assert set(report.members) == {"metadata.json", "config.json", "model.weights.h5"}


def test_the_shipped_backbone_passes():
    report = check_model_file(BACKBONE_PATH, filename=BACKBONE_PATH.name, max_bytes=MAX_BYTES)
    assert report.input_shape == (32, 32, 3)
    assert report.output_shape is not None and len(report.output_shape) == 1
    assert BACKBONE_PATH.stat().st_size < 2 * 2**20


def test_deflated_members_are_accepted(tmp_path):
    path = write_archive(tmp_path / "m.keras", compression=zipfile.ZIP_DEFLATED)
    check_model_file(path, filename="m.keras", max_bytes=MAX_BYTES)


@pytest.mark.parametrize("class_name, config, shape, params, out", [
    ("Conv2D", {"filters": 4, "kernel_size": [3, 3], "strides": [2, 2], "padding": "same"},
     (9, 9, 2), (3 * 3 * 2 + 1) * 4, (5, 5, 4)),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "use_bias": False, "groups": 2},
     (9, 9, 2), 3 * 3 * 1 * 4, (7, 7, 4)),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "dilation_rate": 2}, (9, 9, 1), 40,
     (5, 5, 4)),
    ("SeparableConv2D", {"filters": 8, "kernel_size": 3, "padding": "same"}, (8, 8, 3),
     27 + 24 + 8, (8, 8, 8)),
    ("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 2}, (8, 8, 8), 160, (6, 6, 16)),
    ("Dense", {"units": 10}, (4, 7), 80, (4, 10)),
    ("BatchNormalization", {}, (5, 5, 16), 64, (5, 5, 16)),
    ("BatchNormalization", {"axis": 3, "center": False}, (5, 5, 16), 48, (5, 5, 16)),
    ("LayerNormalization", {"axis": [-1]}, (7,), 14, (7,)),
    ("Normalization", {"axis": [-1]}, (5, 5, 3), 7, (5, 5, 3)),
    ("MaxPooling2D", {"pool_size": 3, "strides": None}, (10, 10, 2), 0, (3, 3, 2)),
    ("GlobalMaxPooling2D", {"keepdims": True}, (10, 10, 2), 0, (1, 1, 2)),
    ("ZeroPadding2D", {"padding": [[1, 2], [3, 4]]}, (5, 5, 1), 0, (8, 12, 1)),
    ("Reshape", {"target_shape": [-1, 4]}, (2, 2, 4), 0, (4, 4)),
    ("Flatten", {}, (None, 4, 2), 0, (None,)),
])
def test_layer_estimates(class_name, config, shape, params, out):
    assert layer_estimate(class_name, config, shape) == (params, out)


# ----------------------------------------------------------------------------- refused

def test_legacy_h5_is_refused_by_extension_and_by_content(tmp_path):
    path = tmp_path / "model.h5"
    path.write_bytes(FAKE_WEIGHTS)
    error = refused(path, word="model.save(\"model.keras\")", code="legacy_h5")
    assert "legacy" in error.message["en"] and "ancien format" in error.message["fr"]
    renamed = tmp_path / "model.keras"
    renamed.write_bytes(FAKE_WEIGHTS)
    refused(renamed, word="legacy", code="legacy_h5")
    refused(path, word="legacy", filename="MODEL.HDF5")


def test_other_extensions_are_refused(tmp_path):
    path = write_archive(tmp_path / "m.zip")
    refused(path, word=".zip", code="extension")
    refused(path, word="none", code="extension", filename="model")


def test_a_non_zip_file_named_keras_is_refused(tmp_path):
    path = tmp_path / "m.keras"
    path.write_bytes(b"this is a text file, not a model\n" * 10)
    refused(path, word="not a .keras file", code="not_zip")


def test_a_truncated_zip_is_refused(tmp_path):
    whole = write_archive(tmp_path / "whole.keras").read_bytes()
    path = tmp_path / "cut.keras"
    path.write_bytes(whole[: len(whole) // 2])
    refused(path, word="truncated", code="truncated_zip")


def test_a_corrupted_member_is_refused(tmp_path):
    data = bytearray(write_archive(tmp_path / "m.keras").read_bytes())
    spot = data.index(b"sparse_categorical_crossentropy")
    data[spot:spot + 6] = b"SPARSE"  # the stored CRC no longer matches
    path = tmp_path / "bad.keras"
    path.write_bytes(bytes(data))
    refused(path, word="damaged", code="bad_zip")


def test_an_oversized_file_is_refused(tmp_path):
    path = write_archive(tmp_path / "m.keras", weights=HDF5_SIGNATURE + os.urandom(50_000))
    refused(path, word="limit", code="file_size", max_bytes=20_000)


def test_an_extra_member_is_refused(tmp_path):
    path = write_archive(tmp_path / "m.keras", members={"evil.py": "import os"})
    refused(path, word="evil.py", code="extra_member")
    path = write_archive(tmp_path / "a.keras", members={"assets/vocab.txt": "a\nb"})
    refused(path, word="assets", code="extra_member")


def test_a_member_climbing_out_of_the_folder_is_refused(tmp_path):
    path = write_archive(tmp_path / "m.keras", members={"../evil.json": "{}"})
    refused(path, word="dangerous path", code="member_path")
    path = write_archive(tmp_path / "b.keras", members={"/etc/cron.d/x": "{}"})
    refused(path, word="absolute", code="member_path")


def test_missing_and_duplicate_members_are_refused(tmp_path):
    path = write_archive(tmp_path / "m.keras", members={"model.weights.h5": None})
    refused(path, word="model.weights.h5", code="missing_member")
    path = write_archive(tmp_path / "d.keras")
    with pytest.warns(UserWarning), zipfile.ZipFile(path, "a") as archive:
        archive.writestr("config.json", "{}")
    refused(path, word="twice", code="duplicate_member")


def test_weights_that_are_not_hdf5_are_refused(tmp_path):
    path = write_archive(tmp_path / "m.keras", weights=b"PICKLE" + bytes(100))
    refused(path, word="HDF5", code="weights")


def test_a_zip_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", "{}")
        archive.writestr("config.json", json.dumps(small_cnn_config()))
        with archive.open("model.weights.h5", "w") as member:
            member.write(HDF5_SIGNATURE)
            chunk = bytes(1 << 20)
            for _ in range(30):
                member.write(chunk)
    assert path.stat().st_size < 200_000
    refused(path, word="zip bomb", code="zip_bomb")


def test_a_too_large_uncompressed_total_is_refused(tmp_path, monkeypatch):
    import grader.intake as intake
    monkeypatch.setattr(intake, "MAX_UNCOMPRESSED_BYTES", 100_000)
    path = write_archive(tmp_path / "m.keras", weights=HDF5_SIGNATURE + os.urandom(150_000))
    refused(path, word="uncompressed", code="zip_bomb")


def test_a_config_naming_os_system_is_refused(tmp_path):
    config = small_cnn_config()
    config["config"]["layers"][5]["config"]["kernel_initializer"] = {
        "module": "os", "class_name": "system", "config": {"command": "id"},
        "registered_name": None}
    refused(write_archive(tmp_path / "m.keras", config), word="os", code="module")
    config = small_cnn_config()
    config["config"]["layers"][2]["config"]["name"] = "os.system"
    refused(write_archive(tmp_path / "n.keras", config), word="os.system",
            code="dangerous_string")
    config = small_cnn_config()
    config["compile_config"]["loss"] = {"module": "builtins", "class_name": "function",
                                        "config": "eval", "registered_name": "function"}
    refused(write_archive(tmp_path / "o.keras", config), word="function", code="function")
    config = small_cnn_config()
    config["compile_config"]["loss"] = "__import__('os').system('id')"
    refused(write_archive(tmp_path / "p.keras", config), word="__import__",
            code="dangerous_string")


def test_an_exported_keras_function_by_name_is_refused(tmp_path):
    # Keras resolves {"class_name": "function", "module": "keras.utils", ...} to any exported
    # function, e.g. one that downloads a file: only built-in activations/losses/metrics pass.
    config = small_cnn_config()
    config["config"]["layers"][5]["config"]["activation"] = {
        "module": "keras.utils", "class_name": "function", "config": "get_file",
        "registered_name": "function"}
    refused(write_archive(tmp_path / "m.keras", config), word="activation", code="activation")
    config = small_cnn_config()
    config["compile_config"]["metrics"] = [{
        "module": "keras.utils", "class_name": "function", "config": "get_file",
        "registered_name": "function"}]
    refused(write_archive(tmp_path / "n.keras", config), word="Python function",
            code="function")


def test_a_tfsmlayer_is_refused(tmp_path):
    config = small_cnn_config()
    config["config"]["layers"].insert(2, layer(
        "TFSMLayer", "saved", None, filepath="saved_model", call_endpoint="serve"))
    refused(write_archive(tmp_path / "m.keras", config), word="TFSMLayer",
            code="forbidden_layer")


@pytest.mark.parametrize("class_name", ["Lambda", "TorchModuleWrapper", "JaxLayer",
                                        "FlaxLayer", "StringLookup", "TextVectorization"])
def test_dangerous_layers_are_refused_by_name(tmp_path, class_name):
    config = small_cnn_config()
    config["config"]["layers"].insert(2, layer(class_name, "x", None))
    refused(write_archive(tmp_path / "m.keras", config), word=class_name,
            code="forbidden_layer")


def test_an_unknown_layer_is_refused(tmp_path):
    config = small_cnn_config()
    config["config"]["layers"].insert(2, layer("Conv3D", "c3", None, filters=2,
                                               kernel_size=[3, 3, 3]))
    refused(write_archive(tmp_path / "m.keras", config), word="Conv3D", code="forbidden_object")


def test_a_custom_registered_object_is_refused(tmp_path):
    config = small_cnn_config()
    config["config"]["layers"].insert(2, {
        "module": None, "class_name": "MyLayer", "config": {"name": "mine"},
        "registered_name": "my_package>MyLayer"})
    refused(write_archive(tmp_path / "m.keras", config), word="custom object",
            code="custom_object")
    config = small_cnn_config()  # a builtin's name hijacked by a registered object
    config["config"]["layers"][2]["registered_name"] = "evil>Conv2D"
    refused(write_archive(tmp_path / "n.keras", config), word="registered",
            code="custom_object")
    config = small_cnn_config()  # a subclassed model: its code is not in the file
    config.update(module="my_models", class_name="MyModel", registered_name=None)
    refused(write_archive(tmp_path / "o.keras", config), word="my_models", code="module")


def test_serialised_python_is_refused(tmp_path):
    config = small_cnn_config()
    config["config"]["layers"][1]["config"]["scale"] = {
        "class_name": "__lambda__", "config": {"code": "YWJj", "defaults": None}}
    refused(write_archive(tmp_path / "m.keras", config), word="lambda",
            code="serialised_python")
    config = small_cnn_config()
    config["config"]["layers"][1]["config"]["function"] = "x"
    refused(write_archive(tmp_path / "n.keras", config), word="Lambda", code="function")


def test_a_shape_bomb_is_refused_before_any_weight_exists(tmp_path):
    config = sequential([
        layer("Flatten", "flatten", [224, 224, 3]),
        layer("Dense", "huge", [150528], units=100_000, activation="relu"),
        layer("Dense", "out", [100_000], units=6, activation="softmax"),
    ], input_shape=(224, 224, 3))
    error = refused(write_archive(tmp_path / "m.keras", config), word="parameters",
                    code="shape_bomb")
    assert "huge" in error.message["en"] and "50,000,000" in error.message["en"]
    assert (150528 + 1) * 100_000 > MAX_PARAMS


def test_a_shape_bomb_cannot_hide_behind_a_small_build_config(tmp_path):
    # build_config says 10 inputs, but the real input is a 1000×1000×3 image flattened.
    config = sequential([
        layer("Flatten", "flatten", [10]),
        layer("Dense", "huge", [10], units=1_000),
    ], input_shape=(1000, 1000, 3))
    refused(write_archive(tmp_path / "m.keras", config), word="parameters", code="shape_bomb")


def test_an_activation_bomb_is_refused(tmp_path):
    config = sequential([layer("Conv2D", "wide", None, filters=4096, kernel_size=1)],
                        input_shape=(4096, 4096, 1))
    refused(write_archive(tmp_path / "m.keras", config), word="values per image",
            code="shape_bomb")


def test_a_layer_of_unknown_input_size_is_refused(tmp_path):
    config = small_cnn_config()
    del config["config"]["layers"][0]
    del config["build_config"]
    for item in config["config"]["layers"]:
        item.pop("build_config", None)
    refused(write_archive(tmp_path / "m.keras", config), word="keras.Input",
            code="unknown_shape")


def test_deep_and_long_configs_are_refused(tmp_path):
    deep = small_cnn_config()
    nested = {}
    for _ in range(200):
        nested = {"a": nested}
    deep["config"]["extra"] = nested
    refused(write_archive(tmp_path / "m.keras", deep), word="nested", code="config_depth")
    long = small_cnn_config()
    long["config"]["layers"][2]["config"]["name"] = "x" * 20_000
    refused(write_archive(tmp_path / "n.keras", long), word="characters", code="long_string")
    path = write_archive(tmp_path / "o.keras", members={"config.json": "{" * 100_000})
    refused(path, word="nested", code="config_depth")
    path = write_archive(tmp_path / "p.keras", members={"config.json": '{"a": 1, "a": 2}'})
    refused(path, word="twice", code="config_json")
    path = write_archive(tmp_path / "q.keras", members={"config.json": '[1, 2]'})
    refused(path, word="does not describe", code="not_a_model")


def test_urls_and_paths_in_strings_are_refused(tmp_path):
    for index, text in enumerate(["https://evil.example/payload", "/etc/passwd",
                                  "../../secrets", "C:\\Windows\\x"]):
        config = small_cnn_config()
        config["config"]["layers"][2]["config"]["name"] = text
        refused(write_archive(tmp_path / f"m{index}.keras", config), word=text[:6],
                code="dangerous_string")


# ----------------------------------------------------------------------------- hypothesis

HYPOTHESIS = dict(max_examples=60, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture,
                                         HealthCheck.too_slow])


@settings(**HYPOTHESIS)
@given(data=st.binary(max_size=3000), prefix=st.sampled_from([b"", b"PK\x03\x04",
                                                              HDF5_SIGNATURE]))
def test_random_bytes_only_ever_raise_intake_error(tmp_path, data, prefix):
    path = tmp_path / "random.keras"
    path.write_bytes(prefix + data)
    with pytest.raises(IntakeError) as caught:
        check_model_file(path, filename="random.keras", max_bytes=MAX_BYTES)
    assert caught.value.code != "unreadable", caught.value.__cause__


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


GOOD = small_cnn_config()
GOOD_PATHS = [path for path in _paths(GOOD) if path]


def _outcome(tmp_path, config_text: str):
    path = write_archive(tmp_path / "fuzz.keras", members={"config.json": config_text})
    try:
        return check_model_file(path, filename="fuzz.keras", max_bytes=MAX_BYTES)
    except IntakeError as error:
        assert error.code != "unreadable", error.__cause__
        return error


@settings(**HYPOTHESIS)
@given(config=json_like)
def test_random_json_configs_only_ever_raise_intake_error(tmp_path, config):
    text = json.dumps(config) if not isinstance(config, float) or config == config else "0"
    _outcome(tmp_path, text)


@settings(**HYPOTHESIS)
@given(where=st.sampled_from(GOOD_PATHS), value=json_like)
def test_mutated_model_configs_only_ever_raise_intake_error(tmp_path, where, value):
    config = copy.deepcopy(GOOD)
    parent = config
    for key in where[:-1]:
        parent = parent[key]
    parent[where[-1]] = value
    _outcome(tmp_path, json.dumps(config))


# ----------------------------------------------------------------------------- real Keras files

@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return pytest.importorskip("keras")


def _small_cnn(keras):
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((32, 32, 3)), layers.Rescaling(1 / 255),
        layers.Conv2D(8, 3, activation="relu"), layers.BatchNormalization(),
        layers.MaxPooling2D(), layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.GlobalAveragePooling2D(), layers.Dropout(0.2),
        layers.Dense(6, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@pytest.mark.keras
def test_real_keras_files_have_exactly_the_allowed_members(tmp_path, keras):
    model = _small_cnn(keras)
    path = tmp_path / "model.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
    report = check_model_file(path, filename="model.keras", max_bytes=MAX_BYTES)
    assert report.estimated_params == model.count_params()
    assert report.input_shape == (32, 32, 3) and report.output_shape == (6,)
    keras_layers = {item.name: item for item in model.layers}
    for item in report.layers[1:]:
        assert item.params == keras_layers[item.name].count_params(), item.name
        assert item.output_shape == tuple(keras_layers[item.name].output.shape[1:]), item.name


@pytest.mark.keras
def test_a_fine_tuned_backbone_passes(tmp_path, keras):
    layers = keras.layers
    backbone = keras.models.load_model(BACKBONE_PATH)
    backbone.trainable = False
    inputs = keras.Input((32, 32, 3))
    augmented = layers.RandomFlip("horizontal")(inputs)
    features = backbone(augmented, training=False)
    outputs = layers.Dense(6, activation="softmax")(layers.Dropout(0.2)(features))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    path = tmp_path / "transfer.keras"
    model.save(path)
    report = check_model_file(path, filename="transfer.keras", max_bytes=MAX_BYTES)
    assert report.estimated_params == model.count_params()
    assert any(item.path.startswith(f"{backbone.name}/") for item in report.layers)


@pytest.mark.keras
def test_a_real_lambda_layer_is_refused(tmp_path, keras):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2),
                              keras.layers.Dense(2)])
    path = tmp_path / "lambda.keras"
    model.save(path)
    refused(path, word="Lambda", code="forbidden_layer")


@pytest.mark.keras
def test_a_real_h5_file_is_refused(tmp_path, keras):
    path = tmp_path / "model.h5"
    _small_cnn(keras).save(path)  # Keras logs that the format is legacy
    refused(path, word="legacy", code="legacy_h5")


@pytest.mark.keras
def test_a_real_file_edited_to_name_os_system_is_refused(tmp_path, keras):
    source = tmp_path / "model.keras"
    _small_cnn(keras).save(source)
    with zipfile.ZipFile(source) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(contents["config.json"])
    config["config"]["layers"][1]["config"]["activation"] = "os.system"
    config["config"]["layers"][1]["class_name"] = "Activation"
    contents["config.json"] = json.dumps(config)
    edited = tmp_path / "edited.keras"
    with zipfile.ZipFile(edited, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    refused(edited, word="os.system")


@pytest.mark.keras
def test_a_real_custom_layer_is_refused(tmp_path, keras):
    @keras.saving.register_keras_serializable(package="student")
    class Doubler(keras.layers.Layer):
        def call(self, inputs):
            return inputs * 2

    model = keras.Sequential([keras.Input((4,)), Doubler(), keras.layers.Dense(2)])
    path = tmp_path / "custom.keras"
    model.save(path)
    refused(path, word="custom object", code="custom_object")
