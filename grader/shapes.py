"""Grading of output-size and parameter-count answers.

``feedback`` walks the whole computation (it gives the solution away: show it once the
exercise is over, or when the teacher allows it); ``details["hint"]`` says where to look
without giving the numbers. Every grader in this package fills ``details["hint"]``.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from grader.layers import (
    Conv2DSpec,
    Layer,
    LayerConfigError,
    LayerSpec,
    PoolingSpec,
    Shape,
    ZeroPadding2DSpec,
    chain_output_shapes,
    describe_layer,
    explain_output_shape,
    explain_param_count,
    format_shape,
    parse_layer,
    spec_output_shape,
    spec_param_count,
)
from grader.result import GradeResult, I18nText, i18n
from grader.text import format_int, join_lines

# --------------------------------------------------------------------------- output size


@dataclass(frozen=True)
class Mistake:
    """A classic slip in the output-size formula, replayed to recognise a student's answer."""

    name: str
    text: I18nText
    apply: Callable[[Shape, LayerSpec, str], Shape | None]


def _window_slip(spec: LayerSpec, shape: Shape,
                 formula: Callable[[int, int, int], int]) -> Shape | None:
    if not isinstance(spec, (Conv2DSpec, PoolingSpec)) or spec.padding != "valid":
        return None
    window = spec.kernel_size if isinstance(spec, Conv2DSpec) else spec.pool_size
    if len(shape) != 3 or window[0] > shape[0] or window[1] > shape[1]:
        return None
    dims = [formula(shape[axis], window[axis], spec.strides[axis]) for axis in range(2)]
    if min(dims) <= 0:
        return None
    channels = spec.filters if isinstance(spec, Conv2DSpec) else shape[2]
    return dims[0], dims[1], channels


def _swap_padding(shape: Shape, spec: LayerSpec, name: str) -> Shape | None:
    if not isinstance(spec, (Conv2DSpec, PoolingSpec)):
        return None
    other = "valid" if spec.padding == "same" else "same"
    return spec_output_shape(shape, replace(spec, padding=other), name)


def _ignore_stride(shape: Shape, spec: LayerSpec, name: str) -> Shape | None:
    if not isinstance(spec, (Conv2DSpec, PoolingSpec)) or spec.strides == (1, 1):
        return None
    return spec_output_shape(shape, replace(spec, strides=(1, 1)), name)


def _keep_channels(shape: Shape, spec: LayerSpec, name: str) -> Shape | None:
    if not isinstance(spec, Conv2DSpec) or len(shape) != 3:
        return None
    out = spec_output_shape(shape, spec, name)
    return out[0], out[1], shape[2]


def _pad_once(shape: Shape, spec: LayerSpec, name: str) -> Shape | None:
    if not isinstance(spec, ZeroPadding2DSpec) or len(shape) != 3:
        return None
    (top, _), (left, _) = spec.padding
    return shape[0] + top, shape[1] + left, shape[2]


def _skip(shape: Shape, spec: LayerSpec, name: str) -> Shape | None:
    return shape


# Each text completes "Your answer is what you get ..."; {at} and {the} name the layers.
MISTAKES: tuple[Mistake, ...] = (
    Mistake("swapped_padding", i18n(
        "en confondant padding='same' (O = ceil(I/S)) et padding='valid' "
        "(O = floor((I - K)/S) + 1) {at}",
        "by mixing up padding='same' (O = ceil(I/S)) and padding='valid' "
        "(O = floor((I - K)/S) + 1) {at}"), _swap_padding),
    Mistake("ignored_stride", i18n("en oubliant le pas (stride) {at} : il divise la taille par S",
                                   "by forgetting the stride {at}: it divides the size by S"),
            _ignore_stride),
    Mistake("ceil_instead_of_floor", i18n(
        "en arrondissant (I - K)/S au-dessus {at}, alors que la formule prend la partie entière "
        "(floor) : une fenêtre qui dépasserait de l'image ne compte pas",
        "by rounding (I - K)/S up {at}, whereas the formula takes the floor: a window that "
        "would stick out of the image does not count"),
        lambda shape, spec, name: _window_slip(spec, shape, lambda i, k, s: -(-(i - k) // s) + 1)),
    Mistake("forgot_plus_one", i18n(
        "en oubliant le « + 1 » de O = floor((I - K + 2P)/S) + 1 {at} (il compte la première "
        "position de la fenêtre)",
        "by forgetting the “+ 1” of O = floor((I - K + 2P)/S) + 1 {at} (it counts the first "
        "position of the window)"),
        lambda shape, spec, name: _window_slip(spec, shape, lambda i, k, s: (i - k) // s)),
    Mistake("kept_input_channels", i18n(
        "en gardant le nombre de canaux de l'entrée {at}, alors qu'une Conv2D sort autant de "
        "canaux qu'elle a de filtres",
        "by keeping the number of input channels {at}, whereas a Conv2D outputs as many "
        "channels as it has filters"), _keep_channels),
    Mistake("padded_once", i18n(
        "en ajoutant le padding d'un seul côté {at} : ZeroPadding2D en ajoute de part et "
        "d'autre (I + 2P)",
        "by adding the padding on one side only {at}: ZeroPadding2D adds it on both sides "
        "(I + 2P)"), _pad_once),
    Mistake("skipped_layer", i18n("en oubliant {the}", "by leaving out {the}"), _skip),
)


def _replay(input_shape: Shape, specs: Sequence[tuple[LayerSpec, str]],
            slips: Mapping[int, Mistake]) -> Shape | None:
    shape = input_shape
    try:
        for index, (spec, name) in enumerate(specs):
            if index in slips:
                slipped = slips[index].apply(shape, spec, name)
                if slipped is None:
                    return None
                shape = slipped
            else:
                shape = spec_output_shape(shape, spec, name)
    except LayerConfigError:
        return None
    return shape


def diagnose_output_size(*, input_shape: Sequence[int], layers: Sequence[Layer],
                         answer_shape: Sequence[int]) -> tuple[Mistake, list[int]] | None:
    """The classic slip, and the layers it was made at, that turns the chain into the answer."""
    specs = [(parse_layer(layer), layer["class_name"]) for layer in layers]
    start = tuple(input_shape)
    expected = _replay(start, specs, {})
    answer = tuple(answer_shape)
    if answer == expected:
        return None
    for index in range(len(specs)):
        for mistake in MISTAKES:
            if _replay(start, specs, {index: mistake}) == answer:
                return mistake, [index]
    for mistake in MISTAKES[:-1]:
        # A slip made at every layer it applies to: students repeat a wrong formula.
        applicable = [index for index, (spec, name) in enumerate(specs)
                      if _applies(mistake, specs, start, index)]
        slips = dict.fromkeys(applicable, mistake)
        if len(applicable) > 1 and _replay(start, specs, slips) == answer:
            return mistake, applicable
    return None


def _applies(mistake: Mistake, specs: Sequence[tuple[LayerSpec, str]], start: Shape,
             index: int) -> bool:
    shape = _replay(start, specs[:index], {})
    if shape is None:
        return False
    spec, name = specs[index]
    try:
        slipped = mistake.apply(shape, spec, name)
        return slipped is not None and slipped != spec_output_shape(shape, spec, name)
    except LayerConfigError:
        return False


def explain_chain(input_shape: Sequence[int], layers: Sequence[Layer]) -> I18nText:
    """The shape after each layer, with the formula and the numbers."""
    shape = tuple(input_shape)
    lines = [i18n(f"Entrée : {format_shape(shape)}", f"Input: {format_shape(shape)}")]
    for index, layer in enumerate(layers):
        step = explain_output_shape(shape, layer)
        call = describe_layer(layer)
        lines.append(i18n(f"Couche {index + 1} — {call} : {step['fr']}",
                          f"Layer {index + 1} — {call}: {step['en']}"))
        shape = chain_output_shapes(shape, [layer])[0]
    return join_lines(lines)


def _mistake_text(mistake: Mistake, layers: Sequence[Layer], indices: Sequence[int]) -> I18nText:
    names = ", ".join(f"{index + 1} ({describe_layer(layers[index])})" for index in indices)
    plural = len(indices) > 1
    places = {
        "fr": {"at": ("aux couches " if plural else "à la couche ") + names,
               "the": ("les couches " if plural else "la couche ") + names},
        "en": {"at": ("at layers " if plural else "at layer ") + names,
               "the": ("layers " if plural else "layer ") + names},
    }
    return i18n(f"Votre réponse est ce qu'on obtient {mistake.text['fr'].format(**places['fr'])}.",
                f"Your answer is what you get {mistake.text['en'].format(**places['en'])}.")


def grade_output_size(*, input_shape: Sequence[int], layers: Sequence[Layer],
                      answer_shape: Sequence[int]) -> GradeResult:
    """Grade the final shape of a chain; partial credit for each right dimension."""
    shapes = chain_output_shapes(input_shape, layers)
    expected, answer = shapes[-1], tuple(answer_shape)
    walkthrough = explain_chain(input_shape, layers)
    if answer == expected:
        headline = i18n(f"Exact : la sortie est de forme {format_shape(expected)}.",
                        f"Right: the output has shape {format_shape(expected)}.")
        return GradeResult(score=1.0, correct=True, feedback=join_lines([headline, walkthrough]),
                           details={"expected": list(expected), "hint": headline})
    score = 0.0
    if len(answer) == len(expected):
        score = sum(a == e for a, e in zip(answer, expected, strict=True)) / len(expected)
    lines = [i18n(f"Pas tout à fait : vous avez répondu {format_shape(answer)}, la sortie est "
                  f"de forme {format_shape(expected)}.",
                  f"Not quite: you answered {format_shape(answer)}, the output has shape "
                  f"{format_shape(expected)}.")]
    hint, first_wrong = _output_size_hint(input_shape, layers, shapes, answer)
    lines.append(hint)
    lines.append(walkthrough)
    return GradeResult(score=score, correct=False, feedback=join_lines(lines),
                       details={"expected": list(expected), "hint": hint,
                                "first_wrong_layer": first_wrong})


def _output_size_hint(input_shape: Sequence[int], layers: Sequence[Layer],
                      shapes: Sequence[Shape], answer: Shape) -> tuple[I18nText, int | None]:
    expected = shapes[-1]
    if len(answer) == len(expected) + 1 and answer[1:] == expected:
        return i18n("Laissez de côté la dimension du batch : on ne donne que les dimensions "
                    "d'un exemple.",
                    "Leave the batch dimension out: give only the dimensions of one example."
                    ), None
    diagnosis = diagnose_output_size(input_shape=input_shape, layers=layers,
                                     answer_shape=answer)
    if diagnosis is not None:
        mistake, indices = diagnosis
        return _mistake_text(mistake, layers, indices), indices[0]
    for index, shape in enumerate(shapes[:-1]):
        if shape == answer:
            return i18n(
                f"Votre réponse est la forme après la couche {index + 1} : les couches "
                f"suivantes la changent encore.",
                f"Your answer is the shape after layer {index + 1}: the following layers "
                f"still change it."), index + 1
    if len(answer) != len(expected):
        return i18n(
            f"La sortie a {len(expected)} dimension{'s' if len(expected) > 1 else ''}, votre "
            f"réponse {len(answer)} : Flatten et GlobalAveragePooling2D laissent un vecteur, "
            f"Conv2D et le pooling gardent (hauteur, largeur, canaux).",
            f"The output has {len(expected)} dimension{'s' if len(expected) > 1 else ''}, "
            f"your answer {len(answer)}: Flatten and GlobalAveragePooling2D leave a vector, "
            f"Conv2D and pooling keep (height, width, channels)."), None
    return i18n(
        "Reprenez la chaîne couche par couche : O = floor((I - K + 2P)/S) + 1, ou "
        "O = ceil(I/S) avec padding='same' ; une Conv2D sort autant de canaux que de filtres.",
        "Go through the chain layer by layer: O = floor((I - K + 2P)/S) + 1, or "
        "O = ceil(I/S) with padding='same'; a Conv2D outputs as many channels as filters."), None


# --------------------------------------------------------------------------- parameters


def _ask_layer(ask: Any, count: int) -> int | None:
    if ask == "total":
        return None
    if isinstance(ask, Mapping) and set(ask) == {"layer"}:
        index = ask["layer"]
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < count:
            return index
    raise LayerConfigError(i18n(
        f"« ask » vaut « total » ou {{\"layer\": i}} avec 0 ≤ i < {count}, pas {ask!r}.",
        f"“ask” is “total” or {{\"layer\": i}} with 0 ≤ i < {count}, not {ask!r}."))


def _breakdown(inputs: Sequence[Shape], layers: Sequence[Layer], counts: Sequence[int]) -> I18nText:
    lines = []
    for index, (shape, layer) in enumerate(zip(inputs, layers, strict=True)):
        step = explain_param_count(shape, layer)
        call = describe_layer(layer)
        lines.append(i18n(f"Couche {index + 1} — {call} : {step['fr']}",
                          f"Layer {index + 1} — {call}: {step['en']}"))
    total = sum(counts)
    terms = {lang: " + ".join(format_int(count, lang) for count in counts) for lang in ("fr", "en")}
    lines.append(i18n(f"Total : {terms['fr']} = {format_int(total, 'fr')}",
                      f"Total: {terms['en']} = {format_int(total, 'en')}"))
    return join_lines(lines)


def grade_param_count(*, input_shape: Sequence[int], layers: Sequence[Layer], ask: Any,
                      value: int) -> GradeResult:
    """Grade a parameter count (``ask`` is ``"total"`` or ``{"layer": i}``), as Keras counts."""
    outputs = chain_output_shapes(input_shape, layers)
    inputs = [tuple(input_shape)] + outputs[:-1]
    specs = [parse_layer(layer) for layer in layers]
    counts = [spec_param_count(shape, spec) for shape, spec in zip(inputs, specs, strict=True)]
    no_bias = [spec_param_count(shape, spec, biases=False)
               for shape, spec in zip(inputs, specs, strict=True)]
    index = _ask_layer(ask, len(layers))
    if index is None:
        expected, expected_no_bias = sum(counts), sum(no_bias)
        explanation = _breakdown(inputs, layers, counts)
    else:
        expected, expected_no_bias = counts[index], no_bias[index]
        step = explain_param_count(inputs[index], layers[index])
        call = describe_layer(layers[index])
        explanation = i18n(f"Couche {index + 1} — {call} : {step['fr']}",
                           f"Layer {index + 1} — {call}: {step['en']}")
    details: dict[str, Any] = {"expected": expected, "without_biases": expected_no_bias}
    if value == expected:
        headline = i18n(f"Exact : {format_int(expected, 'fr')} paramètres.",
                        f"Right: {format_int(expected, 'en')} parameters.")
        details["hint"] = headline
        return GradeResult(score=1.0, correct=True, feedback=join_lines([headline, explanation]),
                           details=details)
    score = 0.0
    if value == expected_no_bias:
        # The slides' own count (no biases): half the credit, and say exactly what is missing.
        score = 0.5
        # Without the number of biases: adding it to the answer would give the count away.
        hint = i18n(
            "Vous avez oublié les biais : chaque neurone d'une couche Dense et chaque filtre "
            "d'une Conv2D a un biais en plus de ses poids. Keras les compte.",
            "You forgot the biases: every neuron of a Dense layer and every filter of a "
            "Conv2D has one bias besides its weights. Keras counts them.")
    else:
        hint = _param_hint(layers, inputs, specs, counts, index, value)
    headline = i18n(
        f"Non : vous avez répondu {format_int(value, 'fr')}, il y a "
        f"{format_int(expected, 'fr')} paramètres.",
        f"No: you answered {format_int(value, 'en')}, there are "
        f"{format_int(expected, 'en')} parameters.")
    details["hint"] = hint
    return GradeResult(score=score, correct=False,
                       feedback=join_lines([headline, hint, explanation]), details=details)


def _param_hint(layers: Sequence[Layer], inputs: Sequence[Shape], specs: Sequence[LayerSpec],
                counts: Sequence[int], index: int | None, value: int) -> I18nText:
    chosen = range(len(layers)) if index is None else [index]
    depthless = list(counts)
    for position in chosen:
        spec = specs[position]
        if isinstance(spec, Conv2DSpec):
            rows, cols = spec.kernel_size
            depthless[position] = (rows * cols + 1) * spec.filters
    if depthless != list(counts) and value == sum(depthless[position] for position in chosen):
        return i18n(
            "Vous avez oublié la profondeur d de l'entrée : un filtre de Conv2D couvre tous "
            "les canaux d'entrée, il a m×n×d poids (plus un biais).",
            "You forgot the depth d of the input: a Conv2D filter spans every input channel, "
            "it has m×n×d weights (plus one bias).")
    if index is None:
        for position, count in enumerate(counts):
            if count and value == sum(counts) - count:
                return i18n(f"Il manque les paramètres de la couche {position + 1}.",
                            f"The parameters of layer {position + 1} are missing.")
    elif counts[index] == 0:
        return i18n("Demandez-vous ce que cette couche apprend pendant l'entraînement : a-t-elle "
                    "des poids et des biais, ou ne fait-elle que résumer ou réarranger ses entrées ?",
                    "Ask yourself what this layer learns during training: does it have weights "
                    "and biases, or does it only summarise or rearrange its inputs?")
    elif value == 0:
        return i18n("Une couche Conv2D ou Dense a des poids et des biais à apprendre.",
                    "A Conv2D or Dense layer has weights and biases to learn.")
    return i18n(
        "Conv2D : ((m×n×d)+1)×k, avec d le nombre de canaux de son entrée ; Dense : "
        "(n_in+1)×n_out ; pooling, Flatten et padding : 0.",
        "Conv2D: ((m×n×d)+1)×k, with d the number of channels of its input; Dense: "
        "(n_in+1)×n_out; pooling, Flatten and padding: 0.")
