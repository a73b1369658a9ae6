import pytest

from grader.layers import LayerConfigError
from grader.shapes import diagnose_output_size, explain_chain, grade_output_size, grade_param_count

from .layers_helpers import conv, dense, flatten, gap, max_pool, zero_pad

CHAIN = [conv(16, 3, padding="same"), max_pool(2), conv(32, 3), max_pool(2)]  # 32 -> 7x7x32


# ----------------------------------------------------------------------------- output size

def test_exact_output_size():
    result = grade_output_size(input_shape=(32, 32, 3), layers=CHAIN, answer_shape=[7, 7, 32])
    assert result.score == 1.0 and result.correct
    assert "(7, 7, 32)" in result.feedback["fr"]
    assert result.details["expected"] == [7, 7, 32]


def test_partial_credit_per_dimension():
    result = grade_output_size(input_shape=(32, 32, 3), layers=CHAIN, answer_shape=(7, 7, 16))
    assert result.score == pytest.approx(2 / 3) and not result.correct
    result = grade_output_size(input_shape=(32, 32, 3), layers=CHAIN, answer_shape=(1, 2, 3))
    assert result.score == 0.0


def test_wrong_rank_scores_zero():
    result = grade_output_size(input_shape=(32, 32, 3), layers=CHAIN, answer_shape=(1568,))
    assert result.score == 0.0 and not result.correct


def test_feedback_walks_the_chain_with_the_numbers():
    result = grade_output_size(input_shape=(32, 32, 3), layers=CHAIN, answer_shape=(8, 8, 32))
    for lang in ("fr", "en"):
        text = result.feedback[lang]
        assert "O = ceil(I/S) = ceil(32/1) = 32" in text
        assert "floor((32 - 2 + 2×0)/2) + 1 = 16" in text
        assert "floor((16 - 3 + 2×0)/1) + 1 = 14" in text
        assert "floor((14 - 2 + 2×0)/2) + 1 = 7" in text
    assert "Couche 4" in result.feedback["fr"] and "Layer 4" in result.feedback["en"]


@pytest.mark.parametrize("answer, layer, name", [
    ((6, 6, 32), 0, "swapped_padding"),          # 'same' computed as 'valid'
    ((7, 7, 16), 2, "kept_input_channels"),
    ((15, 15, 32), 1, "skipped_layer"),          # first pooling forgotten
])
def test_diagnosis_names_the_first_wrong_layer(answer, layer, name):
    diagnosis = diagnose_output_size(input_shape=(32, 32, 3), layers=CHAIN, answer_shape=answer)
    assert diagnosis is not None
    mistake, indices = diagnosis
    assert mistake.name == name and indices[0] == layer
    result = grade_output_size(input_shape=(32, 32, 3), layers=CHAIN, answer_shape=answer)
    assert result.details["first_wrong_layer"] == layer
    assert f"couche {layer + 1}" in result.details["hint"]["fr"]
    assert f"layer {layer + 1}" in result.details["hint"]["en"]


def test_diagnosis_of_stride_and_rounding_slips():
    layers = [conv(8, 3, 2)]  # 16x16 -> floor(13/2)+1 = 7
    diagnose = lambda answer: diagnose_output_size(  # noqa: E731
        input_shape=(16, 16, 1), layers=layers, answer_shape=answer)
    assert diagnose((14, 14, 8))[0].name == "ignored_stride"
    assert diagnose((8, 8, 8))[0].name == "swapped_padding"  # ceil(16/2)
    assert diagnose((6, 6, 8))[0].name == "forgot_plus_one"
    layers = [conv(8, 3, 3)]  # 17x17 -> floor(14/3)+1 = 5; ceil gives 6
    assert diagnose_output_size(input_shape=(17, 17, 1), layers=layers,
                                answer_shape=(6, 6, 8))[0].name in ("ceil_instead_of_floor",
                                                                     "swapped_padding")


def test_diagnosis_of_padding_slips():
    layers = [zero_pad(2), conv(4, 5)]  # 28 -> 32 -> 28
    diagnosis = diagnose_output_size(input_shape=(28, 28, 1), layers=layers,
                                     answer_shape=(26, 26, 4))
    assert diagnosis[0].name == "padded_once" and diagnosis[1] == [0]


def test_diagnosis_of_a_slip_repeated_at_every_layer():
    layers = [conv(8, 3, padding="same"), conv(8, 3, padding="same")]  # stays 32
    diagnosis = diagnose_output_size(input_shape=(32, 32, 3), layers=layers,
                                     answer_shape=(28, 28, 8))
    assert diagnosis[0].name == "swapped_padding" and diagnosis[1] == [0, 1]


def test_batch_dimension_hint():
    result = grade_output_size(input_shape=(32, 32, 3), layers=CHAIN, answer_shape=(1, 7, 7, 32))
    assert result.score == 0.0 and "batch" in result.details["hint"]["en"]


def test_intermediate_shape_hint():
    layers = [conv(8, 3), flatten(), dense(10)]
    result = grade_output_size(input_shape=(10, 10, 1), layers=layers, answer_shape=(8, 8, 8))
    assert "après la couche 1" in result.details["hint"]["fr"]
    assert result.details["first_wrong_layer"] == 1
    result = grade_output_size(input_shape=(10, 10, 1), layers=layers, answer_shape=(512,))
    assert "oubliant la couche 3" in result.details["hint"]["fr"]


def test_the_decks_7x7_example_is_graded():
    layers = [zero_pad(1), conv(1, 3)]
    assert grade_output_size(input_shape=(5, 5, 1), layers=layers, answer_shape=(5, 5, 1)).correct
    result = grade_output_size(input_shape=(5, 5, 1), layers=layers, answer_shape=(3, 3, 1))
    assert not result.correct and "O = I + 2P = 5 + 2×1 = 7" in result.feedback["fr"]


def test_explain_chain_starts_from_the_input():
    text = explain_chain((224, 224, 3), [conv(8, 3), gap()])
    assert text["fr"].startswith("Entrée : (224, 224, 3)")
    assert text["en"].splitlines()[-1].endswith("(8,)")


def test_grading_an_impossible_chain_raises():
    with pytest.raises(LayerConfigError):
        grade_output_size(input_shape=(5, 5, 1), layers=[conv(1, 7)], answer_shape=(1, 1, 1))


# ----------------------------------------------------------------------------- parameters

MODEL = [conv(16, 3, padding="same"), max_pool(2), conv(32, 3), max_pool(2), flatten(), dense(10)]
MODEL_TOTAL = 448 + 4640 + 15690


def test_param_count_total():
    result = grade_param_count(input_shape=(32, 32, 3), layers=MODEL, ask="total",
                               value=MODEL_TOTAL)
    assert result.correct and result.score == 1.0
    text = result.feedback["en"]
    assert "Total: 448 + 0 + 4640 + 0 + 0 + 15,690 = 20,778" in text
    assert "Total : 448 + 0 + 4640 + 0 + 0 + 15\u202f690 = 20\u202f778" in result.feedback["fr"]


def test_param_count_of_one_layer():
    result = grade_param_count(input_shape=(32, 32, 3), layers=MODEL, ask={"layer": 2},
                               value=4640)
    assert result.correct
    assert "((3×3×16)+1)×32 = 4640" in result.feedback["fr"]
    wrong = grade_param_count(input_shape=(32, 32, 3), layers=MODEL, ask={"layer": 2}, value=4000)
    assert wrong.score == 0.0 and not wrong.correct


def test_forgotten_biases_are_named():
    layers = [flatten(), dense(100)]
    result = grade_param_count(input_shape=(4000, 3000, 3), layers=layers, ask="total",
                               value=3_600_000_000)
    assert not result.correct and result.score == 0.5
    assert result.details["hint"]["fr"].startswith("Vous avez oublié les biais")
    assert result.details["hint"]["en"].startswith("You forgot the biases")
    assert "3\u202f600\u202f000\u202f100" in result.feedback["fr"]
    right = grade_param_count(input_shape=(4000, 3000, 3), layers=layers, ask="total",
                              value=3_600_000_100)
    assert right.correct and right.details["without_biases"] == 3_600_000_000


def test_forgotten_biases_in_a_total():
    no_bias_total = 432 + 4608 + 15680
    result = grade_param_count(input_shape=(32, 32, 3), layers=MODEL, ask="total",
                               value=no_bias_total)
    assert "biais" in result.details["hint"]["fr"]


def test_forgotten_depth_and_missing_layer_hints():
    result = grade_param_count(input_shape=(32, 32, 3), layers=MODEL, ask={"layer": 2},
                               value=(9 + 1) * 32)
    assert "profondeur" in result.details["hint"]["fr"]
    result = grade_param_count(input_shape=(32, 32, 3), layers=MODEL, ask="total",
                               value=MODEL_TOTAL - 15690)
    assert "couche 6" in result.details["hint"]["fr"]


def test_pooling_has_no_parameters_hint():
    result = grade_param_count(input_shape=(32, 32, 3), layers=MODEL, ask={"layer": 1}, value=4)
    # The diagnosis asks the question; "no weights" would be the answer itself.
    assert not result.correct and "des poids et des biais" in result.details["hint"]["fr"]
    assert "aucun poids" not in result.details["hint"]["fr"] and "0" not in result.details["hint"]["en"]
    assert grade_param_count(input_shape=(32, 32, 3), layers=MODEL, ask={"layer": 1},
                             value=0).correct


@pytest.mark.parametrize("ask", ["all", {"layer": 6}, {"layer": -1}, {"layer": "0"}, None,
                                 {"layer": 0, "x": 1}])
def test_bad_ask_raises(ask):
    with pytest.raises(LayerConfigError):
        grade_param_count(input_shape=(32, 32, 3), layers=MODEL, ask=ask, value=0)
