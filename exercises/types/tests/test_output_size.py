import numpy as np
import pytest

from exercises.types import get_type
from grader.result import AnswerError, ParamsError

TYPE = get_type("output_size")
CONV = {"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": 3}}


class FakeQueryDict(dict):
    """What Django's QueryDict offers the types: getlist()."""

    def getlist(self, key):
        return list(self.get(key, []))


def variant_of(params, seed=0):
    TYPE.validate_params(params)
    return TYPE.generate(params, np.random.default_rng(seed))


def test_the_decks_7x7_example():
    params = {"input_shape": [5, 5, 1], "layers": [
        {"class_name": "ZeroPadding2D", "config": {"padding": 1}},
        {"class_name": "Conv2D", "config": {"filters": 1, "kernel_size": 3, "strides": 1,
                                            "padding": "valid"}}]}
    variant = variant_of(params)
    assert variant == {"input_shape": [5, 5, 1], "layers": [
        {"class_name": "ZeroPadding2D", "config": {"padding": [[1, 1], [1, 1]]}},
        {"class_name": "Conv2D", "config": {"filters": 1, "kernel_size": [3, 3],
                                            "strides": [1, 1], "padding": "valid"}}]}
    assert TYPE.solve(variant) == {"shape": [5, 5, 1]}
    assert TYPE.grade_answer(variant, {"shape": ["5", "5", "1"]}).correct
    wrong = TYPE.grade_answer(variant, {"shape": [3, 3, 1]})
    assert wrong.score < 1 and not wrong.correct


def test_scalars_expand_and_defaults_fill_in():
    params = {"input_shape": [32, "same", 3], "layers": [
        {"class_name": "MaxPooling2D", "config": {"pool_size": 2}},
        {"class_name": "Conv2D", "config": {"filters": 8, "kernel_size": 5}}]}
    variant = variant_of(params)
    assert variant["input_shape"] == [32, 32, 3]
    assert variant["layers"][0]["config"] == {"pool_size": [2, 2], "strides": [2, 2],
                                              "padding": "valid"}
    assert variant["layers"][1]["config"]["strides"] == [1, 1]


def test_same_repeats_the_drawn_dimension():
    params = {"input_shape": [{"choices": [11, 12, 15, 16]}, "same", {"choices": [1, 3]}],
              "layers": [CONV]}
    for seed in range(30):
        height, width, channels = variant_of(params, seed)["input_shape"]
        assert height == width and channels in (1, 3)


def test_invalid_draws_are_redrawn():
    # Kernel 7 only fits the 8x8 input: half of the draws are impossible, none reach students.
    params = {"input_shape": [{"choices": [5, 8]}, "same", 1], "layers": [
        {"class_name": "Conv2D", "config": {"filters": 2, "kernel_size": 7}}]}
    for seed in range(30):
        assert variant_of(params, seed)["input_shape"] == [8, 8, 1]


@pytest.mark.parametrize("params", [
    {"input_shape": [5, 5, 1], "layers": [{"class_name": "Conv2D",
                                           "config": {"filters": 1, "kernel_size": 7}}]},
    {"input_shape": [{"choices": [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
                                  20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34,
                                  35, 36, 37, 38, 39, 40]}, "same", 1],
     "layers": [{"class_name": "Conv2D", "config": {"filters": 1, "kernel_size": 38}}]},
    {"input_shape": [32, 32, 3], "layers": []},
    {"input_shape": [32, 32, 3]},
    {"input_shape": ["same", 32, 3], "layers": [CONV]},
    {"input_shape": [0, 32, 3], "layers": [CONV]},
    {"input_shape": [32, 32, 3, 1], "layers": [CONV]},
    {"input_shape": [{"choices": []}, 32, 3], "layers": [CONV]},
    {"input_shape": [{"options": [1]}, 32, 3], "layers": [CONV]},
    {"input_shape": [32, 32, 3], "layers": [{"class_name": "Conv3D", "config": {}}]},
    {"input_shape": [32, 32, 3], "layers": [{"class_name": "Conv2D", "config": {"filters": 4}}]},
    {"input_shape": [32, 32, 3], "layers": [{"class_name": "Conv2D", "config": {
        "filters": 4, "kernel_size": 3, "activation": "relu"}}]},
    {"input_shape": [32, 32, 3], "layers": [{"class_name": "Conv2D", "config": {
        "filters": {"choices": [4, 0]}, "kernel_size": 3}}]},
    {"input_shape": [32, 32, 3], "layers": [{"class_name": "Conv2D", "config": {
        "filters": 4, "kernel_size": 3, "padding": {"choices": ["valid", "full"]}}}]},
    {"input_shape": [32, 32, 3], "layers": [{"class_name": "Dense", "config": {"units": 10**7}}]},
    {"input_shape": [32, 32, 3], "layers": [{"class_name": "Flatten", "config": {}}, CONV]},
    {"input_shape": [100], "layers": [CONV]},
])
def test_impossible_params_are_refused(params):
    with pytest.raises(ParamsError) as caught:
        TYPE.validate_params(params)
    assert caught.value.message["fr"] and caught.value.message["en"]


def test_answer_from_form():
    variant = variant_of({"input_shape": [32, 32, 3], "layers": [CONV]})
    assert TYPE.answer_from_form(variant, {"h": ["30"], "w": ["30"], "c": ["4"]}) == {
        "shape": [30, 30, 4]}
    assert TYPE.answer_from_form(variant, FakeQueryDict(h=[" 30 "], w=["30"], c=["4"])) == {
        "shape": [30, 30, 4]}
    # A vector output: only the last field.
    assert TYPE.answer_from_form(variant, {"h": [""], "w": [""], "c": ["1600"]}) == {
        "shape": [1600]}
    for bad in ({"h": ["30"], "w": [""], "c": ["4"]}, {"h": ["30"], "w": ["x"], "c": ["4"]},
                {"h": ["30"], "w": ["3.5"], "c": ["4"]}, {"h": ["0"], "w": ["1"], "c": ["4"]},
                {"c": ["4", "5"]}, {}):
        with pytest.raises(AnswerError):
            TYPE.answer_from_form(variant, bad)


def test_form_round_trip_over_seeds():
    params = {"input_shape": [{"choices": [28, 32, 64]}, "same", {"choices": [1, 3]}],
              "layers": [{"class_name": "Conv2D", "config": {
                  "filters": {"choices": [8, 16]}, "kernel_size": {"choices": [3, 5]},
                  "strides": {"choices": [1, 2]}, "padding": {"choices": ["valid", "same"]}}},
                  {"class_name": "GlobalAveragePooling2D", "config": {}}]}
    for seed in range(20):
        variant = variant_of(params, seed)
        answer = TYPE.solve(variant)
        names = ("h", "w", "c")[-len(answer["shape"]):]
        fields = {name: [str(dim)] for name, dim in zip(names, answer["shape"], strict=True)}
        assert TYPE.answer_from_form(variant, fields) == answer
        assert TYPE.grade_answer(variant, TYPE.answer_from_form(variant, fields)).correct


def test_wrong_answers_score_lower():
    params = {"input_shape": [{"choices": [28, 32, 64]}, "same", 3], "layers": [CONV]}
    for seed in range(20):
        variant = variant_of(params, seed)
        height, width, channels = TYPE.solve(variant)["shape"]
        result = TYPE.grade_answer(variant, {"shape": [height + 1, width, channels]})
        assert 0 < result.score < 1 and not result.correct
