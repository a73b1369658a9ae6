import numpy as np
import pytest

from exercises.types import get_type
from grader.result import AnswerError, ParamsError

NUMERIC = get_type("numeric")
SHORT = get_type("short_answer")

NUM_PARAMS = {
    "unit": "cm",
    "answers": [
        {"value": 3.5, "tolerance": 0.01, "weight": 1, "feedback": {"fr": "Exact.", "en": "Exact."}},
        {"value": 3.5, "tolerance": 0.5, "weight": 0.5, "feedback": {"fr": "Proche.", "en": "Close."}},
        {"value": 0.1111, "tolerance": 0.001},
    ],
}
SHORT_PARAMS = {
    "answers": [
        {"text": "Chat noir", "weight": 1, "feedback": {"fr": "Oui.", "en": "Yes."}},
        {"text": "minou", "weight": 0.5},
        {"text": "Éléphant", "weight": 0},
    ],
}


def variant_of(exercise_type, params, seed=0):
    exercise_type.validate_params(params)
    return exercise_type.generate(params, np.random.default_rng(seed))


def test_numeric_solve_grade_and_partial_credit():
    variant = variant_of(NUMERIC, NUM_PARAMS)
    assert NUMERIC.public_variant(variant) == {"unit": "cm"}
    assert NUMERIC.solve(variant) == {"value": 3.5}
    best = NUMERIC.grade_answer(variant, NUMERIC.solve(variant))
    assert best.score == 1.0 and best.correct and "Exact." in best.feedback["en"]
    assert "hint" in best.details
    close = NUMERIC.grade_answer(variant, {"value": 3.8})
    assert close.score == 0.5 and not close.correct and "Close." in close.feedback["en"]
    assert "Exact." not in close.feedback["en"]
    assert NUMERIC.grade_answer(variant, {"value": 10}).score == 0.0
    assert NUMERIC.grade_answer(variant, {"value": "1/9"}).score == 1.0
    assert NUMERIC.grade_answer(variant, {"value": "3,5"}).score == 1.0


def test_numeric_malformed_answers():
    variant = variant_of(NUMERIC, NUM_PARAMS)
    for bad in (None, {}, {"value": "abc"}, {"value": True}, {"value": 1, "x": 2},
                {"value": "1/0"}, {"value": float("nan")}):
        with pytest.raises(AnswerError):
            NUMERIC.parse_answer(variant, bad)


def test_numeric_form_round_trip():
    variant = variant_of(NUMERIC, NUM_PARAMS)
    answer = NUMERIC.answer_from_form(variant, {"value": [" 3,5 "]})
    assert answer == {"value": "3,5"}
    assert NUMERIC.grade_answer(variant, answer).correct
    with pytest.raises(AnswerError):
        NUMERIC.answer_from_form(variant, {})
    with pytest.raises(AnswerError):
        NUMERIC.answer_from_form(variant, {"value": ["1", "2"]})


@pytest.mark.parametrize("bad", [
    None, [], {}, {"answers": []}, {**NUM_PARAMS, "extra": 1},
    {"answers": [{"value": 1, "tolerance": -1}]},
    {"answers": [{"value": "1", "tolerance": 0}]},
    {"answers": [{"value": 1, "tolerance": 0, "weight": 2}]},
    {"answers": [{"value": 1, "tolerance": 0, "weight": 0.5}]},
    {"answers": [{"value": float("inf"), "tolerance": 0}]},
    {"answers": [{"value": 1}]},
    {"answers": [{"value": 1, "tolerance": 0, "feedback": "x"}]},
    {"answers": [{"value": 1, "tolerance": 0}], "unit": 3},
])
def test_numeric_validate_params_rejects(bad):
    with pytest.raises(ParamsError):
        NUMERIC.validate_params(bad)


def test_short_answer_solve_grade_and_normalisation():
    variant = variant_of(SHORT, SHORT_PARAMS)
    assert not [key for key in SHORT.public_variant(variant) if key.startswith("_")]
    assert SHORT.solve(variant) == {"text": "Chat noir"}
    best = SHORT.grade_answer(variant, SHORT.solve(variant))
    assert best.correct and best.score == 1.0 and "Yes." in best.feedback["en"]
    assert SHORT.grade_answer(variant, {"text": "  CHAT   noir "}).score == 1.0
    assert SHORT.grade_answer(variant, {"text": "Minou"}).score == 0.5
    assert SHORT.grade_answer(variant, {"text": "chien"}).score == 0.0
    assert SHORT.grade_answer(variant, {"text": "éléphant"}).score == 0.0
    assert SHORT.grade_answer(variant, {"text": "elephant"}).score == 0.0  # accents count


def test_short_answer_case_sensitive():
    params = {"answers": [{"text": "NaCl"}], "case_sensitive": True}
    variant = variant_of(SHORT, params)
    assert SHORT.grade_answer(variant, {"text": "NaCl"}).correct
    assert SHORT.grade_answer(variant, {"text": "nacl"}).score == 0.0


def test_short_answer_malformed_answers():
    variant = variant_of(SHORT, SHORT_PARAMS)
    for bad in (None, {}, {"text": 3}, {"text": "   "}, {"text": "x" * 201},
                {"text": "a", "x": 1}):
        with pytest.raises(AnswerError):
            SHORT.parse_answer(variant, bad)


def test_short_answer_form_round_trip():
    variant = variant_of(SHORT, SHORT_PARAMS)
    answer = SHORT.answer_from_form(variant, {"text": "chat noir"})
    assert SHORT.grade_answer(variant, answer).correct
    with pytest.raises(AnswerError):
        SHORT.answer_from_form(variant, {})


@pytest.mark.parametrize("bad", [
    None, [], {}, {"answers": []}, {**SHORT_PARAMS, "extra": 1},
    {"answers": [{"text": ""}]},
    {"answers": [{"text": "a", "weight": -0.1}]},
    {"answers": [{"text": "a", "weight": 0.5}]},
    {"answers": [{"text": "a"}, {"text": " A "}]},
    {"answers": [{"text": "a"}], "case_sensitive": "no"},
    {"answers": [{"text": "x" * 201}]},
])
def test_short_answer_validate_params_rejects(bad):
    with pytest.raises(ParamsError):
        SHORT.validate_params(bad)
