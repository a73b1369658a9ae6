"""Parameter count: of one layer, or of a whole small model, as Keras counts them."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from grader.answers import parse_int, require_fields
from grader.layers import SUPPORTED_LAYERS, chain_param_counts
from grader.result import AnswerError, GradeResult, I18nText, i18n
from grader.shapes import grade_param_count

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
from .layer_templates import check_template, draw_chain, layer_template_schema

ASK_SCHEMA: dict[str, Any] = {
    "description": "What to count: \"total\", one layer {layer: i} (0-based), or a random "
                   "layer among some classes {layer: random, among: [Conv2D, Dense]}.",
    "oneOf": [
        {"const": "total"},
        {"type": "object", "additionalProperties": False, "required": ["layer"],
         "properties": {"layer": {"type": "integer", "minimum": 0}}},
        {"type": "object", "additionalProperties": False, "required": ["layer", "among"],
         "properties": {"layer": {"const": "random"},
                        "among": {"type": "array", "minItems": 1, "uniqueItems": True,
                                  "items": {"enum": list(SUPPORTED_LAYERS)}}}},
    ],
}


def parse_count(obj: Any) -> int:
    value = parse_int(obj)
    if value < 0:
        raise AnswerError({"fr": "Un nombre de paramètres est positif ou nul.",
                           "en": "A number of parameters is zero or more."})
    return value


class ParamCountType(ExerciseType):
    name = "param_count"
    label = i18n("Nombre de paramètres", "Parameter count")
    form_fields = ("value",)
    params_schema = {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "param_count",
        "type": "object",
        "additionalProperties": False,
        "required": ["input_shape", "layers", "ask"],
        "properties": {**layer_template_schema(), "ask": ASK_SCHEMA},
    }

    def validate_params(self, params: Any) -> None:
        require_mapping(params, allowed={"input_shape", "layers", "ask"},
                        required={"input_shape", "layers", "ask"})
        check_template(params)
        self._candidates(params)
        self.check_generation(params)

    def _candidates(self, params: Mapping[str, Any]) -> list[int] | None:
        """The layer indices the question may ask about; None for the total."""
        ask, layers = params["ask"], params["layers"]
        if ask == "total":
            return None
        if isinstance(ask, Mapping) and set(ask) == {"layer"} and is_int(ask["layer"]):
            if 0 <= ask["layer"] < len(layers):
                return [ask["layer"]]
            raise params_error(
                f"« ask » : la couche {ask['layer']} n'existe pas (indices de 0 à "
                f"{len(layers) - 1}).",
                f"“ask”: layer {ask['layer']} does not exist (indices 0 to {len(layers) - 1}).")
        if (isinstance(ask, Mapping) and set(ask) == {"layer", "among"}
                and ask["layer"] == "random" and isinstance(ask["among"], list) and ask["among"]):
            indices = [index for index, layer in enumerate(layers)
                       if layer["class_name"] in ask["among"]]
            if not indices:
                raise params_error(
                    f"« ask » : aucune couche de type {', '.join(map(str, ask['among']))}.",
                    f"“ask”: no layer of class {', '.join(map(str, ask['among']))}.")
            return indices
        raise params_error(
            f"« ask » vaut « total », {{layer: i}} ou {{layer: random, among: [...]}}, "
            f"pas {ask!r}.",
            f"“ask” is “total”, {{layer: i}} or {{layer: random, among: [...]}}, not {ask!r}.")

    def generate(self, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        input_shape, layers = draw_chain(params, rng)
        candidates = self._candidates(params)
        ask: Any = "total" if candidates is None else {"layer": pick(rng, candidates)}
        return {"input_shape": input_shape, "layers": layers, "ask": ask}

    def parse_answer(self, variant: Mapping[str, Any], answer: Any) -> dict[str, Any]:
        fields = require_fields(answer, ["value"])
        return {"value": parse_count(fields["value"])}

    def grade(self, variant: Mapping[str, Any], parsed_answer: Mapping[str, Any]) -> GradeResult:
        return grade_param_count(input_shape=variant["input_shape"], layers=variant["layers"],
                                 ask=variant["ask"], value=parsed_answer["value"])

    def solve(self, variant: Mapping[str, Any]) -> dict[str, Any]:
        counts = chain_param_counts(variant["input_shape"], variant["layers"])
        ask = variant["ask"]
        return {"value": sum(counts) if ask == "total" else counts[ask["layer"]]}

    def _describe(self, variant: Mapping[str, Any], parsed: Mapping[str, Any]) -> I18nText:
        from grader.text import format_int

        return i18n(format_int(parsed["value"], "fr"), format_int(parsed["value"], "en"))

    def answer_from_form(self, variant: Mapping[str, Any], data: Any) -> dict[str, Any]:
        value = form_value(data, "value")
        try:
            return {"value": parse_count(value)}
        except AnswerError as error:
            raise field_error("value", error) from error
