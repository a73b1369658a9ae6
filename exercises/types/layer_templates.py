"""Layer templates shared by ``output_size`` and ``param_count``.

A template is an input shape and a list of Keras layers in which any value may be
``{"choices": [...]}`` (drawn per student); an input dimension may also be ``"same"`` (the
previous dimension again, for square images). Drawing is redone, a bounded number of
times, until the chain is valid.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from grader.layers import SUPPORTED_LAYERS, LayerConfigError, expand_layer, validate_layers
from grader.result import ParamsError

from .base import is_int, params_error, pick

MAX_DRAWS = 200
MAX_DIM = 100_000
# Below this share of valid draws, MAX_DRAWS tries could fail (0.9**200 < 1e-9).
MIN_VALID_SHARE = 0.1
ENUMERATION_LIMIT = 2_000

# Bounds keep variants human-sized; they are also in the JSON schema.
CONFIG_BOUNDS: dict[str, dict[str, tuple[str, int, int]]] = {
    "Conv2D": {"filters": ("int", 1, 4096), "kernel_size": ("pair", 1, 1000),
               "strides": ("pair", 1, 1000), "padding": ("mode", 0, 0)},
    "ZeroPadding2D": {"padding": ("zero_padding", 0, 1000)},
    "MaxPooling2D": {"pool_size": ("pair", 1, 1000), "strides": ("pair", 1, 1000),
                     "padding": ("mode", 0, 0)},
    "AveragePooling2D": {"pool_size": ("pair", 1, 1000), "strides": ("pair", 1, 1000),
                         "padding": ("mode", 0, 0)},
    "Flatten": {},
    "GlobalAveragePooling2D": {},
    "Dense": {"units": ("int", 1, 1_000_000)},
}
REQUIRED_CONFIG = {"Conv2D": {"filters", "kernel_size"}, "Dense": {"units"}}


# ----------------------------------------------------------------------------- JSON schema

def _choices_of(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {
        "type": "object", "required": ["choices"], "additionalProperties": False,
        "properties": {"choices": {"type": "array", "minItems": 1, "items": schema}},
    }]}


def _value_schema(kind: str, low: int, high: int) -> dict[str, Any]:
    integer = {"type": "integer", "minimum": low, "maximum": high}
    pair = {"type": "array", "items": integer, "minItems": 2, "maxItems": 2}
    if kind == "int":
        return integer
    if kind == "pair":
        return {"anyOf": [integer, pair]}
    if kind == "mode":
        return {"enum": ["valid", "same"]}
    return {"anyOf": [integer, pair, {"type": "array", "items": pair, "minItems": 2,
                                      "maxItems": 2}]}


def _layer_schema(class_name: str) -> dict[str, Any]:
    properties = {key: _choices_of(_value_schema(*bounds))
                  for key, bounds in CONFIG_BOUNDS[class_name].items()}
    config: dict[str, Any] = {"type": "object", "additionalProperties": False,
                              "properties": properties}
    required = sorted(REQUIRED_CONFIG.get(class_name, ()))
    if required:
        config["required"] = required
    layer: dict[str, Any] = {
        "type": "object", "additionalProperties": False, "required": ["class_name"],
        "properties": {"class_name": {"const": class_name}, "config": config},
    }
    if required:
        layer["required"] = ["class_name", "config"]
    return layer


def layer_template_schema() -> dict[str, Any]:
    """The JSON schema of ``input_shape`` and ``layers``."""
    dim = {"type": "integer", "minimum": 1, "maximum": MAX_DIM}
    return {
        "input_shape": {
            "description": "Input shape without the batch: fixed sizes, {choices: [...]}, "
                           "or \"same\" to repeat the previous dimension.",
            "type": "array", "minItems": 1, "maxItems": 3,
            "items": {"anyOf": [_choices_of(dim), {"const": "same"}]},
        },
        "layers": {
            "description": "Keras layers; any config value may be {choices: [...]}.",
            "type": "array", "minItems": 1, "maxItems": 30,
            "items": {"oneOf": [_layer_schema(name) for name in SUPPORTED_LAYERS]},
        },
    }


# ----------------------------------------------------------------------------- static checks

def _options(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        options = value.get("choices")
        if set(value) != {"choices"} or not isinstance(options, list) or not options:
            raise params_error(
                f"Une valeur tirée au hasard s'écrit {{choices: [...]}} avec au moins une "
                f"option, pas {value!r}.",
                f"A randomly drawn value is written {{choices: [...]}} with at least one "
                f"option, not {value!r}.")
        return list(value["choices"])
    return [value]


def _check_value(class_name: str, key: str, value: Any, where: str) -> None:
    kind, low, high = CONFIG_BOUNDS[class_name][key]
    if kind == "mode":
        if value not in ("valid", "same"):
            raise params_error(f"{where} : « {key} » vaut « valid » ou « same », pas {value!r}.",
                               f"{where}: “{key}” is “valid” or “same”, not {value!r}.")
        return
    numbers: list[Any]
    if kind == "zero_padding" and isinstance(value, list) and value and all(
            isinstance(item, list) for item in value):
        numbers = [number for item in value for number in item] if len(value) == 2 and all(
            len(item) == 2 for item in value) else [None]
    elif isinstance(value, list):
        numbers = value if kind != "int" and len(value) == 2 else [None]
    else:
        numbers = [value]
    if not all(is_int(number) and low <= number <= high for number in numbers):
        raise params_error(
            f"{where} : « {key} » doit être un entier entre {low} et {high}"
            f"{' (ou une paire)' if kind != 'int' else ''}, pas {value!r}.",
            f"{where}: “{key}” must be an integer between {low} and {high}"
            f"{' (or a pair)' if kind != 'int' else ''}, not {value!r}.")


def _check_layer_template(index: int, template: Any) -> None:
    where = f"Couche {index + 1}"
    where_en = f"Layer {index + 1}"
    if not isinstance(template, Mapping) or template.get("class_name") not in SUPPORTED_LAYERS:
        raise params_error(
            f"{where} : « class_name » doit être l'une de {', '.join(SUPPORTED_LAYERS)} "
            f"({template!r}).",
            f"{where_en}: “class_name” must be one of {', '.join(SUPPORTED_LAYERS)} "
            f"({template!r}).")
    if set(template) - {"class_name", "config"}:
        raise params_error(f"{where} : seules les clés « class_name » et « config » sont "
                           f"permises.",
                           f"{where_en}: only the keys “class_name” and “config” are allowed.")
    class_name = template["class_name"]
    config = template.get("config") or {}
    if not isinstance(config, Mapping):
        raise params_error(f"{where} : « config » doit être un objet.",
                           f"{where_en}: “config” must be an object.")
    for key in config:
        if key not in CONFIG_BOUNDS[class_name]:
            raise params_error(f"{where} ({class_name}) : clé inconnue « {key} ».",
                               f"{where_en} ({class_name}): unknown key “{key}”.")
    for key in REQUIRED_CONFIG.get(class_name, ()):
        if key not in config:
            raise params_error(f"{where} ({class_name}) : « {key} » manque.",
                               f"{where_en} ({class_name}): “{key}” is missing.")
    for key, value in config.items():
        for option in _options(value):
            _check_value(class_name, key, option, f"{where} ({class_name})")


def _check_input_template(template: Any) -> None:
    if not isinstance(template, list) or not 1 <= len(template) <= 3:
        raise params_error(
            "« input_shape » est une liste de 1 à 3 dimensions (hauteur, largeur, canaux).",
            "“input_shape” is a list of 1 to 3 dimensions (height, width, channels).")
    for position, dim in enumerate(template):
        if dim == "same":
            if position == 0:
                raise params_error("« same » ne peut pas être la première dimension : il répète "
                                   "la précédente.",
                                   "“same” cannot be the first dimension: it repeats the "
                                   "previous one.")
            continue
        for option in _options(dim):
            if not (is_int(option) and 1 <= option <= MAX_DIM):
                raise params_error(
                    f"« input_shape » : chaque dimension est un entier entre 1 et {MAX_DIM}, "
                    f"pas {option!r}.",
                    f"“input_shape”: every dimension is an integer between 1 and {MAX_DIM}, "
                    f"not {option!r}.")


def check_template(params: Mapping[str, Any]) -> None:
    """Types and bounds of a layer template, and whether valid chains are drawn often enough."""
    _check_input_template(params["input_shape"])
    layers = params["layers"]
    if not isinstance(layers, list) or not 1 <= len(layers) <= 30:
        raise params_error("« layers » est une liste de 1 à 30 couches.",
                           "“layers” is a list of 1 to 30 layers.")
    for index, template in enumerate(layers):
        _check_layer_template(index, template)
    _check_valid_share(params)


# ----------------------------------------------------------------------------- drawing

def _slots(params: Mapping[str, Any]) -> list[list[Any]]:
    """Every random choice of the template, in drawing order."""
    slots = [_options(dim) for dim in params["input_shape"] if dim != "same"]
    for template in params["layers"]:
        for value in (template.get("config") or {}).values():
            slots.append(_options(value))
    return slots


Chain = tuple[list[int], list[dict[str, Any]]]


def _build(params: Mapping[str, Any], picks: Sequence[Any]) -> Chain:
    values = iter(picks)
    shape: list[int] = []
    for dim in params["input_shape"]:
        shape.append(shape[-1] if dim == "same" else next(values))
    layers = []
    for template in params["layers"]:
        config = {key: next(values) for key in (template.get("config") or {})}
        layers.append({"class_name": template["class_name"], "config": config})
    return shape, layers


def _is_valid(shape: Sequence[int], layers: Sequence[Mapping[str, Any]]) -> bool:
    try:
        validate_layers(shape, layers)
    except LayerConfigError:
        return False
    return True


def _check_valid_share(params: Mapping[str, Any]) -> None:
    slots = _slots(params)
    total = math.prod(len(slot) for slot in slots)
    if total <= ENUMERATION_LIMIT:
        combos = list(itertools.product(*slots))
    else:
        rng = np.random.default_rng(0)
        combos = [[pick(rng, slot) for slot in slots] for _ in range(ENUMERATION_LIMIT)]
    results = [_is_valid(*_build(params, combo)) for combo in combos]
    share = sum(results) / len(results)
    if share == 0:
        first_error = _first_error(params, combos[0])
        raise ParamsError({
            "fr": f"Aucune combinaison de ces paramètres ne donne une chaîne de couches "
                  f"possible. Par exemple : {first_error['fr']}",
            "en": f"No combination of these params gives a possible chain of layers. "
                  f"For instance: {first_error['en']}",
        })
    if share < MIN_VALID_SHARE:
        raise params_error(
            f"Seules {100 * share:.0f} % des combinaisons donnent une chaîne de couches "
            f"possible : resserrez les choix pour que chaque tirage ou presque soit valide.",
            f"Only {100 * share:.0f}% of the combinations give a possible chain of layers: "
            f"narrow the choices so that nearly every draw is valid.")


def _first_error(params: Mapping[str, Any], combo: Sequence[Any]) -> dict[str, str]:
    try:
        validate_layers(*_build(params, combo))
    except LayerConfigError as error:
        return error.message
    return {"fr": "", "en": ""}


def draw_chain(params: Mapping[str, Any], rng: np.random.Generator) -> Chain:
    """A valid (input_shape, fully expanded layers), drawn from the template."""
    slots = _slots(params)
    for _ in range(MAX_DRAWS):
        shape, layers = _build(params, [pick(rng, slot) for slot in slots])
        if _is_valid(shape, layers):
            return shape, [expand_layer(layer) for layer in layers]
    raise params_error(
        f"Aucune chaîne de couches valide en {MAX_DRAWS} tirages : les paramètres donnent "
        f"trop souvent des tailles impossibles.",
        f"No valid chain of layers in {MAX_DRAWS} draws: the params give impossible sizes "
        f"too often.")
