"""Scoring predictions, thresholds, the confusion-matrix picture and the architecture report."""
import io

import numpy as np
import pytest
from PIL import Image

from grader.evaluation import (
    EvaluationError,
    ThresholdsError,
    architecture_report,
    confusion_matrix_png,
    confusion_matrix_size,
    grade_from_accuracy,
    score_predictions,
)
from grader.result import ParamsError


def one_hot(predicted, classes=3):
    probabilities = np.full((len(predicted), classes), 0.1, dtype=np.float32)
    probabilities[np.arange(len(predicted)), predicted] = 0.8
    return probabilities


# ----------------------------------------------------------------------------- scoring

def test_accuracy_and_confusion_by_hand():
    labels = np.array([0, 0, 1, 1, 2, 2, 2, 0])
    predicted = np.array([0, 1, 1, 1, 2, 0, 2, 0])
    public = np.array([True, True, True, True, False, False, False, False])
    metrics = score_predictions(probabilities=one_hot(predicted), labels=labels,
                                public_mask=public)
    assert metrics.accuracy == pytest.approx(6 / 8)
    assert metrics.public_accuracy == pytest.approx(3 / 4)   # rows 0-3: one miss (0 → 1)
    assert metrics.private_accuracy == pytest.approx(3 / 4)  # rows 4-7: one miss (2 → 0)
    assert metrics.confusion.tolist() == [[2, 1, 0], [0, 2, 0], [1, 0, 2]]
    assert metrics.confusion.sum() == 8
    assert (metrics.count, metrics.public_count, metrics.private_count) == (8, 4, 4)
    assert metrics.per_class_recall == pytest.approx([2 / 3, 1.0, 2 / 3])
    stored = metrics.as_dict()
    assert stored["confusion"] == [[2, 1, 0], [0, 2, 0], [1, 0, 2]]
    assert stored["accuracy"] == pytest.approx(0.75)


def test_logits_score_like_probabilities_and_ties_go_to_the_lower_class():
    logits = np.array([[5.0, -2.0], [-1.0, 3.0], [0.5, 0.5]])
    metrics = score_predictions(probabilities=logits, labels=np.array([0, 1, 0]),
                                public_mask=np.zeros(3, dtype=bool))
    assert metrics.accuracy == 1.0
    assert metrics.public_accuracy is None and metrics.private_accuracy == 1.0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_outputs_are_refused(bad):
    probabilities = one_hot([0, 1, 2])
    probabilities[1, 2] = bad
    with pytest.raises(EvaluationError) as caught:
        score_predictions(probabilities=probabilities, labels=np.array([0, 1, 2]),
                          public_mask=np.ones(3, dtype=bool))
    assert "NaN" in caught.value.message["en"] and "NaN" in caught.value.message["fr"]
    assert "1 image" in caught.value.message["en"]


@pytest.mark.parametrize("probabilities, labels, mask, word", [
    (np.zeros((3,)), [0, 1, 2], [True] * 3, "shape"),
    (np.zeros((3, 1)), [0, 0, 0], [True] * 3, "shape"),
    (np.zeros((0, 3)), [], [], "shape"),
    (np.array([["a", "b"]] * 3), [0, 1, 0], [True] * 3, "numbers"),
    (np.zeros((3, 2), dtype=bool), [0, 1, 0], [True] * 3, "numbers"),
    (np.zeros((3, 2)), [0, 1], [True] * 3, "labels"),
    (np.zeros((3, 2)), [0.0, 1.0, 0.0], [True] * 3, "integers"),
    (np.zeros((3, 2)), [0, 1, 2], [True] * 3, "one output per class"),
    (np.zeros((3, 2)), [0, 1, -1], [True] * 3, "one output per class"),
    (np.zeros((3, 2)), [0, 1, 0], [1, 0, 1], "booleans"),
    (np.zeros((3, 2)), [0, 1, 0], [True, False], "booleans"),
])
def test_malformed_inputs_are_refused(probabilities, labels, mask, word):
    with pytest.raises(EvaluationError) as caught:
        score_predictions(probabilities=probabilities, labels=np.asarray(labels),
                          public_mask=np.asarray(mask))
    assert word in caught.value.message["en"]
    assert caught.value.message["fr"]


# ----------------------------------------------------------------------------- grades

THRESHOLDS = [[0.5, 0.5], [0.8, 0.8], [0.9, 1.0]]


@pytest.mark.parametrize("accuracy, grade", [
    (0.0, 0.0), (0.49, 0.0), (0.5, 0.5), (0.79, 0.5), (0.8, 0.8), (0.85, 0.8), (0.9, 1.0),
    (1.0, 1.0),
])
def test_grade_is_the_highest_threshold_reached(accuracy, grade):
    assert grade_from_accuracy(accuracy, THRESHOLDS) == grade


def test_thresholds_in_any_order_and_float_round_off():
    assert grade_from_accuracy(0.7 + 0.1, [(0.8, 0.8)]) == 0.8  # 0.7999999999999999
    assert grade_from_accuracy(np.float32(0.95), THRESHOLDS) == 1.0


@pytest.mark.parametrize("thresholds", [
    [], [[0.5]], [[0.5, 1.5]], [[-0.1, 0.5]], [[0.8, 0.8], [0.5, 0.5]],
    [[0.5, 0.9], [0.8, 0.6]], [[0.5, 0.5], [0.5, 0.6]], [[float("nan"), 0.5]], "0.5",
    [[True, 0.5]],
])
def test_bad_thresholds_are_refused(thresholds):
    with pytest.raises(ThresholdsError) as caught:
        grade_from_accuracy(0.7, thresholds)
    assert isinstance(caught.value, ParamsError)
    assert set(caught.value.message) == {"fr", "en"}


def test_accuracy_out_of_range_is_a_bug():
    with pytest.raises(ValueError):
        grade_from_accuracy(1.5, THRESHOLDS)


# ----------------------------------------------------------------------------- confusion PNG

@pytest.mark.parametrize("classes", [2, 6, 12])
def test_confusion_png_opens_with_the_expected_size(classes):
    rng = np.random.default_rng(classes)
    matrix = rng.integers(0, 200, (classes, classes))
    matrix[0, 0] = 123_456  # a wide count still fits its cell
    names = [f"classe {i}" for i in range(classes)]
    names[-1] = "un nom de classe vraiment beaucoup trop long"
    data = confusion_matrix_png(matrix, names)
    assert data.startswith(b"\x89PNG")
    with Image.open(io.BytesIO(data)) as picture:
        picture.load()
        assert picture.size == confusion_matrix_size(classes)
        assert picture.mode == "RGB"
        pixels = np.asarray(picture)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20  # colours, text, legend


def test_confusion_png_colours_follow_the_row_share():
    from grader.evaluation import CELL, LABEL_WIDTH, MARGIN, TITLE_HEIGHT
    matrix = np.array([[10, 0], [5, 5]])
    data = confusion_matrix_png(matrix, ["chat", "chien"], lang="en")
    with Image.open(io.BytesIO(data)) as picture:
        pixels = np.asarray(picture.convert("RGB")).astype(int)
    left, top = MARGIN + TITLE_HEIGHT + LABEL_WIDTH, MARGIN + LABEL_WIDTH
    corner = pixels[top + 3, left + 3]                  # 100 % of its row: dark blue
    empty = pixels[top + 3, left + CELL + 3]            # 0 %: white
    half = pixels[top + CELL + 3, left + 3]             # 50 %
    assert corner.sum() < half.sum() < empty.sum()
    assert tuple(empty) == (247, 251, 255)


def test_confusion_png_without_a_font_that_has_accents(monkeypatch):
    import grader.evaluation as evaluation
    monkeypatch.setattr(evaluation, "_FONT_FILES", ())
    evaluation._font.cache_clear()
    try:
        data = confusion_matrix_png(np.eye(2, dtype=int), ["carré", "étoile"])
    finally:
        evaluation._font.cache_clear()
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.size == confusion_matrix_size(2)
    assert evaluation._plain("Classe prédite, étoile ×2") == "Classe predite, etoile x2"


def test_confusion_png_refuses_bad_input():
    with pytest.raises(ValueError):
        confusion_matrix_png(np.zeros((2, 3), dtype=int), ["a", "b"])
    with pytest.raises(ValueError):
        confusion_matrix_png(np.zeros((2, 2), dtype=int), ["a"])
    with pytest.raises(ValueError):
        confusion_matrix_png(np.full((2, 2), 0.5), ["a", "b"])


# ----------------------------------------------------------------------------- architecture

SANDBOX_LAYERS = [
    {"name": "conv1", "class_name": "Conv2D", "output_shape": [None, 30, 30, 32], "params": 896,
     "config": {"filters": 32, "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid",
                "activation": "relu", "use_bias": True, "name": "conv1"}},
    {"name": "bn", "class_name": "BatchNormalization", "output_shape": [None, 30, 30, 32],
     "params": 128},
    {"name": "pool", "class_name": "MaxPooling2D", "output_shape": [None, 15, 15, 32],
     "params": 0},
    {"name": "flat", "class_name": "Flatten", "output_shape": [None, 7200], "params": 0},
    {"name": "drop", "class_name": "Dropout", "output_shape": [None, 7200], "params": 0},
    {"name": "dense", "class_name": "Dense", "output_shape": [None, 6], "params": 43_206},
]


def test_architecture_report_recomputes_with_the_course_formulas():
    rows = architecture_report(
        input_shape=[32, 32, 3], layers_from_sandbox=SANDBOX_LAYERS,
        layer_configs={"pool": {"pool_size": [2, 2], "strides": [2, 2], "padding": "valid"}})
    by_name = {row["name"]: row for row in rows}
    conv = by_name["conv1"]
    assert conv["expected_params"] == 896 and conv["agrees"] is True
    assert conv["input_shape"] == [32, 32, 3] and conv["output_shape"] == [30, 30, 32]
    assert "((3×3×3)+1)×32 = 896" in conv["formula"]["en"]
    assert "((3×3×3)+1)×32 = 896" in conv["formula"]["fr"]
    assert conv["shape_formula"]["en"].endswith("(30, 30, 32)")
    dense = by_name["dense"]
    assert dense["input_shape"] == [7200]  # the Dropout's output, passed along
    assert dense["expected_params"] == (7200 + 1) * 6 == 43_206 and dense["agrees"]
    assert "(n_in+1)×n_out = (7200+1)×6 = 43,206" in dense["formula"]["en"]
    assert by_name["pool"]["expected_params"] == 0 and by_name["pool"]["agrees"]
    assert by_name["flat"]["formula"]["en"].startswith("0 parameters")
    bn = by_name["bn"]
    assert bn["expected_params"] == 128 and bn["agrees"]
    assert "4×32" in bn["note"]["en"] and "not trainable" in bn["note"]["en"]
    assert by_name["drop"]["note"]["fr"] and by_name["drop"]["formula"] is None


def test_architecture_report_flags_a_disagreement():
    layers = [{"name": "d", "class_name": "Dense", "output_shape": [10], "params": 30,
               "config": {"units": 10, "use_bias": True}}]
    row, = architecture_report(input_shape=[4], layers_from_sandbox=layers)
    assert row["expected_params"] == 50 and row["agrees"] is False
    assert "Keras counts 30" in row["note"]["en"]


def test_architecture_report_without_biases_or_config():
    layers = [
        {"name": "c", "class_name": "Conv2D", "output_shape": [None, 8, 8, 4], "params": 36},
        {"name": "c2", "class_name": "Conv2D", "output_shape": [None, 6, 6, 4], "params": 144,
         "config": {"filters": 4, "kernel_size": 3, "use_bias": False}},
        {"name": "g", "class_name": "GlobalMaxPooling2D", "output_shape": [None, 4],
         "params": 0},
        {"name": "s", "class_name": "Sequential", "output_shape": [None, 4], "params": 12},
    ]
    rows = architecture_report(input_shape=[10, 10, 1], layers_from_sandbox=layers)
    assert rows[0]["expected_params"] is None and "unavailable" in rows[0]["note"]["en"]
    assert rows[1]["formula"] is None and rows[1]["agrees"] is None
    assert rows[2]["expected_params"] == 0 and rows[2]["agrees"]
    assert "sub-model" in rows[3]["note"]["en"]


@pytest.mark.keras
def test_architecture_report_agrees_with_keras():
    import os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    keras = pytest.importorskip("keras")
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((28, 28, 1)), layers.Conv2D(8, 5, strides=2, padding="same"),
        layers.BatchNormalization(), layers.MaxPooling2D(), layers.Conv2D(16, 3),
        layers.AveragePooling2D(2), layers.Flatten(), layers.Dense(10)])
    sandbox = [{"name": layer.name, "class_name": type(layer).__name__,
                "output_shape": list(layer.output.shape), "params": layer.count_params(),
                "config": layer.get_config()} for layer in model.layers]
    rows = architecture_report(input_shape=[28, 28, 1], layers_from_sandbox=sandbox)
    assert all(row["agrees"] for row in rows), [(r["name"], r["note"]) for r in rows]
    assert all(row["expected_params"] == layer.count_params()
               for row, layer in zip(rows, model.layers))


def test_percentages_are_written_as_each_language_writes_them():
    from grader.text import format_percent

    assert format_percent(0.594, "fr") == "59,4\u00a0%" and format_percent(0.594, "en") == "59.4%"
    assert format_percent(1, "fr", decimals=0) == "100\u00a0%"


def test_a_low_accuracy_without_rescaling_names_the_likely_cause():
    from grader.evaluation import input_scale_diagnosis

    thresholds = [[0.5, 0.5], [0.7, 0.7], [0.9, 1.0]]
    plain = ["InputLayer", "Conv2D", "MaxPooling2D", "Flatten", "Dense"]
    found = input_scale_diagnosis(accuracy=0.2, thresholds=thresholds, layer_classes=plain, predicted_share=0.9)
    assert "Rescaling(1/255)" in found["fr"] and "normalised inside the model" in found["en"]
    assert "90\u00a0%" in found["fr"] and "90%" in found["en"]  # the evidence: one class takes 90 %
    quiet = input_scale_diagnosis(accuracy=0.2, thresholds=thresholds, layer_classes=plain, predicted_share=0.3)
    assert quiet is not None and "Indice" not in quiet["fr"]
    # A model that rescales itself, or one that reaches the first threshold, gets no such guess.
    assert input_scale_diagnosis(accuracy=0.2, thresholds=thresholds, layer_classes=["Rescaling", *plain],
                                 predicted_share=0.9) is None
    assert input_scale_diagnosis(accuracy=0.55, thresholds=thresholds, layer_classes=plain, predicted_share=0.9) is None
