"""The shipped shapes backbone: what it is, and that transfer to fruits pays."""
import os
import zipfile

import pytest

from grader.backbone import BACKBONE_PATH, FEATURES

pytestmark = pytest.mark.keras


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return pytest.importorskip("keras")


def test_the_backbone_file_is_small_and_standard(keras):
    assert BACKBONE_PATH.stat().st_size <= 2 * 2**20
    with zipfile.ZipFile(BACKBONE_PATH) as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
    backbone = keras.models.load_model(BACKBONE_PATH)
    assert tuple(backbone.input_shape) == (None, 32, 32, 3)
    assert tuple(backbone.output_shape) == (None, FEATURES)
    assert [layer.name for layer in backbone.layers] == [
        "rescale", "conv1", "pool1", "conv2", "pool2", "conv3", "pool3", "features"]
    assert backbone.count_params() == 56_320


def test_transfer_beats_raw_pixels_on_fruits(keras):
    """README figures: 0.78 for the frozen backbone + Dense, 0.55 for Dense on raw pixels."""
    from grader.backbone.train import transfer_comparison

    scores = transfer_comparison(keras.models.load_model(BACKBONE_PATH), seed=0)
    transfer, raw = scores["frozen backbone + Dense"], scores["raw pixels + Dense"]
    assert transfer >= 0.7, scores
    assert transfer - raw >= 0.12, scores


def test_the_backbone_is_offered_by_name():
    from grader.backbone import BACKBONES

    assert BACKBONES == {"shapes_backbone": BACKBONE_PATH} and BACKBONE_PATH.is_file()
