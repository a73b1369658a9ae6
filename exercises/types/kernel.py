"""Kernels: guess a hidden 3x3 kernel from its effect (reconstruct), or name one (identify)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from grader.answers import parse_choices, parse_float, parse_kernel, require_fields
from grader.convolution import (
    KERNELS,
    apply_kernel,
    estimate_kernel,
    grade_kernel_identify,
    grade_kernel_reconstruct,
    kernel_error,
)
from grader.images import IMAGE_NAMES, load_image
from grader.result import AnswerError, GradeResult, I18nText, i18n

from .base import (
    JSON_SCHEMA_DIALECT,
    ExerciseType,
    field_error,
    form_value,
    is_int,
    params_error,
    pick,
    require_mapping,
)

DEFAULT_CROP = 24
MIN_CROP = 8
DEFAULT_TOLERANCE = 0.05
MAX_TOLERANCE = 0.2
MAX_COEFFICIENT = 100
CROP_TRIES = 200
KERNEL_FIELDS = tuple(f"k{index}" for index in range(9))

_MATRIX_SCHEMA: dict[str, Any] = {
    "type": "array", "minItems": 3, "maxItems": 3,
    "items": {"type": "array", "minItems": 3, "maxItems": 3,
              "items": {"type": "number", "minimum": -MAX_COEFFICIENT,
                        "maximum": MAX_COEFFICIENT}},
}
_NAMES_SCHEMA: dict[str, Any] = {
    "type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": list(KERNELS)},
}


def _kernel_matrix(entry: Any) -> np.ndarray:
    if isinstance(entry, str):
        if entry not in KERNELS:
            raise params_error(
                f"Noyau inconnu « {entry} » : les noyaux nommés sont {', '.join(KERNELS)}.",
                f"Unknown kernel “{entry}”: the named kernels are {', '.join(KERNELS)}.")
        return KERNELS[entry].array
    if (isinstance(entry, list) and len(entry) == 3 and all(
            isinstance(row, list) and len(row) == 3 and all(
                isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value) and abs(value) <= MAX_COEFFICIENT for value in row)
            for row in entry)):
        matrix = np.array(entry, dtype=np.float64)
        if not matrix.any():
            raise params_error("Le noyau nul donne une image noire : rien à deviner.",
                               "The all-zero kernel gives a black image: nothing to guess.")
        return matrix
    raise params_error(
        f"Un noyau est un nom ({', '.join(KERNELS)}) ou une matrice 3×3 de nombres entre "
        f"-{MAX_COEFFICIENT} et {MAX_COEFFICIENT}, pas {entry!r}.",
        f"A kernel is a name ({', '.join(KERNELS)}) or a 3×3 matrix of numbers between "
        f"-{MAX_COEFFICIENT} and {MAX_COEFFICIENT}, not {entry!r}.")


def _names(params: Mapping[str, Any], key: str, default: list[str]) -> list[str]:
    names = params.get(key, default)
    if not (isinstance(names, list) and names and len(set(map(repr, names))) == len(names)):
        raise params_error(f"« {key} » est une liste non vide, sans doublon.",
                           f"“{key}” is a non-empty list without duplicates.")
    return names


def _distinguishes(*, crop: np.ndarray, target: np.ndarray, kernel: np.ndarray,
                   tolerance: float, padding: str) -> bool:
    """Whether only the hidden kernel fits: no other named kernel comes near its output.

    The error is relative to the output's RMS, brightness included, so on a flat crop a blur
    and the identity give nearly the same output: such crops are redrawn.
    """
    if math.sqrt(float(np.mean(target ** 2))) < 1.0:
        return False
    if estimate_kernel(image=crop, target=target, padding=padding) is None:
        return False
    for named in KERNELS.values():
        other = named.array
        if np.allclose(other, kernel):
            continue
        if kernel_error(image=crop, target=target, kernel=other, padding=padding) <= 2 * tolerance:
            return False
    return True


def _coefficient(value: float, lang: str) -> str:
    text = str(int(value)) if float(value).is_integer() else f"{value:.3g}"
    return text.replace(".", ",") if lang == "fr" else text


def _flatten_form_kernel(data: Any) -> list[list[float]]:
    values = []
    for field in KERNEL_FIELDS:
        text = form_value(data, field)
        try:
            values.append(parse_float(text))
        except AnswerError as error:
            raise field_error(field, error) from error
    return [values[0:3], values[3:6], values[6:9]]


class KernelType(ExerciseType):
    name = "kernel"
    label = i18n("Noyaux de convolution", "Convolution kernels")
    form_fields = (*KERNEL_FIELDS, "choice")
    params_schema = {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "kernel",
        "type": "object",
        "required": ["mode", "kernels"],
        "oneOf": [
            {
                "description": "Guess the hidden kernel from an image and its output.",
                "additionalProperties": False,
                "properties": {
                    "mode": {"const": "reconstruct"},
                    "kernels": {"type": "array", "minItems": 1,
                                "items": {"anyOf": [{"enum": list(KERNELS)}, _MATRIX_SCHEMA]}},
                    "images": {"type": "array", "minItems": 1, "uniqueItems": True,
                               "items": {"enum": list(IMAGE_NAMES)},
                               "default": list(IMAGE_NAMES)},
                    "crop": {"type": "integer", "minimum": MIN_CROP, "maximum": 64,
                             "default": DEFAULT_CROP},
                    "tolerance": {"type": "number", "exclusiveMinimum": 0,
                                  "maximum": MAX_TOLERANCE, "default": DEFAULT_TOLERANCE},
                    "padding": {"enum": ["valid", "same"], "default": "valid"},
                },
            },
            {
                "description": "Say what a given kernel does.",
                "additionalProperties": False,
                "properties": {
                    "mode": {"const": "identify"},
                    "kernels": _NAMES_SCHEMA,
                    "choices": {**_NAMES_SCHEMA, "minItems": 2, "default": list(KERNELS)},
                },
            },
        ],
    }

    # ------------------------------------------------------------------ params

    def validate_params(self, params: Any) -> None:
        if not isinstance(params, Mapping) or params.get("mode") not in ("reconstruct", "identify"):
            raise params_error("« mode » vaut « reconstruct » ou « identify ».",
                               "“mode” is “reconstruct” or “identify”.")
        if params["mode"] == "reconstruct":
            self._validate_reconstruct(params)
        else:
            self._validate_identify(params)
        self.check_generation(params)

    def _validate_reconstruct(self, params: Mapping[str, Any]) -> None:
        require_mapping(params, allowed={"mode", "kernels", "images", "crop", "tolerance",
                                         "padding"}, required={"mode", "kernels"})
        for entry in _names(params, "kernels", []):
            _kernel_matrix(entry)
        for image in _names(params, "images", list(IMAGE_NAMES)):
            if image not in IMAGE_NAMES:
                raise params_error(
                    f"Image inconnue « {image} » : les images sont {', '.join(IMAGE_NAMES)}.",
                    f"Unknown image “{image}”: the images are {', '.join(IMAGE_NAMES)}.")
        crop = params.get("crop", DEFAULT_CROP)
        smallest = min(min(load_image(name).shape) for name in params.get("images", IMAGE_NAMES))
        if not (is_int(crop) and MIN_CROP <= crop <= smallest):
            raise params_error(f"« crop » est un entier entre {MIN_CROP} et {smallest}.",
                               f"“crop” is an integer between {MIN_CROP} and {smallest}.")
        tolerance = params.get("tolerance", DEFAULT_TOLERANCE)
        if not (isinstance(tolerance, (int, float)) and not isinstance(tolerance, bool)
                and 0 < tolerance <= MAX_TOLERANCE):
            raise params_error(f"« tolerance » est un nombre dans ]0 ; {MAX_TOLERANCE}].",
                               f"“tolerance” is a number in (0, {MAX_TOLERANCE}].")
        if params.get("padding", "valid") not in ("valid", "same"):
            raise params_error("« padding » vaut « valid » ou « same ».",
                               "“padding” is “valid” or “same”.")

    def _validate_identify(self, params: Mapping[str, Any]) -> None:
        require_mapping(params, allowed={"mode", "kernels", "choices"},
                        required={"mode", "kernels"})
        kernels = _names(params, "kernels", [])
        choices = _names(params, "choices", list(KERNELS))
        for name in [*kernels, *choices]:
            if not isinstance(name, str) or name not in KERNELS:
                raise params_error(
                    f"Noyau inconnu « {name} » : les noyaux nommés sont {', '.join(KERNELS)}.",
                    f"Unknown kernel “{name}”: the named kernels are {', '.join(KERNELS)}.")
        if len(choices) < 2:
            raise params_error("Il faut au moins deux propositions.",
                               "At least two choices are needed.")
        missing = [name for name in kernels if name not in choices]
        if missing:
            raise params_error(
                f"Le noyau « {missing[0]} » peut être tiré, mais il n'est pas parmi les "
                f"propositions.",
                f"The kernel “{missing[0]}” may be drawn, but it is not among the choices.")

    # ------------------------------------------------------------------ variants

    def generate(self, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        if params["mode"] == "identify":
            return self._generate_identify(params, rng)
        return self._generate_reconstruct(params, rng)

    def _generate_identify(self, params: Mapping[str, Any],
                           rng: np.random.Generator) -> dict[str, Any]:
        answer = pick(rng, params["kernels"])
        names = list(params.get("choices", list(KERNELS)))
        order = rng.permutation(len(names))
        return {
            "mode": "identify",
            "kernel": KERNELS[answer].array.tolist(),
            "choices": [{"id": names[index], "text": dict(KERNELS[names[index]].label)}
                        for index in order],
            "_answer": answer,
        }

    def _generate_reconstruct(self, params: Mapping[str, Any],
                              rng: np.random.Generator) -> dict[str, Any]:
        kernel = _kernel_matrix(pick(rng, params["kernels"]))
        images = params.get("images", list(IMAGE_NAMES))
        crop = params.get("crop", DEFAULT_CROP)
        tolerance = params.get("tolerance", DEFAULT_TOLERANCE)
        padding = params.get("padding", "valid")
        for _ in range(CROP_TRIES):
            image = load_image(pick(rng, images))
            top = int(rng.integers(image.shape[0] - crop + 1))
            left = int(rng.integers(image.shape[1] - crop + 1))
            window = image[top:top + crop, left:left + crop]
            target = np.round(apply_kernel(window, kernel, padding), 2)
            if _distinguishes(crop=window.astype(np.float64), target=target, kernel=kernel,
                              tolerance=tolerance, padding=padding):
                return {
                    "mode": "reconstruct",
                    "input": window.astype(int).tolist(),
                    "output": target.tolist(),
                    "padding": padding,
                    "_tolerance": float(tolerance),
                    "_kernel": kernel.tolist(),
                }
        raise params_error(
            "Aucun recadrage des images ne distingue ce noyau des autres noyaux nommés : "
            "prenez un recadrage plus grand, d'autres images ou une tolérance plus petite.",
            "No crop of the images tells this kernel apart from the other named kernels: "
            "use a larger crop, other images or a smaller tolerance.")

    # ------------------------------------------------------------------ answers

    def parse_answer(self, variant: Mapping[str, Any], answer: Any) -> dict[str, Any]:
        if variant["mode"] == "identify":
            fields = require_fields(answer, ["choice"])
            valid = [choice["id"] for choice in variant["choices"]]
            return {"choice": parse_choices(fields["choice"], valid, False)[0]}
        fields = require_fields(answer, ["kernel"])
        return {"kernel": parse_kernel(fields["kernel"]).tolist()}

    def grade(self, variant: Mapping[str, Any], parsed_answer: Mapping[str, Any]) -> GradeResult:
        if variant["mode"] == "identify":
            return grade_kernel_identify(kernel_name=variant["_answer"],
                                         choice=parsed_answer["choice"])
        return grade_kernel_reconstruct(
            image=np.array(variant["input"], dtype=np.float64),
            target=np.array(variant["output"], dtype=np.float64),
            kernel=np.array(parsed_answer["kernel"], dtype=np.float64),
            tolerance=variant.get("_tolerance", DEFAULT_TOLERANCE),
            padding=variant.get("padding", "valid"),
        )

    def solve(self, variant: Mapping[str, Any]) -> dict[str, Any]:
        if variant["mode"] == "identify":
            return {"choice": variant["_answer"]}
        return {"kernel": [list(row) for row in variant["_kernel"]]}

    def _describe(self, variant: Mapping[str, Any], parsed: Mapping[str, Any]) -> I18nText:
        if variant["mode"] == "identify":
            return dict(KERNELS[parsed["choice"]].label)
        rows = {lang: " / ".join("  ".join(_coefficient(value, lang) for value in row) for row in parsed["kernel"])
                for lang in ("fr", "en")}
        return i18n(f"[ {rows['fr']} ]", f"[ {rows['en']} ]")

    def answer_from_form(self, variant: Mapping[str, Any], data: Any) -> dict[str, Any]:
        if variant["mode"] == "identify":
            return {"choice": form_value(data, "choice")}
        return {"kernel": _flatten_form_kernel(data)}
