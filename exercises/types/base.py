"""The contract every exercise type fulfils, and helpers shared by the types.

No Django here: the types are plain Python so the grader tests and the workers can use them.
A *variant* is a JSON-safe dict; keys starting with "_" are private (the answer key) and
``public_variant`` strips them before anything reaches a student.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from grader.result import AnswerError, GradeResult, I18nText, ParamsError, i18n

# The grading kinds (``ExerciseType.grading``).
INSTANT, UPLOAD, GENERATION = "instant", "upload", "generation"
GRADING_KINDS = (INSTANT, UPLOAD, GENERATION)

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# How many seeds validate_params tries: enough to catch a template that sometimes fails.
VALIDATION_SEEDS = 30

I18N_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["fr", "en"],
    "additionalProperties": False,
    "properties": {
        "fr": {"type": "string", "minLength": 1},
        "en": {"type": "string", "minLength": 1},
    },
}


class ExerciseType:
    """One kind of exercise. Subclasses fill in the class attributes and the methods."""

    name: ClassVar[str] = ""
    label: ClassVar[I18nText] = {"fr": "", "en": ""}
    params_schema: ClassVar[dict[str, Any]] = {}
    # Names of the HTML form fields, in order (the template draws them).
    form_fields: ClassVar[tuple[str, ...]] = ()
    # How the type is graded: INSTANT in the request; UPLOAD (a file a worker grades) and
    # GENERATION (a diffusion run a worker makes and judges) have pages and API endpoints of
    # their own, in ``exercises.submissions`` and ``exercises.lab`` (``exercises.grading``
    # wires each kind to them). No code asks for a type by its name.
    grading: ClassVar[str] = INSTANT
    # The grade comes from a hidden split that students see only after the due date
    # (``exercises.engine.visibility``).
    private_split: ClassVar[bool] = False

    @property
    def instant(self) -> bool:
        return self.grading == INSTANT

    @property
    def template_name(self) -> str:
        return f"exercises/types/{self.name}.html"

    def validate_params(self, params: Any) -> None:
        """Raise ``ParamsError`` unless every variant these params can give is possible."""
        raise NotImplementedError

    def generate(self, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        """One student's variant; the same generator state always gives the same variant."""
        raise NotImplementedError

    def parse_answer(self, variant: Mapping[str, Any], answer: Any) -> dict[str, Any]:
        """The answer, checked and normalised (JSON-safe, in the API's shape)."""
        raise NotImplementedError

    def grade(self, variant: Mapping[str, Any], parsed_answer: Mapping[str, Any]) -> GradeResult:
        """Grade an answer returned by ``parse_answer``."""
        raise NotImplementedError

    def solve(self, variant: Mapping[str, Any]) -> dict[str, Any]:
        """A reference answer, in the API's shape."""
        raise NotImplementedError

    def answer_from_form(self, variant: Mapping[str, Any], data: Any) -> dict[str, Any]:
        """The API-shaped answer from HTML form fields (a QueryDict or a dict of lists)."""
        raise NotImplementedError

    def describe_answer(self, variant: Mapping[str, Any], answer: Any) -> I18nText:
        """A stored answer in words, for the student's history (never raw JSON). A stored
        answer that no longer parses is shown as it was sent."""
        try:
            text = self._describe(variant, self.parse_answer(variant, answer))
        except (AnswerError, KeyError, TypeError, ValueError, IndexError):
            text = None
        if text is None:
            shown = answer.get(next(iter(answer))) if isinstance(answer, Mapping) and len(answer) == 1 else answer
            return i18n(str(shown), str(shown))
        return text

    def _describe(self, variant: Mapping[str, Any], parsed: Mapping[str, Any]) -> I18nText | None:
        """The parsed answer in words; None: shown as sent."""
        return None

    def grade_answer(self, variant: Mapping[str, Any], answer: Any) -> GradeResult:
        """``parse_answer`` then ``grade``: raises ``AnswerError`` on a malformed answer."""
        return self.grade(variant, self.parse_answer(variant, answer))

    def public_variant(self, variant: Mapping[str, Any]) -> dict[str, Any]:
        """The variant as a student may see it: the private "_" keys removed."""
        return {key: copy.deepcopy(value) for key, value in variant.items()
                if not key.startswith("_")}

    def check_generation(self, params: Mapping[str, Any]) -> None:
        """Generate for several seeds: a ParamsError there is an impossible variant."""
        for seed in range(VALIDATION_SEEDS):
            self.generate(params, np.random.default_rng(seed))


# ----------------------------------------------------------------------------- params helpers

def params_error(fr: str, en: str) -> ParamsError:
    return ParamsError(i18n(fr, en))


def require_mapping(params: Any, *, allowed: set[str], required: set[str]) -> Mapping[str, Any]:
    if not isinstance(params, Mapping):
        raise params_error("Les paramètres doivent former un objet (un dictionnaire).",
                           "The params must be an object (a mapping).")
    unknown = sorted(str(key) for key in params if key not in allowed)
    if unknown:
        raise params_error(f"Paramètre inconnu : « {unknown[0]} ».",
                           f"Unknown parameter: “{unknown[0]}”.")
    missing = sorted(key for key in required if key not in params)
    if missing:
        raise params_error(f"Paramètre manquant : « {missing[0]} ».",
                           f"Missing parameter: “{missing[0]}”.")
    return params


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_localised(value: Any, where: str) -> None:
    """A localised text: {"fr": "...", "en": "..."}, both non-empty."""
    if not (isinstance(value, Mapping) and set(value) == {"fr", "en"}
            and all(isinstance(value[lang], str) and value[lang].strip() for lang in ("fr", "en"))):
        raise params_error(
            f"{where} : un texte s'écrit {{fr: \"...\", en: \"...\"}}, les deux langues non "
            f"vides, pas {value!r}.",
            f"{where}: a text is written {{fr: \"...\", en: \"...\"}}, both languages "
            f"non-empty, not {value!r}.")


def pick(rng: np.random.Generator, options: Sequence[Any]) -> Any:
    """One option drawn uniformly, as a plain Python value."""
    return copy.deepcopy(options[int(rng.integers(len(options)))])


# ----------------------------------------------------------------------------- answer helpers

def form_values(data: Any, field: str) -> list[str]:
    """Every value posted under ``field``, blanks dropped."""
    if hasattr(data, "getlist"):
        values = data.getlist(field)
    else:
        raw = data.get(field, []) if isinstance(data, Mapping) else []
        values = [raw] if isinstance(raw, str) else list(raw)
    return [value.strip() for value in values if isinstance(value, str) and value.strip()]


def form_value(data: Any, field: str, *, required: bool = True) -> str | None:
    values = form_values(data, field)
    if not values:
        if required:
            raise AnswerError({
                "fr": f"Le champ « {field} » est vide.",
                "en": f"The field “{field}” is empty.",
            })
        return None
    if len(values) > 1:
        raise AnswerError({
            "fr": f"Le champ « {field} » est envoyé plusieurs fois.",
            "en": f"The field “{field}” is sent more than once.",
        })
    return values[0]


def field_error(field: str, error: AnswerError) -> AnswerError:
    """Prefix an AnswerError with the form field it comes from."""
    return AnswerError({
        "fr": f"Champ « {field} » : {error.message['fr']}",
        "en": f"Field “{field}”: {error.message['en']}",
    })


def weighted_match_result(matching: Sequence[Mapping[str, Any]], **details: Any) -> GradeResult:
    """Grade by the best weight among the accepted answers that match (numeric, short answer):
    a headline, then the teacher's feedback on each match."""
    from grader.text import join_lines

    score = max((answer["weight"] for answer in matching), default=0.0)
    if score == 1.0:
        headline = i18n("Bonne réponse.", "Correct.")
    elif score > 0:
        headline = i18n(f"Réponse en partie juste ({score:.0%} des points).", f"Partly right ({score:.0%} of the marks).")
    else:
        headline = i18n("Ce n'est pas la bonne réponse.", "That is not the right answer.")
    lines = [headline] + [answer["feedback"] for answer in matching if "feedback" in answer]
    return GradeResult(score=score, correct=score == 1.0, feedback=join_lines(lines), details={**details, "hint": headline})


# ----------------------------------------------------------------- weighted accepted answers
# numeric and short_answer both take a list of accepted answers, each with an optional weight
# (the share of the marks) and feedback; these helpers hold what the two have in common.

def weighted_answers_schema(*, title: str, max_answers: int, fields: dict[str, Any], required: list[str],
                            description: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The params schema of a type graded against weighted accepted answers: ``answers`` (the
    type's ``fields``, plus an optional weight and feedback each) and the type's ``extra`` params."""
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": title,
        "type": "object",
        "additionalProperties": False,
        "required": ["answers"],
        "properties": {
            "answers": {
                "type": "array", "minItems": 1, "maxItems": max_answers,
                "items": {
                    "type": "object", "additionalProperties": False,
                    "required": required,
                    "properties": {
                        **fields,
                        "weight": {"type": "number", "minimum": 0, "maximum": 1, "default": 1},
                        "feedback": I18N_SCHEMA,
                    },
                },
                "description": description,
            },
            **extra,
        },
    }


def check_weighted_answers(answers: Any, *, max_answers: int, fields: tuple[str, ...], check_fields) -> None:
    """1 to ``max_answers`` answers, each with exactly ``fields`` plus optional weight and
    feedback (``check_fields(where_fr, where_en, answer)`` checks the type's own fields), and
    at least one worth full marks."""
    if not isinstance(answers, list) or not 1 <= len(answers) <= max_answers:
        raise params_error(f"Il faut entre 1 et {max_answers} réponses acceptées.",
                           f"Between 1 and {max_answers} accepted answers are needed.")
    shape = "{" + ", ".join(fields) + "}"
    for position, answer in enumerate(answers, start=1):
        where_fr, where_en = f"Réponse {position}", f"Answer {position}"
        if not isinstance(answer, Mapping):
            raise params_error(f"{where_fr} : un objet {shape} est attendu.",
                               f"{where_en}: an object {shape} is expected.")
        extra = set(answer) - {*fields, "weight", "feedback"}
        missing = set(fields) - set(answer)
        if extra or missing:
            key = sorted(str(k) for k in (extra or missing))[0]
            raise params_error(
                f"{where_fr} : clé {'inconnue' if extra else 'manquante'} « {key} ».",
                f"{where_en}: {'unknown' if extra else 'missing'} key “{key}”.")
        check_fields(where_fr, where_en, answer)
        weight = answer.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 1:
            raise params_error(f"{where_fr} : « weight » est entre 0 et 1, pas {weight!r}.",
                               f"{where_en}: “weight” is between 0 and 1, not {weight!r}.")
        if "feedback" in answer:
            check_localised(answer["feedback"], f"{where_en}, feedback")
    if not any(answer.get("weight", 1) == 1 for answer in answers):
        raise params_error("Aucune réponse ne vaut tous les points (weight 1).",
                           "No answer earns full marks (weight 1).")


def weighted_answers_key(answers: Sequence[Mapping[str, Any]], convert) -> list[dict[str, Any]]:
    """The private answer key of a variant: the type's fields (``convert(answer)``), the weight
    (1 by default) and the feedback when there is one."""
    key = []
    for answer in answers:
        item = {**convert(answer), "weight": float(answer.get("weight", 1))}
        if "feedback" in answer:
            item["feedback"] = dict(answer["feedback"])
        key.append(item)
    return key
