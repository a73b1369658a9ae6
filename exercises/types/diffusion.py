"""Diffusion exercises: the student writes a French prompt, a worker generates the image, and
the judging classifier grades it (``grader.diffusion.scoring``).

Modes:
- ``target``: « Génère une banane verte reconnue par le classifieur »;
- ``fewest_steps``: the fewest sampling steps that still give a recognisable target.

Each student may get their own target, drawn from ``targets``. Like a model submission, an
answer is not instant: it is a generation (``POST …/generations``), graded when it is done.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from grader.diffusion import schedule, vocab
from grader.result import AnswerError, GradeResult, i18n

from .base import GENERATION, JSON_SCHEMA_DIALECT, ExerciseType, is_int, params_error, pick, require_mapping

MODES = ("target", "fewest_steps")
DEFAULTS: dict[str, Any] = {
    "mode": "target",
    "targets": ["banane verte"],
    "steps_thresholds": [[3, 1.0], [6, 0.8], [12, 0.6], [100, 0.4]],
    "generations_per_day": 40,
}


def diffusion_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {**DEFAULTS, **dict(params)}


def target_pair(text: str) -> tuple[int, int]:
    """The (fruit, colour) a target caption names; ``ParamsError`` unless it names both."""
    try:
        prompt = vocab.parse_prompt(text)
    except vocab.PromptError as exc:
        raise params_error(f"Cible « {text} » : {exc.message['fr']}", f"Target “{text}”: {exc.message['en']}") from None
    if prompt.fruit is None or prompt.colour is None:
        raise params_error(f"La cible « {text} » doit nommer un fruit et une couleur.",
                           f"The target “{text}” must name a fruit and a colour.")
    return prompt.fruit, prompt.colour


class DiffusionType(ExerciseType):
    name = "diffusion"
    label = i18n("Génération par diffusion", "Diffusion generation")
    grading = GENERATION
    params_schema = {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "diffusion",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "mode": {"type": "string", "enum": list(MODES), "default": DEFAULTS["mode"],
                     "description": "target: the classifier must recognise the target; "
                                    "fewest_steps: and the fewer steps, the better the grade."},
            "targets": {"type": "array", "minItems": 1, "items": {"type": "string"}, "default": DEFAULTS["targets"],
                        "description": "Captions « fruit couleur »; each student gets one of them."},
            "steps_thresholds": {
                "type": "array", "minItems": 1,
                "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number", "minimum": 0}},
                "default": DEFAULTS["steps_thresholds"],
                "description": "fewest_steps: [max steps, grade] pairs; the first one the steps fit under.",
            },
            "generations_per_day": {"type": "integer", "minimum": 1, "maximum": 1000,
                                    "default": DEFAULTS["generations_per_day"]},
        },
    }

    def validate_params(self, params: Any) -> None:
        require_mapping(params, allowed=set(self.params_schema["properties"]), required=set())
        p = diffusion_params(params)
        if p["mode"] not in MODES:
            raise params_error(f"Mode inconnu « {p['mode']} » ({', '.join(MODES)}).",
                               f"Unknown mode “{p['mode']}” ({', '.join(MODES)}).")
        if not isinstance(p["targets"], list) or not p["targets"]:
            raise params_error("« targets » est une liste non vide de légendes.", "“targets” is a non-empty list of captions.")
        for text in p["targets"]:
            target_pair(text)
        thresholds = p["steps_thresholds"]
        if not isinstance(thresholds, list) or not thresholds or any(
            not isinstance(t, (list, tuple)) or len(t) != 2 or not is_int(t[0])
            or not schedule.MIN_STEPS <= t[0] <= schedule.MAX_STEPS
            or not isinstance(t[1], (int, float)) or not 0 <= t[1] <= 1 for t in thresholds
        ):
            raise params_error(
                f"« steps_thresholds » est une liste de paires [étapes ≤ {schedule.MAX_STEPS}, note entre 0 et 1].",
                f"“steps_thresholds” is a list of [steps ≤ {schedule.MAX_STEPS}, grade between 0 and 1] pairs.")
        if not is_int(p["generations_per_day"]) or p["generations_per_day"] < 1:
            raise params_error("« generations_per_day » est un entier positif.", "“generations_per_day” is a positive integer.")

    def generate(self, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        p = diffusion_params(params)
        fruit, colour = target_pair(pick(rng, p["targets"]))
        return {
            "mode": p["mode"],
            "vocabulary": list(vocab.VOCABULARY),
            "max_steps": schedule.MAX_STEPS,
            "max_guidance": schedule.MAX_GUIDANCE,
            "target": {"caption": vocab.caption(fruit, colour), "fruit": fruit, "colour": colour,
                       "caption_en": vocab.caption_en(fruit, colour)},
            # Private ("_"): the thresholds say where the knee of the steps curve is, which is
            # what the fewest-steps exercise asks the student to find.
            "_steps_thresholds": [list(t) for t in sorted(p["steps_thresholds"])] if p["mode"] == "fewest_steps" else [],
            "generations_per_day": p["generations_per_day"],
        }

    def grade_generation(self, variant: Mapping[str, Any], *, recognition: Mapping[str, Any], steps: int) -> GradeResult:
        from grader.diffusion.scoring import score_generation

        target = variant["target"]
        return score_generation(mode=variant["mode"], target=(target["fruit"], target["colour"]),
                                recognition=recognition, steps=steps, steps_thresholds=variant["_steps_thresholds"])

    def parse_answer(self, variant: Mapping[str, Any], answer: Any) -> dict[str, Any]:
        raise AnswerError(i18n(
            "Cet exercice se rend en lançant une génération (POST …/generations), pas par une réponse.",
            "This exercise is answered by starting a generation (POST …/generations), not with an answer.",
        ))

    def grade(self, variant: Mapping[str, Any], parsed_answer: Mapping[str, Any]) -> GradeResult:
        return self.parse_answer(variant, parsed_answer)

    def solve(self, variant: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError("a diffusion exercise is solved by generating an image")

    def answer_from_form(self, variant: Mapping[str, Any], data: Any) -> dict[str, Any]:
        return self.parse_answer(variant, data)
