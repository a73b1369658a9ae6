import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grader.answers import (
    MAX_COEFFICIENT,
    MAX_INT,
    parse_choices,
    parse_float,
    parse_int,
    parse_kernel,
    parse_shape,
    require_fields,
)
from grader.result import AnswerError

from .strategies import json_like

# ----------------------------------------------------------------------------- parse_int

@pytest.mark.parametrize("raw, expected", [
    (12, 12), ("12", 12), (" 12 ", 12), ("+7", 7), ("-3", -3), ("−3", -3), (3.0, 3),
    ("1e3", 1000), ("3 600 000 100", 3_600_000_100), ("3\u202f600\u202f000", 3_600_000),
    ("1_000", 1000), ("-12 000", -12000), ("12 000,0", 12000), (np.int64(5), 5),
    (MAX_INT, MAX_INT), (3_600_000_100, 3_600_000_100),
])
def test_parse_int_accepts(raw, expected):
    value = parse_int(raw)
    assert value == expected and type(value) is int


@pytest.mark.parametrize("raw", [
    True, False, None, "abc", "", "   ", "1e999", float("nan"), float("inf"), -float("inf"),
    3.5, " 3.5 ", "3,5", "1/9", [3], {"value": 3}, MAX_INT + 1, -(MAX_INT + 1), "9" * 200,
    "3,600,000", np.bool_(True), "12abc", "1 2 3x", "32 32 3", "3 6000", "1__000",
])
def test_parse_int_rejects(raw):
    with pytest.raises(AnswerError) as caught:
        parse_int(raw)
    assert caught.value.message["fr"] and caught.value.message["en"]


def test_parse_int_says_why_a_float_is_refused():
    with pytest.raises(AnswerError) as caught:
        parse_int(3.5)
    assert "entier" in caught.value.message["fr"] and "whole" in caught.value.message["en"]


# ----------------------------------------------------------------------------- parse_float

@pytest.mark.parametrize("raw, expected", [
    (0.5, 0.5), ("0.5", 0.5), ("0,5", 0.5), (" -1 ", -1.0), ("1/9", 1 / 9), ("-2 / 4", -0.5),
    (".5", 0.5), (2, 2.0), (MAX_COEFFICIENT, MAX_COEFFICIENT),
])
def test_parse_float_accepts(raw, expected):
    assert parse_float(raw) == pytest.approx(expected)


@pytest.mark.parametrize("raw", [
    True, None, "abc", "", "1e999", "nan", "inf", float("nan"), float("-inf"), "1/0",
    MAX_COEFFICIENT * 2, "1,2,3", [1.0],
])
def test_parse_float_rejects(raw):
    with pytest.raises(AnswerError):
        parse_float(raw)


# ----------------------------------------------------------------------------- parse_shape

def test_parse_shape_accepts_lists_of_positive_integers():
    assert parse_shape([32, "32", 16.0]) == (32, 32, 16)
    assert parse_shape((10,)) == (10,)
    assert parse_shape(np.array([5, 5, 1])) == (5, 5, 1)


@pytest.mark.parametrize("raw", [
    None, "32,32,3", 32, [], [0, 3], [-1, 3], [3.5, 3], [True, 3], [None, 32, 32, 3],
    ["abc"], [[32]], list(range(1, 11)), {"shape": [1]},
])
def test_parse_shape_rejects(raw):
    with pytest.raises(AnswerError):
        parse_shape(raw)


def test_parse_shape_explains_a_batch_none():
    with pytest.raises(AnswerError) as caught:
        parse_shape([None, 32, 32, 3])
    assert "batch" in caught.value.message["fr"]


# ----------------------------------------------------------------------------- parse_kernel

def test_parse_kernel_reads_three_rows():
    kernel = parse_kernel([[0, -1, 0], ["-1", "4", "-1"], [0, "-1", 0.0]])
    assert kernel.dtype == np.float64 and kernel.shape == (3, 3)
    assert kernel.tolist() == [[0, -1, 0], [-1, 4, -1], [0, -1, 0]]
    assert parse_kernel([["1/9"] * 3] * 3).sum() == pytest.approx(1.0)


@pytest.mark.parametrize("raw", [
    None, [1] * 9, [[1, 2, 3]] * 2, [[1, 2]] * 3, [[1, 2, 3]] * 4, [[1, 2, 3], [1, 2, 3], [1, 2]],
    [[1, 2, 3], [1, 2, 3], [1, 2, "x"]], [[1, 2, 3], [1, 2, 3], [1, 2, float("nan")]],
    [[1, 2, 3], [1, 2, 3], [1, 2, 1e7]], [[1, 2, 3], [1, 2, 3], [1, 2, True]], "[[1]]",
    np.zeros((4, 4)),
])
def test_parse_kernel_rejects(raw):
    with pytest.raises(AnswerError):
        parse_kernel(raw)


# ----------------------------------------------------------------------------- parse_choices

def test_parse_choices():
    assert parse_choices(["b", "a"], ["a", "b", "c"], True) == ["b", "a"]
    assert parse_choices("a", ["a", "b"], False) == ["a"]
    assert parse_choices(["a"], ["a", "b"], multiple=False) == ["a"]


@pytest.mark.parametrize("raw, multiple", [
    (["a", "b"], False), (["a", "a"], True), (["z"], True), ([], True), ([1], True), (None, True),
    ({"a": True}, True), ("z", False), ([["a"]], True),
])
def test_parse_choices_rejects(raw, multiple):
    with pytest.raises(AnswerError):
        parse_choices(raw, ["a", "b", "c"], multiple)


# ----------------------------------------------------------------------------- require_fields

def test_require_fields():
    assert require_fields({"value": 3}, ["value"]) == {"value": 3}
    for bad in (None, [], "3", {}, {"valeur": 3}, {"value": 3, "extra": 1}):
        with pytest.raises(AnswerError):
            require_fields(bad, ["value"])


# ----------------------------------------------------------------------------- properties

@given(json_like)
def test_parsers_raise_only_answer_errors(obj):
    for parse in (parse_int, parse_float, parse_shape, parse_kernel,
                  lambda o: parse_choices(o, ["a", "b"], True),
                  lambda o: parse_choices(o, ["a", "b"], False),
                  lambda o: require_fields(o, ["shape"])):
        try:
            parse(obj)
        except AnswerError as error:
            assert error.message["fr"] and error.message["en"]


@given(st.integers(min_value=-MAX_INT, max_value=MAX_INT))
def test_parse_int_accepts_every_integer_in_range(value):
    assert parse_int(value) == value
    assert parse_int(str(value)) == value
    assert parse_int(f"  {value}  ") == value


@given(st.floats(min_value=-MAX_COEFFICIENT, max_value=MAX_COEFFICIENT, allow_nan=False))
def test_parse_float_round_trips_reprs(value):
    assert parse_float(value) == value
    assert parse_float(repr(value)) == value


@given(st.floats().filter(lambda x: math.isnan(x) or math.isinf(x) or abs(x) > MAX_COEFFICIENT))
def test_parse_float_refuses_non_finite_or_huge(value):
    with pytest.raises(AnswerError):
        parse_float(value)


@given(st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=8))
def test_parse_shape_accepts_positive_lists(dims):
    assert parse_shape(dims) == tuple(dims)
    assert parse_shape([str(dim) for dim in dims]) == tuple(dims)


@given(st.lists(st.lists(st.floats(-1e6, 1e6), min_size=3, max_size=3), min_size=3, max_size=3))
def test_parse_kernel_accepts_any_finite_3x3(rows):
    assert parse_kernel(rows).tolist() == rows


@given(st.lists(st.sampled_from("abcde"), min_size=1, max_size=5, unique=True))
def test_parse_choices_accepts_distinct_known_ids(ids):
    assert parse_choices(ids, "abcde", True) == ids
