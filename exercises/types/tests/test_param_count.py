import numpy as np
import pytest

from exercises.types import get_type
from grader.result import AnswerError, ParamsError

TYPE = get_type("param_count")
FLATTEN = {"class_name": "Flatten", "config": {}}


def variant_of(params, seed=0):
    TYPE.validate_params(params)
    return TYPE.generate(params, np.random.default_rng(seed))


def test_12_mpx_photo_into_dense_100():
    params = {"input_shape": [3000, 4000, 3],
              "layers": [FLATTEN, {"class_name": "Dense", "config": {"units": 100}}],
              "ask": "total"}
    variant = variant_of(params)
    assert variant["ask"] == "total"
    assert TYPE.solve(variant) == {"value": 3_600_000_100}
    assert TYPE.grade_answer(variant, {"value": "3 600 000 100"}).correct
    no_bias = TYPE.grade_answer(variant, {"value": 3_600_000_000})
    assert not no_bias.correct and no_bias.score == 0.5
    assert "biais" in no_bias.feedback["fr"]


def test_ask_a_fixed_layer():
    params = {"input_shape": [32, 32, 3], "layers": [
        {"class_name": "Conv2D", "config": {"filters": 16, "kernel_size": 3}}], "ask": {"layer": 0}}
    variant = variant_of(params)
    assert variant["ask"] == {"layer": 0} and TYPE.solve(variant) == {"value": 448}


def test_ask_a_random_layer_among_classes():
    params = {"input_shape": [{"choices": [28, 32]}, "same", 1], "layers": [
        {"class_name": "Conv2D", "config": {"filters": 8, "kernel_size": 3}},
        {"class_name": "MaxPooling2D", "config": {"pool_size": 2}},
        FLATTEN,
        {"class_name": "Dense", "config": {"units": 32}},
        {"class_name": "Dense", "config": {"units": 10}}],
        "ask": {"layer": "random", "among": ["Dense"]}}
    asked = {variant_of(params, seed)["ask"]["layer"] for seed in range(30)}
    assert asked == {3, 4}


@pytest.mark.parametrize("ask", [
    "all", {"layer": 3}, {"layer": -1}, {"layer": "random"}, {"layer": "random", "among": []},
    {"layer": "random", "among": ["Conv2D"]}, None, {"layer": True},
])
def test_bad_ask_is_refused(ask):
    params = {"input_shape": [8], "layers": [{"class_name": "Dense", "config": {"units": 4}}],
              "ask": ask}
    with pytest.raises(ParamsError):
        TYPE.validate_params(params)


def test_missing_ask_is_refused():
    with pytest.raises(ParamsError):
        TYPE.validate_params({"input_shape": [8], "layers": [FLATTEN]})


def test_impossible_chain_is_refused():
    params = {"input_shape": [5, 5, 1], "layers": [
        {"class_name": "Conv2D", "config": {"filters": 1, "kernel_size": 7}}], "ask": "total"}
    with pytest.raises(ParamsError):
        TYPE.validate_params(params)


def test_answers_and_forms():
    params = {"input_shape": [8], "layers": [{"class_name": "Dense", "config": {"units": 4}}],
              "ask": "total"}
    variant = variant_of(params)
    assert TYPE.parse_answer(variant, {"value": "36"}) == {"value": 36}
    assert TYPE.answer_from_form(variant, {"value": [" 36 "]}) == {"value": 36}
    for bad in ({"value": -1}, {"value": 3.5}, {"value": "abc"}, {"value": True},
                {"value": None}, {"value": 10**16}):
        with pytest.raises(AnswerError):
            TYPE.parse_answer(variant, bad)
    for bad in ({}, {"value": [""]}, {"value": ["x"]}, {"value": ["1", "2"]}):
        with pytest.raises(AnswerError):
            TYPE.answer_from_form(variant, bad)


def test_wrong_values_score_lower_over_seeds():
    params = {"input_shape": [{"choices": [28, 32]}, "same", {"choices": [1, 3]}], "layers": [
        {"class_name": "Conv2D", "config": {"filters": {"choices": [8, 16]}, "kernel_size": 3}},
        {"class_name": "MaxPooling2D", "config": {"pool_size": 2}},
        FLATTEN, {"class_name": "Dense", "config": {"units": 10}}], "ask": "total"}
    for seed in range(20):
        variant = variant_of(params, seed)
        value = TYPE.solve(variant)["value"]
        assert TYPE.grade_answer(variant, {"value": str(value)}).correct
        assert TYPE.grade_answer(variant, {"value": value + 1}).score == 0.0
        form = TYPE.answer_from_form(variant, {"value": [str(value)]})
        assert form == TYPE.solve(variant)
