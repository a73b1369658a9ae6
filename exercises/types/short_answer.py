"""Short text answers: the student's words compared with a list of accepted answers.

Spaces at the ends are dropped and runs of spaces count as one; letters are compared
case-insensitively (``casefold``) unless ``case_sensitive`` is set; accents always count.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from grader.answers import require_fields
from grader.result import AnswerError, GradeResult, i18n

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

MAX_ANSWERS = 30
MAX_LENGTH = 200
_SPACES = re.compile(r"\s+")


def normalise(text: str, *, case_sensitive: bool) -> str:
    text = _SPACES.sub(" ", text.strip())
    return text if case_sensitive else text.casefold()


def _check_text(where_fr: str, where_en: str, answer: Mapping[str, Any]) -> None:
    text = answer["text"]
    if not (isinstance(text, str) and text.strip() and len(text) <= MAX_LENGTH):
        raise params_error(
            f"{where_fr} : « text » est un texte non vide d'au plus {MAX_LENGTH} caractères.",
            f"{where_en}: “text” is a non-empty text of at most {MAX_LENGTH} characters.")


class ShortAnswerType(ExerciseType):
    name = "short_answer"
    label = i18n("Réponse courte", "Short answer")
    form_fields = ("text",)
    params_schema = weighted_answers_schema(
        title="short_answer", max_answers=MAX_ANSWERS, required=["text"],
        fields={"text": {"type": "string", "minLength": 1, "maxLength": MAX_LENGTH}},
        description="Accepted answers; at least one has weight 1.",
        extra={"case_sensitive": {"type": "boolean", "default": False}})

    def validate_params(self, params: Any) -> None:
        require_mapping(params, allowed={"answers", "case_sensitive"}, required={"answers"})
        if "case_sensitive" in params and not isinstance(params["case_sensitive"], bool):
            raise params_error("« case_sensitive » vaut true ou false.",
                               "“case_sensitive” is true or false.")
        check_weighted_answers(params["answers"], max_answers=MAX_ANSWERS, fields=("text",),
                               check_fields=_check_text)
        seen = set()
        for position, answer in enumerate(params["answers"], start=1):
            key = normalise(answer["text"], case_sensitive=params.get("case_sensitive", False))
            if key in seen:
                raise params_error(f"Réponse {position} : « {answer['text']} » est en double.",
                                   f"Answer {position}: “{answer['text']}” is a duplicate.")
            seen.add(key)
        self.check_generation(params)

    def generate(self, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        answers = weighted_answers_key(params["answers"], lambda answer: {"text": answer["text"]})
        return {"max_length": MAX_LENGTH, "_answers": answers,
                "_case_sensitive": bool(params.get("case_sensitive", False))}

    def parse_answer(self, variant: Mapping[str, Any], answer: Any) -> dict[str, Any]:
        text = require_fields(answer, ["text"])["text"]
        if not isinstance(text, str):
            raise AnswerError({"fr": "La réponse « text » est un texte.",
                               "en": "The answer “text” is a string."})
        text = _SPACES.sub(" ", text.strip())
        if not text:
            raise AnswerError({"fr": "La réponse est vide.", "en": "The answer is empty."})
        if len(text) > MAX_LENGTH:
            raise AnswerError({
                "fr": f"La réponse dépasse {MAX_LENGTH} caractères.",
                "en": f"The answer is longer than {MAX_LENGTH} characters.",
            })
        return {"text": text}

    def grade(self, variant: Mapping[str, Any], parsed_answer: Mapping[str, Any]) -> GradeResult:
        sensitive = variant["_case_sensitive"]
        given = normalise(parsed_answer["text"], case_sensitive=sensitive)
        matching = [answer for answer in variant["_answers"]
                    if normalise(answer["text"], case_sensitive=sensitive) == given]
        return weighted_match_result(matching, matched=bool(matching))

    def solve(self, variant: Mapping[str, Any]) -> dict[str, Any]:
        best = max(variant["_answers"], key=lambda answer: answer["weight"])
        return {"text": best["text"]}

    def answer_from_form(self, variant: Mapping[str, Any], data: Any) -> dict[str, Any]:
        return {"text": form_value(data, "text")}
