"""Model submissions: the student trains a Keras model and uploads it; a worker grades it.

The variant is the same for every student: the task's contract (input shape, number of
classes, parameter budget, file size cap). Grading happens in a worker and a sandbox, not
here: ``parse_answer`` refuses answers so no instant attempt can be recorded for it.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from grader.result import AnswerError, GradeResult, i18n

from .base import JSON_SCHEMA_DIALECT, UPLOAD, ExerciseType, is_int, params_error, require_mapping

DEFAULTS: dict[str, Any] = {
    "train_size": 6000,
    "train_seed": 1,
    "test_size": 2000,
    "test_seed": 2_000_003,
    "public_fraction": 0.5,
    "max_params": 1_000_000,
    "max_file_mb": 20,
    "thresholds": [[0.5, 0.5], [0.7, 0.7], [0.85, 0.85], [0.9, 1.0]],
    "submissions_per_day": 10,
    "backbone": None,
}


def model_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The params with their defaults filled in."""
    return {**DEFAULTS, **dict(params)}


def dataset_spec(name: str):
    from grader.datasets import DATASETS

    if name not in DATASETS:
        raise params_error(
            f"Jeu de données inconnu « {name} » (connus : {', '.join(DATASETS)}).",
            f"Unknown dataset “{name}” (known: {', '.join(DATASETS)}).",
        )
    return DATASETS[name]


class ModelType(ExerciseType):
    name = "model"
    label = i18n("Soumission d'un modèle Keras", "Keras model submission")
    grading = UPLOAD
    private_split = True
    params_schema = {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "model",
        "type": "object",
        "additionalProperties": False,
        "required": ["dataset"],
        "properties": {
            "dataset": {"type": "string", "description": "The generated dataset of the task (e.g. shapes32, fruits32)."},
            "train_size": {"type": "integer", "minimum": 100, "maximum": 50_000, "default": DEFAULTS["train_size"]},
            "train_seed": {"type": "integer", "minimum": 0, "default": DEFAULTS["train_seed"]},
            "test_size": {"type": "integer", "minimum": 100, "maximum": 20_000, "default": DEFAULTS["test_size"]},
            "test_seed": {"type": "integer", "minimum": 0, "default": DEFAULTS["test_seed"],
                          "description": "Seed of the hidden test set, generated on the server (when no file is uploaded)."},
            "public_fraction": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1,
                                "default": DEFAULTS["public_fraction"],
                                "description": "Share of the hidden test set scored on the public leaderboard."},
            "max_params": {"type": "integer", "minimum": 100, "maximum": 50_000_000, "default": DEFAULTS["max_params"]},
            "max_file_mb": {"type": "number", "exclusiveMinimum": 0, "maximum": 100, "default": DEFAULTS["max_file_mb"]},
            "thresholds": {
                "type": "array", "minItems": 1,
                "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number", "minimum": 0, "maximum": 1}},
                "default": DEFAULTS["thresholds"],
                "description": "[accuracy, grade] pairs: the grade of the highest accuracy reached.",
            },
            "submissions_per_day": {"type": "integer", "minimum": 1, "maximum": 1000, "default": DEFAULTS["submissions_per_day"]},
            "backbone": {"type": ["string", "null"], "default": None,
                         "description": "A backbone the platform ships, offered for download (transfer learning)."},
        },
    }

    def validate_params(self, params: Any) -> None:
        require_mapping(params, allowed=set(self.params_schema["properties"]), required={"dataset"})
        p = model_params(params)
        dataset_spec(p["dataset"])
        for key in ("train_size", "test_size", "max_params", "submissions_per_day", "train_seed", "test_seed"):
            if not is_int(p[key]) or p[key] < 0:
                raise params_error(f"« {key} » doit être un entier positif.", f"“{key}” must be a positive integer.")
        if not 0 < float(p["public_fraction"]) < 1:
            raise params_error("« public_fraction » est strictement entre 0 et 1.", "“public_fraction” is strictly between 0 and 1.")
        thresholds = p["thresholds"]
        if not thresholds or any(
            not isinstance(t, (list, tuple)) or len(t) != 2 or not all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in t)
            for t in thresholds
        ):
            raise params_error(
                "« thresholds » est une liste de paires [précision, note], chacune entre 0 et 1.",
                "“thresholds” is a list of [accuracy, grade] pairs, each between 0 and 1.",
            )
        accuracies = [t[0] for t in thresholds]
        if accuracies != sorted(accuracies) or len(set(accuracies)) != len(accuracies):
            raise params_error("Les seuils de précision doivent croître strictement.", "The accuracy thresholds must strictly increase.")
        if p["train_seed"] == p["test_seed"]:
            raise params_error(
                "Le jeu de test caché doit avoir une autre graine que le jeu d'entraînement.",
                "The hidden test set needs another seed than the training set.",
            )
        if p["backbone"] is not None:
            from grader.backbone import BACKBONES

            if p["backbone"] not in BACKBONES:
                raise params_error(f"Backbone inconnu « {p['backbone']} ».", f"Unknown backbone “{p['backbone']}”.")

    def generate(self, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        p = model_params(params)
        spec = dataset_spec(p["dataset"])
        return {
            "input_shape": list(spec.input_shape),
            "num_classes": len(spec.class_names),
            "max_params": p["max_params"],
            "max_file_mb": p["max_file_mb"],
            "class_names": list(spec.class_names),
            "dataset": p["dataset"],
            "submissions_per_day": p["submissions_per_day"],
            "thresholds": p["thresholds"],
            "backbone": p["backbone"],
        }

    def parse_answer(self, variant: Mapping[str, Any], answer: Any) -> dict[str, Any]:
        raise AnswerError(i18n(
            "Cet exercice se rend en déposant un modèle .keras (POST …/submissions), pas par une réponse.",
            "This exercise is answered by uploading a .keras model (POST …/submissions), not with an answer.",
        ))

    def grade(self, variant: Mapping[str, Any], parsed_answer: Mapping[str, Any]) -> GradeResult:
        return self.parse_answer(variant, parsed_answer)

    def solve(self, variant: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError("a model exercise is solved by training a model")

    def answer_from_form(self, variant: Mapping[str, Any], data: Any) -> dict[str, Any]:
        return self.parse_answer(variant, data)
