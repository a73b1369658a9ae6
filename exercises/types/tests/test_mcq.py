import numpy as np
import pytest

from exercises.types import get_type
from grader.result import AnswerError, ParamsError

TYPE = get_type("mcq")


def choice(key, correct, feedback=True):
    item = {"id": key, "text": {"fr": f"Proposition {key}", "en": f"Choice {key}"},
            "correct": correct}
    if feedback:
        item["feedback"] = {"fr": f"Avis sur {key}", "en": f"About {key}"}
    return item


SINGLE = {"multiple": False, "shuffle": True,
          "choices": [choice("a", False), choice("b", True), choice("c", False, False),
                      choice("d", False)]}
MULTIPLE = {"multiple": True,
            "choices": [choice("a", True), choice("b", True), choice("c", False),
                        choice("d", False, False), choice("e", True)]}


def variant_of(params, seed=0):
    TYPE.validate_params(params)
    return TYPE.generate(params, np.random.default_rng(seed))


def test_single_answer_variant():
    variant = variant_of(SINGLE)
    assert variant["multiple"] is False
    assert sorted(item["id"] for item in variant["choices"]) == ["a", "b", "c", "d"]
    assert variant["_correct"] == ["b"]
    assert set(variant["_feedback"]) == {"a", "b", "d"}
    assert TYPE.solve(variant) == {"choices": ["b"]}
    assert TYPE.grade_answer(variant, {"choices": ["b"]}).score == 1.0
    wrong = TYPE.grade_answer(variant, {"choices": ["a"]})
    assert wrong.score == 0.0 and "Avis sur a" in wrong.feedback["fr"]
    with pytest.raises(AnswerError):
        TYPE.parse_answer(variant, {"choices": ["a", "b"]})


def test_multiple_answer_scoring():
    variant = variant_of(MULTIPLE)
    grade = lambda chosen: TYPE.grade_answer(variant, {"choices": chosen})  # noqa: E731
    assert grade(["a", "b", "e"]).correct
    assert grade(["a", "b"]).score == pytest.approx(2 / 3)
    assert grade(["a", "b", "c"]).score == pytest.approx(1 / 3)
    assert grade(["c", "d"]).score == 0.0
    with pytest.raises(AnswerError):
        grade(["a", "a"])
    with pytest.raises(AnswerError):
        grade(["z"])
    with pytest.raises(AnswerError):
        grade([])


def test_shuffled_per_student_unless_told_not_to():
    orders = {tuple(item["id"] for item in variant_of(SINGLE, seed)["choices"])
              for seed in range(30)}
    assert len(orders) > 5
    fixed = {**SINGLE, "shuffle": False}
    orders = {tuple(item["id"] for item in variant_of(fixed, seed)["choices"])
              for seed in range(10)}
    assert orders == {("a", "b", "c", "d")}


def test_form_round_trip():
    variant = variant_of(MULTIPLE, 4)
    answer = TYPE.solve(variant)
    assert TYPE.answer_from_form(variant, {"choices": answer["choices"]}) == answer
    assert TYPE.answer_from_form(variant, {"choices": "a"}) == {"choices": ["a"]}
    with pytest.raises(AnswerError):
        TYPE.answer_from_form(variant, {"choices": []})
    with pytest.raises(AnswerError):
        TYPE.answer_from_form(variant, {})


@pytest.mark.parametrize("params", [
    {"choices": [choice("a", False), choice("b", False)]},                     # none correct
    {"multiple": False, "choices": [choice("a", True), choice("b", True)]},    # two for single
    {"choices": [choice("a", True)]},                                          # one choice
    {"choices": [choice("a", True), choice("a", False)]},                      # duplicate ids
    {"choices": [choice("a b", True), choice("c", False)]},                    # bad id
    {"choices": [{**choice("a", True), "text": "texte"}, choice("b", False)]},
    {"choices": [{**choice("a", True), "text": {"fr": "seul"}}, choice("b", False)]},
    {"choices": [{**choice("a", True), "feedback": {"fr": "", "en": "x"}}, choice("b", False)]},
    {"choices": [{**choice("a", True), "correct": "yes"}, choice("b", False)]},
    {"choices": [{**choice("a", True), "colour": "red"}, choice("b", False)]},
    {"multiple": "no", "choices": [choice("a", True), choice("b", False)]},
    {"choices": "a,b"},
    {},
])
def test_impossible_params_are_refused(params):
    with pytest.raises(ParamsError):
        TYPE.validate_params(params)
