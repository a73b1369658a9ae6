"""Numerical questions: a number, right within a tolerance, with partial credit per answer.

Several accepted answers may carry different weights (Moodle's GIFT ``{#=3.14:0.01 =%50%3:0.5}``):
the score is the best weight among the answers the number falls within.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from grader.answers import parse_float, require_fields
from grader.result import GradeResult, I18nText, i18n

from .base import (
    ExerciseType,
    check_weighted_answers,
    form_value,
    params_error,
    require_mapping,
    weighted_answers_key,
    weighted_answers_schema,
    weighted_match_result,
)

MAX_ANSWERS = 20
MAX_UNIT = 40
# Answers are parsed with grader.answers.parse_float: keep the key within its reach.
MAX_VALUE = 1e12


def _number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _check_value_and_tolerance(where_fr: str, where_en: str, answer: Mapping[str, Any]) -> None:
    if not (_number(answer["value"]) and abs(answer["value"]) <= MAX_VALUE):
        raise params_error(
            f"{where_fr} : « value » est un nombre fini, pas {answer['value']!r}.",
            f"{where_en}: “value” is a finite number, not {answer['value']!r}.")
    if not (_number(answer["tolerance"]) and answer["tolerance"] >= 0):
        raise params_error(
            f"{where_fr} : « tolerance » est un nombre positif ou nul, pas {answer['tolerance']!r}.",
            f"{where_en}: “tolerance” is a number >= 0, not {answer['tolerance']!r}.")


class NumericType(ExerciseType):
    name = "numeric"
    label = i18n("Réponse numérique", "Numerical answer")
    form_fields = ("value",)
    params_schema = weighted_answers_schema(
        title="numeric", max_answers=MAX_ANSWERS, required=["value", "tolerance"],
        fields={"value": {"type": "number"}, "tolerance": {"type": "number", "minimum": 0}},
        description="Accepted values; at least one has weight 1.",
        extra={"unit": {"type": "string", "maxLength": MAX_UNIT, "description": "Shown after the input field."}})

    def validate_params(self, params: Any) -> None:
        require_mapping(params, allowed={"answers", "unit"}, required={"answers"})
        if "unit" in params and not (isinstance(params["unit"], str)
                                     and len(params["unit"]) <= MAX_UNIT):
            raise params_error(f"« unit » est un texte d'au plus {MAX_UNIT} caractères.",
                               f"“unit” is a text of at most {MAX_UNIT} characters.")
        check_weighted_answers(params["answers"], max_answers=MAX_ANSWERS, fields=("value", "tolerance"),
                               check_fields=_check_value_and_tolerance)
        self.check_generation(params)

    def generate(self, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        answers = weighted_answers_key(params["answers"], lambda answer: {
            "value": float(answer["value"]), "tolerance": float(answer["tolerance"])})
        return {"unit": str(params.get("unit", "")), "_answers": answers}

    def parse_answer(self, variant: Mapping[str, Any], answer: Any) -> dict[str, Any]:
        fields = require_fields(answer, ["value"])
        return {"value": parse_float(fields["value"], limit=MAX_VALUE * 10)}

    def grade(self, variant: Mapping[str, Any], parsed_answer: Mapping[str, Any]) -> GradeResult:
        value = float(parsed_answer["value"])
        # A hair of slack, so that 0.1 + 0.2 falls within 0.3 ± 0.
        matching = [answer for answer in variant["_answers"]
                    if abs(value - answer["value"])
                    <= answer["tolerance"] + 1e-9 * max(1.0, abs(answer["value"]))]
        return weighted_match_result(matching, matched=len(matching))

    def solve(self, variant: Mapping[str, Any]) -> dict[str, Any]:
        best = max(variant["_answers"], key=lambda answer: answer["weight"])
        return {"value": best["value"]}

    def _describe(self, variant: Mapping[str, Any], parsed: Mapping[str, Any]) -> I18nText:
        text = f"{parsed['value']:g}"
        unit = f" {variant['unit']}" if variant.get("unit") else ""
        return i18n(text.replace(".", ",") + unit, text + unit)

    def answer_from_form(self, variant: Mapping[str, Any], data: Any) -> dict[str, Any]:
        return {"value": form_value(data, "value")}
