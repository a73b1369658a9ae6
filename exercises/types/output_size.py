"""Output size: the shape at the end of a chain of Keras layers."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from grader.answers import parse_int, parse_shape, require_fields
from grader.layers import chain_output_shapes
from grader.result import AnswerError, GradeResult, I18nText, i18n
from grader.shapes import grade_output_size

from .base import (
    JSON_SCHEMA_DIALECT,
    ExerciseType,
    field_error,
    form_value,
    require_mapping,
)
from .layer_templates import check_template, draw_chain, layer_template_schema

SHAPE_FIELDS = ("h", "w", "c")


def shape_from_form(data: Any) -> list[int]:
    """Fields h, w, c; leading ones left blank for a shorter output (a vector: only c)."""
    values = [form_value(data, field, required=False) for field in SHAPE_FIELDS]
    while values and values[0] is None:
        values.pop(0)
    if not values:
        raise AnswerError({"fr": "Donnez la forme de la sortie.",
                           "en": "Give the shape of the output."})
    fields = SHAPE_FIELDS[len(SHAPE_FIELDS) - len(values):]
    dims = []
    for field, value in zip(fields, values, strict=True):
        if value is None:
            raise AnswerError({
                "fr": f"Le champ « {field} » est vide : seuls les premiers champs peuvent "
                      f"rester vides, pour une sortie à moins de 3 dimensions.",
                "en": f"The field “{field}” is empty: only the first fields may stay empty, "
                      f"for an output with fewer than 3 dimensions.",
            })
        try:
            dims.append(parse_int(value))
        except AnswerError as error:
            raise field_error(field, error) from error
    return list(parse_shape(dims))


class OutputSizeType(ExerciseType):
    name = "output_size"
    label = i18n("Taille de sortie", "Output size")
    form_fields = SHAPE_FIELDS
    params_schema = {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "output_size",
        "type": "object",
        "additionalProperties": False,
        "required": ["input_shape", "layers"],
        "properties": layer_template_schema(),
    }

    def validate_params(self, params: Any) -> None:
        require_mapping(params, allowed={"input_shape", "layers"},
                        required={"input_shape", "layers"})
        check_template(params)
        self.check_generation(params)

    def generate(self, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        input_shape, layers = draw_chain(params, rng)
        return {"input_shape": input_shape, "layers": layers}

    def parse_answer(self, variant: Mapping[str, Any], answer: Any) -> dict[str, Any]:
        fields = require_fields(answer, ["shape"])
        shape = list(parse_shape(fields["shape"]))
        rank = len(chain_output_shapes(variant["input_shape"], variant["layers"])[-1])
        if len(shape) != rank:
            # The number of dimensions is part of the question's form, not of its answer
            # (Flatten gives a vector, Conv2D an image): a format error that costs nothing.
            batch = len(shape) == rank + 1
            raise AnswerError({
                "fr": f"La sortie a {rank} dimension{'s' if rank > 1 else ''}, votre forme en a "
                      f"{len(shape)}"
                      + (" : laissez de côté la dimension du batch." if batch else "."),
                "en": f"The output has {rank} dimension{'s' if rank > 1 else ''}, your shape has "
                      f"{len(shape)}" + (": leave the batch dimension out." if batch else "."),
            })
        return {"shape": shape}

    def _describe(self, variant: Mapping[str, Any], parsed: Mapping[str, Any]) -> I18nText:
        text = "(" + ", ".join(str(dim) for dim in parsed["shape"]) + ")"
        return i18n(text, text)

    def grade(self, variant: Mapping[str, Any], parsed_answer: Mapping[str, Any]) -> GradeResult:
        return grade_output_size(input_shape=variant["input_shape"], layers=variant["layers"],
                                 answer_shape=parsed_answer["shape"])

    def solve(self, variant: Mapping[str, Any]) -> dict[str, Any]:
        return {"shape": list(chain_output_shapes(variant["input_shape"], variant["layers"])[-1])}

    def answer_from_form(self, variant: Mapping[str, Any], data: Any) -> dict[str, Any]:
        return {"shape": shape_from_form(data)}
