"""Output shapes and parameter counts of Keras layers, computed by hand.

Layers are plain dicts in Keras' serialisation terms, ``{"class_name": ..., "config": {...}}``,
so students can paste them into Keras. Shapes leave the batch dimension out and are
channels-last, as in Keras. Scalars are accepted where Keras accepts them
(``kernel_size: 3`` means ``[3, 3]``); ``expand_layer`` writes the full form.

The explanations spell out the formulas of the course with the numbers put in, in French
and in English.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grader.result import I18nText, ParamsError, i18n
from grader.text import format_int

Shape = tuple[int, ...]
Layer = Mapping[str, Any]

SUPPORTED_LAYERS = (
    "Conv2D", "ZeroPadding2D", "MaxPooling2D", "AveragePooling2D",
    "Flatten", "GlobalAveragePooling2D", "Dense",
)
PADDINGS = ("valid", "same")

# Keys of a pasted Keras config that change neither the shape nor the parameter count.
_HARMLESS_KEYS = frozenset({
    "name", "trainable", "dtype", "activation", "kernel_initializer", "bias_initializer",
    "kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint",
    "bias_constraint", "lora_rank", "lora_alpha", "quantization_config",
})


class LayerConfigError(ParamsError):
    """A layer that cannot be built, or cannot take the shape it is given."""


# ----------------------------------------------------------------------------- specs

@dataclass(frozen=True)
class Conv2DSpec:
    filters: int
    kernel_size: tuple[int, int]
    strides: tuple[int, int]
    padding: str


@dataclass(frozen=True)
class ZeroPadding2DSpec:
    padding: tuple[tuple[int, int], tuple[int, int]]


@dataclass(frozen=True)
class PoolingSpec:
    class_name: str
    pool_size: tuple[int, int]
    strides: tuple[int, int]
    padding: str


@dataclass(frozen=True)
class FlattenSpec:
    pass


@dataclass(frozen=True)
class GlobalAveragePooling2DSpec:
    pass


@dataclass(frozen=True)
class DenseSpec:
    units: int


LayerSpec = (Conv2DSpec | ZeroPadding2DSpec | PoolingSpec | FlattenSpec
             | GlobalAveragePooling2DSpec | DenseSpec)


def _config_error(class_name: str, fr: str, en: str) -> LayerConfigError:
    return LayerConfigError(i18n(f"{class_name} : {fr}", f"{class_name}: {en}"))


def _positive_int(value: Any, class_name: str, key: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        bound = "strictement positif" if minimum == 1 else f"supérieur ou égal à {minimum}"
        bound_en = "strictly positive" if minimum == 1 else f"at least {minimum}"
        raise _config_error(class_name, f"« {key} » doit être un entier {bound}, pas {value!r}.",
                            f"“{key}” must be an integer {bound_en}, not {value!r}.")
    return value


def _pair(value: Any, class_name: str, key: str, *, minimum: int = 1) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise _config_error(class_name, f"« {key} » doit avoir deux valeurs, pas {value!r}.",
                                f"“{key}” must have two values, not {value!r}.")
        first, second = value
        return (_positive_int(first, class_name, key, minimum=minimum),
                _positive_int(second, class_name, key, minimum=minimum))
    number = _positive_int(value, class_name, key, minimum=minimum)
    return number, number


def _padding_mode(value: Any, class_name: str) -> str:
    if value not in PADDINGS:
        raise _config_error(class_name,
                            f"« padding » vaut « valid » ou « same », pas {value!r}.",
                            f"“padding” is “valid” or “same”, not {value!r}.")
    return value


def _zero_padding(value: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    name = "ZeroPadding2D"
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(item, (list, tuple)) for item in value):
        top_bottom = _pair(value[0], name, "padding", minimum=0)
        left_right = _pair(value[1], name, "padding", minimum=0)
        return top_bottom, left_right
    if isinstance(value, (list, tuple)):
        # Keras reads (a, b) as a symmetric padding of a rows and b columns.
        rows, cols = _pair(value, name, "padding", minimum=0)
        return (rows, rows), (cols, cols)
    amount = _positive_int(value, name, "padding", minimum=0)
    return (amount, amount), (amount, amount)


def _check_keys(class_name: str, config: Mapping[str, Any], known: set[str]) -> None:
    defaults = {"use_bias": (True,), "dilation_rate": (1, (1, 1), [1, 1]),
                "data_format": (None, "channels_last"), "groups": (1,)}
    for key, value in config.items():
        if key in known or key in _HARMLESS_KEYS:
            continue
        if key in defaults and value in defaults[key]:
            continue
        if key in defaults:
            raise _config_error(class_name,
                                f"seule la valeur par défaut de « {key} » est prise en charge "
                                f"ici, pas {value!r}.",
                                f"only the default value of “{key}” is supported here, "
                                f"not {value!r}.")
        raise _config_error(class_name, f"clé de configuration inconnue « {key} ».",
                            f"unknown configuration key “{key}”.")


def parse_layer(layer: Layer) -> LayerSpec:
    """The typed description of a layer dict; raises ``LayerConfigError`` on a bad one."""
    if not isinstance(layer, Mapping) or not isinstance(layer.get("class_name"), str):
        raise LayerConfigError(i18n(
            f"Une couche s'écrit {{\"class_name\": ..., \"config\": {{...}}}}, pas {layer!r}.",
            f"A layer is written {{\"class_name\": ..., \"config\": {{...}}}}, not {layer!r}."))
    class_name = layer["class_name"]
    config = layer.get("config", {})
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise _config_error(class_name, "« config » doit être un objet.",
                            "“config” must be an object.")
    if class_name == "Conv2D":
        _check_keys(class_name, config, {"filters", "kernel_size", "strides", "padding"})
        for key in ("filters", "kernel_size"):
            if key not in config:
                raise _config_error(class_name, f"« {key} » manque.", f"“{key}” is missing.")
        return Conv2DSpec(
            filters=_positive_int(config["filters"], class_name, "filters"),
            kernel_size=_pair(config["kernel_size"], class_name, "kernel_size"),
            strides=_pair(config.get("strides", 1), class_name, "strides"),
            padding=_padding_mode(config.get("padding", "valid"), class_name),
        )
    if class_name == "ZeroPadding2D":
        _check_keys(class_name, config, {"padding"})
        return ZeroPadding2DSpec(padding=_zero_padding(config.get("padding", 1)))
    if class_name in ("MaxPooling2D", "AveragePooling2D"):
        _check_keys(class_name, config, {"pool_size", "strides", "padding"})
        pool_size = _pair(config.get("pool_size", 2), class_name, "pool_size")
        strides = config.get("strides")
        return PoolingSpec(
            class_name=class_name,
            pool_size=pool_size,
            strides=pool_size if strides is None else _pair(strides, class_name, "strides"),
            padding=_padding_mode(config.get("padding", "valid"), class_name),
        )
    if class_name == "Flatten":
        _check_keys(class_name, config, set())
        return FlattenSpec()
    if class_name == "GlobalAveragePooling2D":
        _check_keys(class_name, config, {"keepdims"})
        if config.get("keepdims", False) is not False:
            raise _config_error(class_name, "seul « keepdims: false » est pris en charge.",
                                "only “keepdims: false” is supported.")
        return GlobalAveragePooling2DSpec()
    if class_name == "Dense":
        _check_keys(class_name, config, {"units"})
        if "units" not in config:
            raise _config_error(class_name, "« units » manque.", "“units” is missing.")
        return DenseSpec(units=_positive_int(config["units"], class_name, "units"))
    raise LayerConfigError(i18n(
        f"Couche inconnue « {class_name} » : les couches prises en charge sont "
        f"{', '.join(SUPPORTED_LAYERS)}.",
        f"Unknown layer “{class_name}”: the supported layers are {', '.join(SUPPORTED_LAYERS)}."))


def expand_layer(layer: Layer) -> dict[str, Any]:
    """The layer with every config value written out in full (lists, defaults filled in)."""
    spec = parse_layer(layer)
    class_name = layer["class_name"]
    if isinstance(spec, Conv2DSpec):
        config: dict[str, Any] = {"filters": spec.filters, "kernel_size": list(spec.kernel_size),
                                  "strides": list(spec.strides), "padding": spec.padding}
    elif isinstance(spec, ZeroPadding2DSpec):
        config = {"padding": [list(spec.padding[0]), list(spec.padding[1])]}
    elif isinstance(spec, PoolingSpec):
        config = {"pool_size": list(spec.pool_size), "strides": list(spec.strides),
                  "padding": spec.padding}
    elif isinstance(spec, DenseSpec):
        config = {"units": spec.units}
    else:
        config = {}
    return {"class_name": class_name, "config": config}


# ----------------------------------------------------------------------------- shapes

def _check_input_shape(input_shape: Sequence[int]) -> Shape:
    if not isinstance(input_shape, (list, tuple)) or not input_shape or any(
            isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0
            for dim in input_shape):
        raise LayerConfigError(i18n(
            f"La forme d'entrée doit être une liste non vide d'entiers positifs, "
            f"pas {input_shape!r}.",
            f"The input shape must be a non-empty list of positive integers, "
            f"not {input_shape!r}."))
    return tuple(input_shape)


def _require_image(class_name: str, shape: Shape) -> None:
    if len(shape) != 3:
        raise _config_error(
            class_name,
            f"attend une entrée (hauteur, largeur, canaux), or elle est de forme "
            f"{format_shape(shape)} ({len(shape)} dimension{'s' if len(shape) > 1 else ''}).",
            f"expects a (height, width, channels) input, but it gets "
            f"{format_shape(shape)} ({len(shape)} dimension{'s' if len(shape) > 1 else ''}).")


def window_output(size: int, window: int, stride: int, padding: str, dilation: int = 1) -> int:
    """One spatial dimension after a window (conv kernel or pooling) slides over it: the course's
    formula, ⌊(n − k_eff) / s⌋ + 1 with k_eff = (k − 1)·d + 1 for "valid", ⌈n / s⌉ for "same".
    The one copy of it: the exercises and the model intake's report both use it. It is below 1
    when the window is larger than the input (the callers say so in their own words)."""
    if padding == "same":
        return -(-size // stride)
    span = (window - 1) * dilation + 1
    return (size - span) // stride + 1


def _window_shape(class_name: str, shape: Shape, window: tuple[int, int],
                  strides: tuple[int, int], padding: str, channels: int) -> Shape:
    _require_image(class_name, shape)
    dims = []
    for axis, (size, win, stride) in enumerate(zip(shape[:2], window, strides, strict=True)):
        if padding == "valid" and win > size:
            what_fr, what_en = ("le noyau", "the kernel") if class_name == "Conv2D" else (
                "la fenêtre", "the window")
            axis_fr, axis_en = ("hauteur", "height") if axis == 0 else ("largeur", "width")
            raise _config_error(
                class_name,
                f"{what_fr} ({win}) est plus grand que l'entrée ({size}) en {axis_fr}, "
                f"sans padding ('valid') : la sortie serait vide.",
                f"{what_en} ({win}) is larger than the input ({size}) in {axis_en}, "
                f"with no padding ('valid'): the output would be empty.")
        dims.append(window_output(size, win, stride, padding))
    return dims[0], dims[1], channels


def spec_output_shape(shape: Shape, spec: LayerSpec, class_name: str) -> Shape:
    if isinstance(spec, Conv2DSpec):
        return _window_shape(class_name, shape, spec.kernel_size, spec.strides, spec.padding,
                             spec.filters)
    if isinstance(spec, PoolingSpec):
        _require_image(class_name, shape)
        return _window_shape(class_name, shape, spec.pool_size, spec.strides, spec.padding,
                             shape[2])
    if isinstance(spec, ZeroPadding2DSpec):
        _require_image(class_name, shape)
        (top, bottom), (left, right) = spec.padding
        return shape[0] + top + bottom, shape[1] + left + right, shape[2]
    if isinstance(spec, FlattenSpec):
        return (math.prod(shape),)
    if isinstance(spec, GlobalAveragePooling2DSpec):
        _require_image(class_name, shape)
        return (shape[2],)
    return shape[:-1] + (spec.units,)


def layer_output_shape(input_shape: Sequence[int], layer: Layer) -> Shape:
    """The output shape of one layer (batch left out); ``LayerConfigError`` if impossible."""
    shape = _check_input_shape(input_shape)
    return spec_output_shape(shape, parse_layer(layer), layer["class_name"])


def chain_output_shapes(input_shape: Sequence[int], layers: Sequence[Layer]) -> list[Shape]:
    """The shape after each layer of a chain."""
    shape = _check_input_shape(input_shape)
    shapes = []
    for index, layer in enumerate(layers):
        try:
            shape = layer_output_shape(shape, layer)
        except LayerConfigError as error:
            raise LayerConfigError(i18n(
                f"Couche {index + 1} — {error.message['fr']}",
                f"Layer {index + 1} — {error.message['en']}")) from error
        shapes.append(shape)
    return shapes


def validate_layers(input_shape: Sequence[int], layers: Sequence[Layer]) -> None:
    """Raise ``LayerConfigError`` unless the chain can be built on that input."""
    if not isinstance(layers, (list, tuple)) or not layers:
        raise LayerConfigError(i18n("Il faut au moins une couche.",
                                    "At least one layer is needed."))
    chain_output_shapes(input_shape, layers)


# ----------------------------------------------------------------------------- parameters

def spec_param_count(shape: Shape, spec: LayerSpec, *, biases: bool = True) -> int:
    bias = 1 if biases else 0
    if isinstance(spec, Conv2DSpec):
        rows, cols = spec.kernel_size
        return (rows * cols * shape[-1] + bias) * spec.filters
    if isinstance(spec, DenseSpec):
        return (shape[-1] + bias) * spec.units
    return 0


def layer_param_count(input_shape: Sequence[int], layer: Layer) -> int:
    """Trainable parameters of one layer, biases included, as Keras' ``count_params``."""
    shape = _check_input_shape(input_shape)
    spec = parse_layer(layer)
    spec_output_shape(shape, spec, layer["class_name"])
    return spec_param_count(shape, spec)


def chain_param_counts(input_shape: Sequence[int], layers: Sequence[Layer]) -> list[int]:
    """The parameter count of each layer of a chain."""
    inputs = [_check_input_shape(input_shape)] + chain_output_shapes(input_shape, layers)[:-1]
    return [spec_param_count(shape, parse_layer(layer))
            for shape, layer in zip(inputs, layers, strict=True)]


# ----------------------------------------------------------------------------- explanations

def format_shape(shape: Sequence[int]) -> str:
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(dim) for dim in shape) + ")"


def _window_formula(size: int, window: int, stride: int, padding: str) -> str:
    out = window_output(size, window, stride, padding)
    if padding == "same":
        return f"O = ceil(I/S) = ceil({size}/{stride}) = {out}"
    return (f"O = floor((I - K + 2P)/S) + 1 = floor(({size} - {window} + 2×0)/{stride}) + 1"
            f" = {out}")


def _per_axis(lines: list[str], lang: str) -> str:
    colon = " : " if lang == "fr" else ": "
    if lines[0] == lines[1]:
        both = "H et W" if lang == "fr" else "H and W"
        return f"{both}{colon}{lines[0]}"
    sep = " ; " if lang == "fr" else "; "
    return f"H{colon}{lines[0]}{sep}W{colon}{lines[1]}"


def _describe(spec: LayerSpec, class_name: str) -> str:
    if isinstance(spec, Conv2DSpec):
        return (f"Conv2D({spec.filters}, kernel_size={_dims(spec.kernel_size)}, "
                f"strides={_dims(spec.strides)}, padding='{spec.padding}')")
    if isinstance(spec, PoolingSpec):
        return (f"{class_name}(pool_size={_dims(spec.pool_size)}, strides={_dims(spec.strides)}, "
                f"padding='{spec.padding}')")
    if isinstance(spec, ZeroPadding2DSpec):
        (top, bottom), (left, right) = spec.padding
        if top == bottom == left == right:
            return f"ZeroPadding2D({top})"
        return f"ZeroPadding2D((({top}, {bottom}), ({left}, {right})))"
    if isinstance(spec, DenseSpec):
        return f"Dense({spec.units})"
    return f"{class_name}()"


def _dims(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"({pair[0]}, {pair[1]})"


def describe_layer(layer: Layer) -> str:
    """A short Keras-like call, e.g. ``Conv2D(16, kernel_size=3, strides=2, padding='same')``."""
    return _describe(parse_layer(layer), layer["class_name"])


def _explain_window(shape: Shape, spec: Conv2DSpec | PoolingSpec, out: Shape) -> I18nText:
    window = spec.kernel_size if isinstance(spec, Conv2DSpec) else spec.pool_size
    lines = [_window_formula(shape[axis], window[axis], spec.strides[axis], spec.padding)
             for axis in range(2)]
    if isinstance(spec, Conv2DSpec):
        channels_fr = f"canaux = nombre de filtres = {spec.filters}"
        channels_en = f"channels = number of filters = {spec.filters}"
    else:
        channels_fr = f"le pooling garde le nombre de canaux ({shape[2]})"
        channels_en = f"pooling keeps the number of channels ({shape[2]})"
    same_fr = same_en = ""
    if spec.padding == "same":
        same_fr = " (avec padding='same', Keras complète l'entrée de zéros juste ce qu'il faut)"
        same_en = " (with padding='same', Keras pads the input with just enough zeros)"
    return i18n(
        f"{_per_axis(lines, 'fr')}{same_fr} ; {channels_fr} → {format_shape(out)}",
        f"{_per_axis(lines, 'en')}{same_en}; {channels_en} → {format_shape(out)}")


def _explain_zero_padding(shape: Shape, spec: ZeroPadding2DSpec, out: Shape) -> I18nText:
    lines = []
    for axis, (before, after) in enumerate(spec.padding):
        if before == after:
            lines.append(f"O = I + 2P = {shape[axis]} + 2×{before} = {out[axis]}")
        else:
            lines.append(f"O = I + P1 + P2 = {shape[axis]} + {before} + {after} = {out[axis]}")
    return i18n(
        f"{_per_axis(lines, 'fr')} (des zéros de chaque côté) ; le nombre de canaux ne change pas"
        f" ({shape[2]})"
        f" → {format_shape(out)}",
        f"{_per_axis(lines, 'en')} (zeros on each side); the number of channels does not change"
        f" ({shape[2]})"
        f" → {format_shape(out)}")


def explain_output_shape(input_shape: Sequence[int], layer: Layer) -> I18nText:
    """How the layer's output shape follows from its input, with the numbers put in."""
    shape = _check_input_shape(input_shape)
    spec = parse_layer(layer)
    class_name = layer["class_name"]
    out = spec_output_shape(shape, spec, class_name)
    if isinstance(spec, (Conv2DSpec, PoolingSpec)):
        return _explain_window(shape, spec, out)
    if isinstance(spec, ZeroPadding2DSpec):
        return _explain_zero_padding(shape, spec, out)
    if isinstance(spec, FlattenSpec):
        product = " × ".join(str(dim) for dim in shape)
        return i18n(
            f"Flatten met tout à plat : {product} = {format_int(out[0], 'fr')} valeurs"
            f" → {format_shape(out)}",
            f"Flatten lays everything out flat: {product} = {format_int(out[0], 'en')} values"
            f" → {format_shape(out)}")
    if isinstance(spec, GlobalAveragePooling2DSpec):
        return i18n(
            f"une moyenne par canal sur les {shape[0]}×{shape[1]} positions"
            f" → {format_shape(out)}",
            f"one mean per channel over the {shape[0]}×{shape[1]} positions"
            f" → {format_shape(out)}")
    assert isinstance(spec, DenseSpec)
    if len(shape) == 1:
        return i18n(f"une sortie par neurone : {spec.units} → {format_shape(out)}",
                    f"one output per neuron: {spec.units} → {format_shape(out)}")
    return i18n(
        f"Dense n'agit que sur le dernier axe ({shape[-1]} → {spec.units}), les autres restent"
        f" → {format_shape(out)} (pour tout connecter, il faut un Flatten avant)",
        f"Dense acts on the last axis only ({shape[-1]} → {spec.units}), the others stay"
        f" → {format_shape(out)} (to connect everything, put a Flatten first)")


def explain_param_count(input_shape: Sequence[int], layer: Layer) -> I18nText:
    """The parameter formula of the layer with the numbers put in."""
    shape = _check_input_shape(input_shape)
    spec = parse_layer(layer)
    class_name = layer["class_name"]
    spec_output_shape(shape, spec, class_name)
    count = spec_param_count(shape, spec)
    if isinstance(spec, Conv2DSpec):
        rows, cols = spec.kernel_size
        formula = f"((m×n×d)+1)×k = (({rows}×{cols}×{shape[-1]})+1)×{spec.filters}"
        return i18n(
            f"{formula} = {format_int(count, 'fr')} : chacun des {spec.filters} filtres a "
            f"{rows}×{cols}×{shape[-1]} poids (un par canal d'entrée) et un biais",
            f"{formula} = {format_int(count, 'en')}: each of the {spec.filters} filters has "
            f"{rows}×{cols}×{shape[-1]} weights (one per input channel) and one bias")
    if isinstance(spec, DenseSpec):
        n_in = shape[-1]
        no_bias = n_in * spec.units
        return i18n(
            f"(n_in+1)×n_out = ({format_int(n_in, 'fr')}+1)×{format_int(spec.units, 'fr')} = "
            f"{format_int(count, 'fr')} : chaque neurone a {format_int(n_in, 'fr')} poids et "
            f"un biais, d'où + n_out = +{format_int(spec.units, 'fr')} (un biais par neurone). "
            f"Les diapositives comptent n_in×n_out = {format_int(no_bias, 'fr')}, sans les "
            f"biais ; Keras les compte",
            f"(n_in+1)×n_out = ({format_int(n_in, 'en')}+1)×{format_int(spec.units, 'en')} = "
            f"{format_int(count, 'en')}: each neuron has {format_int(n_in, 'en')} weights and "
            f"one bias, hence + n_out = +{format_int(spec.units, 'en')} (one bias per neuron). "
            f"The slides count n_in×n_out = {format_int(no_bias, 'en')}, without the biases; "
            f"Keras counts them")
    reasons = {
        "ZeroPadding2D": ("elle ajoute des zéros, rien à apprendre",
                          "it adds zeros, nothing to learn"),
        "MaxPooling2D": ("elle prend le maximum de chaque fenêtre, rien à apprendre",
                         "it takes the maximum of each window, nothing to learn"),
        "AveragePooling2D": ("elle fait la moyenne de chaque fenêtre, rien à apprendre",
                             "it averages each window, nothing to learn"),
        "Flatten": ("elle ne fait que réarranger les valeurs", "it only rearranges the values"),
        "GlobalAveragePooling2D": ("elle fait une moyenne par canal, rien à apprendre",
                                   "it takes one mean per channel, nothing to learn"),
    }
    reason_fr, reason_en = reasons[class_name]
    return i18n(f"0 paramètre : {reason_fr}", f"0 parameters: {reason_en}")
