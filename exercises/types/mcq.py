"""Multiple-choice questions, with one or several right answers, shuffled per student."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from grader.answers import parse_choices, require_fields
from grader.mcq import grade_mcq
from grader.result import AnswerError, GradeResult, I18nText, i18n

from .base import (
    I18N_SCHEMA,
    JSON_SCHEMA_DIALECT,
    ExerciseType,
    check_localised,
    form_values,
    params_error,
    require_mapping,
)

CHOICE_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
MAX_CHOICES = 26


class McqType(ExerciseType):
    name = "mcq"
    label = i18n("Questionnaire à choix multiples", "Multiple-choice question")
    form_fields = ("choices",)
    params_schema = {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "mcq",
        "type": "object",
        "additionalProperties": False,
        "required": ["choices"],
        "properties": {
            "multiple": {"type": "boolean", "default": False,
                         "description": "Several right answers (check boxes) or one (radio)."},
            "shuffle": {"type": "boolean", "default": True,
                        "description": "Shuffle the choices for each student."},
            "choices": {
                "type": "array", "minItems": 2, "maxItems": MAX_CHOICES,
                "items": {
                    "type": "object", "additionalProperties": False,
                    "required": ["id", "text", "correct"],
                    "properties": {
                        "id": {"type": "string", "pattern": f"^{CHOICE_ID.pattern}$"},
                        "text": I18N_SCHEMA,
                        "correct": {"type": "boolean"},
                        "weight": {"type": "number", "minimum": -1, "maximum": 1,
                                   "description": "Partial credit (Moodle's %50%): the share of the mark this choice earns."},
                        "feedback": I18N_SCHEMA,
                    },
                },
            },
        },
    }

    def validate_params(self, params: Any) -> None:
        require_mapping(params, allowed={"multiple", "shuffle", "choices"},
                        required={"choices"})
        for key in ("multiple", "shuffle"):
            if key in params and not isinstance(params[key], bool):
                raise params_error(f"« {key} » vaut true ou false.",
                                   f"“{key}” is true or false.")
        choices = params["choices"]
        if not isinstance(choices, list) or not 2 <= len(choices) <= MAX_CHOICES:
            raise params_error(f"Il faut entre 2 et {MAX_CHOICES} propositions.",
                               f"Between 2 and {MAX_CHOICES} choices are needed.")
        for position, choice in enumerate(choices, start=1):
            self._validate_choice(position, choice)
        ids = [choice["id"] for choice in choices]
        if len(set(ids)) != len(ids):
            raise params_error("Deux propositions ont le même identifiant.",
                               "Two choices have the same id.")
        right = sum(choice["correct"] for choice in choices)
        if right == 0:
            raise params_error("Aucune proposition n'est marquée correcte.",
                               "No choice is marked correct.")
        if not params.get("multiple", False) and right != 1:
            raise params_error(
                f"Question à réponse unique, mais {right} propositions sont correctes : "
                f"mettez « multiple: true » ou n'en gardez qu'une.",
                f"Single-answer question, but {right} choices are correct: set "
                f"“multiple: true” or keep only one.")
        self.check_generation(params)

    @staticmethod
    def _validate_choice(position: int, choice: Any) -> None:
        where = f"Proposition {position}"
        if not isinstance(choice, Mapping):
            raise params_error(f"{where} : un objet {{id, text, correct}} est attendu.",
                               f"Choice {position}: an object {{id, text, correct}} is expected.")
        extra = set(choice) - {"id", "text", "correct", "feedback", "weight"}
        missing = {"id", "text", "correct"} - set(choice)
        if extra or missing:
            key = sorted(extra or missing)[0]
            raise params_error(f"{where} : clé {'inconnue' if extra else 'manquante'} « {key} ».",
                               f"Choice {position}: {'unknown' if extra else 'missing'} key "
                               f"“{key}”.")
        if not (isinstance(choice["id"], str) and CHOICE_ID.fullmatch(choice["id"])):
            raise params_error(
                f"{where} : l'identifiant est fait de 1 à 40 lettres, chiffres, - ou _, "
                f"pas {choice['id']!r}.",
                f"Choice {position}: the id is 1 to 40 letters, digits, - or _, "
                f"not {choice['id']!r}.")
        if not isinstance(choice["correct"], bool):
            raise params_error(f"{where} : « correct » vaut true ou false.",
                               f"Choice {position}: “correct” is true or false.")
        weight = choice.get("weight", 0.0)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not -1 <= weight <= 1:
            raise params_error(f"{where} : le poids est un nombre entre -1 et 1 (0,5 pour 50 %).",
                               f"Choice {position}: the weight is a number between -1 and 1 (0.5 for 50%).")
        check_localised(choice["text"], f"{where}, text")
        if "feedback" in choice:
            check_localised(choice["feedback"], f"{where}, feedback")

    def generate(self, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        choices = list(params["choices"])
        # Always draw, so a variant's other numbers do not depend on the shuffle flag.
        order = rng.permutation(len(choices))
        if params.get("shuffle", True):
            choices = [choices[index] for index in order]
        return {
            "multiple": bool(params.get("multiple", False)),
            "choices": [{"id": choice["id"], "text": dict(choice["text"])} for choice in choices],
            "_correct": [choice["id"] for choice in choices if choice["correct"]],
            "_feedback": {choice["id"]: dict(choice["feedback"])
                          for choice in choices if "feedback" in choice},
            # Partial credit, only when the author gave weights (else the classic rule).
            "_weights": {choice["id"]: float(choice.get("weight", 1.0 if choice["correct"] else 0.0))
                         for choice in choices} if any("weight" in c for c in choices) else {},
        }

    def parse_answer(self, variant: Mapping[str, Any], answer: Any) -> dict[str, Any]:
        fields = require_fields(answer, ["choices"])
        valid = [choice["id"] for choice in variant["choices"]]
        return {"choices": parse_choices(fields["choices"], valid, variant["multiple"])}

    def grade(self, variant: Mapping[str, Any], parsed_answer: Mapping[str, Any]) -> GradeResult:
        return grade_mcq(
            correct_ids=variant["_correct"], chosen_ids=parsed_answer["choices"],
            multiple=variant["multiple"], feedback_by_id=variant["_feedback"],
            text_by_id={choice["id"]: choice["text"] for choice in variant["choices"]},
            weight_by_id=variant.get("_weights") or None,
        )

    def solve(self, variant: Mapping[str, Any]) -> dict[str, Any]:
        return {"choices": list(variant["_correct"])}

    def _describe(self, variant: Mapping[str, Any], parsed: Mapping[str, Any]) -> I18nText:
        texts = {choice["id"]: choice["text"] for choice in variant["choices"]}
        return i18n(" ; ".join(f"« {texts[c]['fr']} »" for c in parsed["choices"]),
                    "; ".join(f"“{texts[c]['en']}”" for c in parsed["choices"]))

    def answer_from_form(self, variant: Mapping[str, Any], data: Any) -> dict[str, Any]:
        chosen = form_values(data, "choices")
        if not chosen:
            raise AnswerError({"fr": "Choisissez une réponse.", "en": "Choose an answer."})
        return {"choices": chosen}
