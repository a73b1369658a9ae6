"""Scoring a submitted model's predictions, and explaining its architecture.

The sandbox process loads the model and returns its outputs on the hidden test inputs; the
trusted worker calls this module with those outputs and the labels, which the sandbox never
sees. Nothing here imports Keras or matplotlib: numpy and Pillow only.
"""
from __future__ import annotations

import functools
import io
import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from grader.layers import (
    LayerConfigError,
    explain_output_shape,
    explain_param_count,
    layer_param_count,
)
from grader.result import I18nText, ParamsError, i18n
from grader.text import format_int, format_percent


class EvaluationError(ValueError):
    """The model's outputs cannot be scored; ``message`` says why, for the student."""

    def __init__(self, message: I18nText):
        super().__init__(message.get("en") or message.get("fr"))
        self.message = message


class ThresholdsError(ParamsError):
    """A teacher's grade thresholds that make no sense."""


@dataclass(frozen=True)
class Metrics:
    """Accuracy on the whole test set and on its two splits, and the confusion matrix.

    The public split is shown on the leaderboard while the deadline runs; the private split
    decides the grade, so tuning a model to the public split does not pay. An empty split has
    an accuracy of ``None``. ``confusion[i][j]`` counts images of true class ``i`` predicted as
    class ``j``.
    """

    accuracy: float
    public_accuracy: float | None
    private_accuracy: float | None
    confusion: np.ndarray
    count: int
    public_count: int
    private_count: int

    @property
    def per_class_recall(self) -> list[float | None]:
        totals = self.confusion.sum(axis=1)
        return [None if total == 0 else float(self.confusion[i, i] / total)
                for i, total in enumerate(totals)]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values, to store on the submission row."""
        return {
            "accuracy": self.accuracy, "public_accuracy": self.public_accuracy,
            "private_accuracy": self.private_accuracy,
            "confusion": self.confusion.tolist(), "count": self.count,
            "public_count": self.public_count, "private_count": self.private_count,
            "per_class_recall": self.per_class_recall,
        }


def _evaluation_error(fr: str, en: str) -> EvaluationError:
    return EvaluationError(i18n(fr, en))


def score_predictions(*, probabilities: np.ndarray, labels: np.ndarray,
                      public_mask: np.ndarray) -> Metrics:
    """Score a model's outputs (N, K) against the true labels (N,).

    The predicted class is the arg-max of each row, so logits score the same as
    probabilities; a tie goes to the lower class index. ``public_mask`` (N,) is ``True`` for
    the images of the public split. Raises ``EvaluationError`` on outputs of the wrong shape or
    type, or with NaN or infinite values (what a model that diverged in training outputs).
    """
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels)
    public_mask = np.asarray(public_mask)
    if probabilities.dtype.kind not in "fiu" or probabilities.dtype.kind == "b":
        raise _evaluation_error(
            f"Les sorties du modèle doivent être des nombres, pas {probabilities.dtype}.",
            f"The model's outputs must be numbers, not {probabilities.dtype}.")
    if probabilities.ndim != 2 or probabilities.shape[0] == 0 or probabilities.shape[1] < 2:
        raise _evaluation_error(
            f"Le modèle doit donner un vecteur de K ≥ 2 scores par image, de forme (N, K) ; "
            f"ses sorties sont de forme {probabilities.shape}. Terminez-le par "
            f"Dense(K, activation=\"softmax\").",
            f"The model must output one vector of K ≥ 2 scores per image, of shape (N, K); "
            f"its outputs have shape {probabilities.shape}. End it with "
            f"Dense(K, activation=\"softmax\").")
    count, classes = probabilities.shape
    if labels.ndim != 1 or labels.shape[0] != count or labels.dtype.kind not in "iu":
        raise _evaluation_error(
            f"Les étiquettes doivent être {count} entiers ; reçu {labels.dtype} de forme "
            f"{labels.shape}.",
            f"The labels must be {count} integers; got {labels.dtype} of shape {labels.shape}.")
    if labels.min() < 0 or labels.max() >= classes:
        raise _evaluation_error(
            f"Les étiquettes vont de {labels.min()} à {labels.max()}, mais le modèle ne donne "
            f"que {classes} scores par image : il lui faut une sortie par classe.",
            f"The labels go from {labels.min()} to {labels.max()}, but the model outputs only "
            f"{classes} scores per image: it needs one output per class.")
    if public_mask.dtype != np.bool_ or public_mask.shape != (count,):
        raise _evaluation_error(
            f"Le masque public doit être un vecteur de {count} booléens.",
            f"The public mask must be a vector of {count} booleans.")
    if probabilities.dtype.kind == "f" and not np.isfinite(probabilities).all():
        bad = int((~np.isfinite(probabilities)).any(axis=1).sum())
        raise _evaluation_error(
            f"Le modèle donne des valeurs NaN ou infinies pour {bad} image(s) sur {count} : "
            f"son entraînement a sans doute divergé (taux d'apprentissage trop grand, entrées "
            f"non normalisées). Vérifiez model.predict sur quelques images avant d'envoyer.",
            f"The model outputs NaN or infinite values for {bad} image(s) out of {count}: its "
            f"training probably diverged (learning rate too high, inputs not normalised). "
            f"Check model.predict on a few images before uploading.")
    predicted = probabilities.argmax(axis=1)
    correct = predicted == labels
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)

    def mean(mask: np.ndarray) -> float | None:
        return float(correct[mask].mean()) if mask.any() else None

    return Metrics(accuracy=float(correct.mean()), public_accuracy=mean(public_mask),
                   private_accuracy=mean(~public_mask), confusion=confusion, count=count,
                   public_count=int(public_mask.sum()),
                   private_count=int(count - public_mask.sum()))


# ----------------------------------------------------------------------------- grades

def validate_thresholds(thresholds: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
    """The thresholds as sorted ``(accuracy, grade)`` pairs; ``ThresholdsError`` if invalid.

    Accuracies must be strictly increasing and grades non-decreasing, all within [0, 1]: a
    better model never gets a lower grade.
    """
    pairs: list[tuple[float, float]] = []
    if not isinstance(thresholds, (list, tuple)) or not thresholds:
        raise ThresholdsError(i18n("Il faut au moins un seuil [précision, note].",
                                   "At least one [accuracy, grade] threshold is needed."))
    for item in thresholds:
        if (not isinstance(item, (list, tuple)) or len(item) != 2 or any(
                isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or not 0 <= value <= 1 for value in item)):
            raise ThresholdsError(i18n(
                f"Un seuil s'écrit [précision, note], deux nombres entre 0 et 1, pas {item!r}.",
                f"A threshold is written [accuracy, grade], two numbers between 0 and 1, "
                f"not {item!r}."))
        pairs.append((float(item[0]), float(item[1])))
    for (acc_a, grade_a), (acc_b, grade_b) in zip(pairs, pairs[1:]):
        if acc_b <= acc_a or grade_b < grade_a:
            raise ThresholdsError(i18n(
                "Les seuils doivent aller en croissant : précisions strictement croissantes, "
                "notes croissantes.",
                "The thresholds must go up: strictly increasing accuracies, non-decreasing "
                "grades."))
    return pairs


def grade_from_accuracy(accuracy: float, thresholds: Sequence[Sequence[float]]) -> float:
    """The grade in [0, 1] of the highest threshold the accuracy reaches; 0 below the first.

    ``[[0.5, 0.5], [0.8, 0.8], [0.9, 1.0]]``: 0.85 → 0.8, 0.95 → 1.0, 0.49 → 0. Below the
    first threshold the grade is 0, not proportional, because a model at chance level (1/6 for
    six classes) would otherwise earn points; a teacher who wants partial credit adds a low
    threshold such as ``[0.3, 0.1]``.
    """
    pairs = validate_thresholds(thresholds)
    if isinstance(accuracy, bool) or not isinstance(accuracy, (int, float, np.floating)) or \
            not 0 <= accuracy <= 1:
        raise ValueError(f"accuracy must be in [0, 1], not {accuracy!r}")
    grade = 0.0
    for threshold, value in pairs:
        if accuracy >= threshold - 1e-12:
            grade = value
    return grade


# ----------------------------------------------------------------------------- confusion image

CELL = 44
LABEL_WIDTH = 120
LEGEND_WIDTH = 70
MARGIN = 12
TITLE_HEIGHT = 22
_AXIS_TITLES = {"fr": ("Vraie classe", "Classe prédite"), "en": ("True class", "Predicted class")}


def confusion_matrix_size(classes: int) -> tuple[int, int]:
    """(width, height) in pixels of ``confusion_matrix_png`` for ``classes`` classes."""
    side = classes * CELL
    return (MARGIN + TITLE_HEIGHT + LABEL_WIDTH + side + LEGEND_WIDTH + MARGIN,
            MARGIN + LABEL_WIDTH + side + TITLE_HEIGHT + MARGIN)


def _colour(fraction: float) -> tuple[int, int, int]:
    """White for 0 to a deep blue for 1."""
    low, high = np.array([247, 251, 255]), np.array([8, 48, 107])
    return tuple(int(round(v)) for v in low + (high - low) * min(max(fraction, 0.0), 1.0))


def _fit(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont,
         width: float) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


# Fonts with accents (é, è, ×) looked up by file name in the system's font folders; Debian's
# fonts-dejavu-core provides the first. Pillow's own default font has no accents, so it comes
# last, with the accents stripped from the text.
_FONT_FILES = ("DejaVuSans.ttf", "LiberationSans-Regular.ttf", "Arial.ttf")


@functools.cache
def _font(size: int) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, bool]:
    """(font, whether it draws accents)."""
    for name in _FONT_FILES:
        try:
            return ImageFont.truetype(name, size), True
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size), False
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default(), False


def _plain(text: str) -> str:
    """The text without accents, for a font that lacks them: « prédite » → « predite »."""
    decomposed = unicodedata.normalize("NFKD", text.replace("×", "x"))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def confusion_matrix_png(matrix: np.ndarray, class_names: Sequence[str], *,
                         lang: str = "fr") -> bytes:
    """The confusion matrix as a PNG: rows are true classes, columns predicted classes.

    Each cell shows its count; its colour is the share of that row (the recall of the class on
    the diagonal), so a rare class reads as clearly as a common one. A legend bar gives the
    scale. The size is fixed by the number of classes (``confusion_matrix_size``); long class
    names are cut with an ellipsis.
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0 or \
            matrix.dtype.kind not in "iu" or (matrix < 0).any():
        raise ValueError(f"a confusion matrix is a square array of counts, not {matrix!r}")
    classes = matrix.shape[0]
    if len(class_names) != classes:
        raise ValueError(f"{classes} classes but {len(class_names)} names")
    width, height = confusion_matrix_size(classes)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    (font, accents), (small, _) = _font(13), _font(11)
    text_of = str if accents else _plain
    left = MARGIN + TITLE_HEIGHT + LABEL_WIDTH
    top = MARGIN + LABEL_WIDTH
    rows = matrix.sum(axis=1)
    for i in range(classes):
        for j in range(classes):
            fraction = matrix[i, j] / rows[i] if rows[i] else 0.0
            box = (left + j * CELL, top + i * CELL, left + (j + 1) * CELL - 1,
                   top + (i + 1) * CELL - 1)
            draw.rectangle(box, fill=_colour(fraction), outline=(200, 200, 200))
            text = str(int(matrix[i, j]))
            cell_font = font if draw.textlength(text, font=font) <= CELL - 6 else small
            draw.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), text,
                      fill="white" if fraction > 0.5 else "black", font=cell_font, anchor="mm")
        name = _fit(draw, text_of(str(class_names[i])), font, LABEL_WIDTH - 8)
        draw.text((left - 6, top + i * CELL + CELL / 2), name, fill="black", font=font,
                  anchor="rm")
        # Column labels, written upwards so long names fit above narrow columns.
        label = Image.new("RGB", (LABEL_WIDTH, CELL), "white")
        ImageDraw.Draw(label).text((4, CELL / 2), name, fill="black", font=font, anchor="lm")
        image.paste(label.rotate(90, expand=True), (left + i * CELL, MARGIN))
    true_title, predicted_title = map(text_of, _AXIS_TITLES.get(lang, _AXIS_TITLES["en"]))
    side = classes * CELL
    draw.text((left + side / 2, top + side + TITLE_HEIGHT / 2 + 2), predicted_title,
              fill="black", font=font, anchor="mm")
    title = Image.new("RGB", (side, TITLE_HEIGHT), "white")
    ImageDraw.Draw(title).text((side / 2, TITLE_HEIGHT / 2), true_title, fill="black",
                               font=font, anchor="mm")
    image.paste(title.rotate(90, expand=True), (MARGIN, top))
    # Legend: the colour scale from 0 % to 100 % of the row.
    bar_left, bar_width = left + side + 16, 14
    for y in range(side):
        draw.line([(bar_left, top + y), (bar_left + bar_width, top + y)],
                  fill=_colour(1 - y / max(side - 1, 1)))
    draw.rectangle((bar_left, top, bar_left + bar_width, top + side - 1), outline=(120, 120, 120))
    for fraction, y in ((1.0, top), (0.5, top + side / 2), (0.0, top + side - 1)):
        draw.text((bar_left + bar_width + 4, y), f"{fraction:.0%}".replace("%", " %")
                  if lang == "fr" else f"{fraction:.0%}", fill="black", font=small, anchor="lm")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- architecture

_NOTES: dict[str, tuple[str, str]] = {
    "InputLayer": ("l'entrée du modèle : aucun paramètre", "the model's input: no parameters"),
    "Dropout": ("met des valeurs à zéro au hasard pendant l'entraînement : aucun paramètre",
                "zeroes random values during training: no parameters"),
    "SpatialDropout2D": ("met des canaux entiers à zéro pendant l'entraînement : aucun "
                         "paramètre", "zeroes whole channels during training: no parameters"),
    "Activation": ("applique une fonction à chaque valeur : aucun paramètre",
                   "applies a function to each value: no parameters"),
    "ReLU": ("max(0, x) sur chaque valeur : aucun paramètre",
             "max(0, x) on each value: no parameters"),
    "LeakyReLU": ("comme ReLU avec une petite pente pour x < 0 : aucun paramètre",
                  "like ReLU with a small slope for x < 0: no parameters"),
    "Softmax": ("transforme les scores en probabilités : aucun paramètre",
                "turns scores into probabilities: no parameters"),
    "Rescaling": ("multiplie les pixels par une constante fixe (par exemple 1/255) : aucun "
                  "paramètre", "multiplies the pixels by a fixed constant (e.g. 1/255): no "
                  "parameters"),
    "GlobalMaxPooling2D": ("un maximum par canal : aucun paramètre",
                           "one maximum per channel: no parameters"),
    "Reshape": ("réarrange les valeurs : aucun paramètre",
                "rearranges the values: no parameters"),
    "Add": ("additionne ses entrées : aucun paramètre", "adds its inputs: no parameters"),
    "Concatenate": ("met ses entrées bout à bout : aucun paramètre",
                    "puts its inputs end to end: no parameters"),
    "RandomFlip": ("augmentation de données, active seulement à l'entraînement : aucun "
                   "paramètre", "data augmentation, active only in training: no parameters"),
}
for _name in ("RandomRotation", "RandomTranslation", "RandomZoom"):
    _NOTES[_name] = _NOTES["RandomFlip"]
_COURSE_LAYERS = ("Conv2D", "Dense", "MaxPooling2D", "AveragePooling2D", "Flatten",
                  "GlobalAveragePooling2D", "ZeroPadding2D")


def _shape_of(value: Any) -> tuple[int, ...] | None:
    """A reported shape without its batch dimension: ``[None, 30, 30, 32]`` → (30, 30, 32)."""
    if not isinstance(value, (list, tuple)):
        return None
    dims = list(value)
    if dims and dims[0] is None:
        dims = dims[1:]
    if not dims or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d <= 0
                       for d in dims):
        return None
    return tuple(int(d) for d in dims)


def _course_layer(class_name: str, config: Mapping[str, Any],
                  shape_in: tuple[int, ...], shape_out: tuple[int, ...] | None
                  ) -> dict[str, Any] | None:
    """The layer as ``grader.layers`` writes it, or ``None`` when the course formula is off."""
    if class_name == "Conv2D":
        if config.get("groups", 1) != 1 or config.get("use_bias", True) is not True:
            return None
        keys = ("filters", "kernel_size", "strides", "padding")
        if "filters" not in config or "kernel_size" not in config:
            return None
        return {"class_name": "Conv2D", "config": {k: config[k] for k in keys if k in config}}
    if class_name == "Dense":
        if config.get("use_bias", True) is not True or config.get("lora_rank"):
            return None
        units = config.get("units", shape_out[-1] if shape_out else None)
        return None if units is None else {"class_name": "Dense", "config": {"units": units}}
    if class_name in ("MaxPooling2D", "AveragePooling2D"):
        keys = ("pool_size", "strides", "padding")
        return {"class_name": class_name, "config": {k: config[k] for k in keys
                                                     if config.get(k) is not None}}
    if class_name == "ZeroPadding2D":
        return {"class_name": class_name, "config": {"padding": config.get("padding", 1)}}
    if class_name in ("Flatten", "GlobalAveragePooling2D"):
        if config.get("keepdims"):
            return None
        return {"class_name": class_name, "config": {}}
    return None


def _other_note(class_name: str, config: Mapping[str, Any], shape_in: tuple[int, ...] | None,
                params: int) -> tuple[int | None, I18nText]:
    """(expected count or None, note) for a layer outside the course's formulas."""
    channels = shape_in[-1] if shape_in else None
    if class_name == "BatchNormalization" and channels:
        learnt = int(config.get("center", True)) + int(config.get("scale", True))
        expected = (2 + learnt) * channels
        return expected, i18n(
            f"{2 + learnt}×canaux = {2 + learnt}×{channels} = {format_int(expected, 'fr')} : "
            f"γ et β s'apprennent ({learnt}×{channels}), la moyenne et la variance mobiles "
            f"(2×{channels}) sont mises à jour sans gradient, donc non entraînables",
            f"{2 + learnt}×channels = {2 + learnt}×{channels} = {format_int(expected, 'en')}: "
            f"γ and β are learnt ({learnt}×{channels}), the moving mean and variance "
            f"(2×{channels}) are updated without gradients, so not trainable")
    if class_name == "LayerNormalization" and channels:
        expected = 2 * channels
        return expected, i18n(f"2×canaux = 2×{channels} = {expected} : γ et β",
                              f"2×channels = 2×{channels} = {expected}: γ and β")
    if class_name == "Normalization" and channels:
        expected = 2 * channels + 1
        return expected, i18n(
            f"moyenne et variance par canal, plus un compteur : 2×{channels}+1 = {expected}, "
            f"calculés par adapt(), non entraînables",
            f"mean and variance per channel, plus a counter: 2×{channels}+1 = {expected}, "
            f"computed by adapt(), not trainable")
    if class_name == "SeparableConv2D" and channels and "kernel_size" in config:
        rows, cols = _pair(config["kernel_size"])
        filters, multiplier = config.get("filters", 0), config.get("depth_multiplier", 1)
        bias = filters if config.get("use_bias", True) else 0
        expected = rows * cols * channels * multiplier + channels * multiplier * filters + bias
        return expected, i18n(
            f"en profondeur {rows}×{cols}×{channels}, puis 1×1 : {channels}×{filters}, "
            f"+{bias} biais = {format_int(expected, 'fr')}",
            f"depthwise {rows}×{cols}×{channels}, then 1×1: {channels}×{filters}, "
            f"+{bias} biases = {format_int(expected, 'en')}")
    if class_name == "DepthwiseConv2D" and channels and "kernel_size" in config:
        rows, cols = _pair(config["kernel_size"])
        multiplier = config.get("depth_multiplier", 1)
        bias = channels * multiplier if config.get("use_bias", True) else 0
        expected = rows * cols * channels * multiplier + bias
        return expected, i18n(
            f"un noyau {rows}×{cols} par canal : {rows}×{cols}×{channels}+{bias} = {expected}",
            f"one {rows}×{cols} kernel per channel: {rows}×{cols}×{channels}+{bias} = "
            f"{expected}")
    if class_name in ("Sequential", "Functional", "Model"):
        return None, i18n("un sous-modèle : ses paramètres sont la somme de ceux de ses couches",
                          "a sub-model: its parameters are the sum of its layers'")
    if class_name in _NOTES:
        fr, en = _NOTES[class_name]
        return 0, i18n(fr, en)
    return None, i18n(f"nombre de paramètres donné par Keras : {format_int(params, 'fr')}",
                      f"parameter count given by Keras: {format_int(params, 'en')}")


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return int(value[0]), int(value[1])
    return int(value), int(value)


def architecture_report(*, input_shape: Sequence[int],
                        layers_from_sandbox: Sequence[Mapping[str, Any]],
                        layer_configs: Mapping[str, Mapping[str, Any]] | None = None
                        ) -> list[dict[str, Any]]:
    """One row per layer: Keras' numbers, and the course's formula where one applies.

    Each sandbox dict is ``{"name", "class_name", "output_shape", "params"}`` as Keras reports
    them after loading (``output_shape`` with or without the leading ``None`` batch
    dimension); it may also carry ``"config"`` (the layer's Keras config) and
    ``"input_shape"``. Configs can instead come from ``layer_configs`` (layer name → config,
    e.g. from the intake report). A layer's input is the reported ``input_shape``, else the
    previous layer's output (``input_shape`` for the first), which is right for a chain.

    For Conv2D, Dense, pooling, padding and Flatten rows the parameter count is recomputed
    with the course's formulas (``((m×n×d)+1)×k``, ``(n_in+1)×n_out``, 0) and the formula
    written out with its numbers; ``agrees`` says whether Keras counts the same. Other layers
    get Keras' count with a short note (BatchNormalization: 4×channels, 2 of them not
    trainable, ...).

    Row keys: ``name``, ``class_name``, ``input_shape``, ``output_shape``, ``params`` (Keras),
    ``expected_params`` (ours or ``None``), ``formula`` (I18nText or ``None``),
    ``shape_formula`` (I18nText or ``None``), ``note`` (I18nText or ``None``), ``agrees``
    (bool, or ``None`` when there is nothing to compare).
    """
    layer_configs = layer_configs or {}
    previous: tuple[int, ...] | None = _shape_of(list(input_shape))
    rows = []
    for layer in layers_from_sandbox:
        name = str(layer.get("name", ""))
        class_name = str(layer.get("class_name", ""))
        params = int(layer.get("params", 0))
        shape_out = _shape_of(layer.get("output_shape"))
        shape_in = _shape_of(layer.get("input_shape")) or previous
        config = layer.get("config") or layer_configs.get(name) or {}
        row: dict[str, Any] = {
            "name": name, "class_name": class_name,
            "input_shape": list(shape_in) if shape_in else None,
            "output_shape": list(shape_out) if shape_out else None,
            "params": params, "expected_params": None, "formula": None,
            "shape_formula": None, "note": None, "agrees": None,
        }
        course = None
        if class_name in _COURSE_LAYERS and shape_in is not None:
            course = _course_layer(class_name, config, shape_in, shape_out)
        if course is not None:
            try:
                row["expected_params"] = layer_param_count(shape_in, course)
                row["formula"] = explain_param_count(shape_in, course)
                row["shape_formula"] = explain_output_shape(shape_in, course)
            except LayerConfigError as error:
                row["note"] = error.message
        elif class_name == "Conv2D" and not config:
            row["note"] = i18n(
                "configuration indisponible : nombre de paramètres donné par Keras",
                "configuration unavailable: parameter count given by Keras")
        else:
            expected, note = _other_note(class_name, config, shape_in, params)
            row["expected_params"], row["note"] = expected, note
        if row["expected_params"] is not None:
            row["agrees"] = row["expected_params"] == params
            if not row["agrees"]:
                extra = row["note"] or i18n("", "")
                row["note"] = i18n(
                    (extra["fr"] + " — " if extra["fr"] else "")
                    + f"Keras compte {format_int(params, 'fr')} : la configuration diffère de "
                      f"ce que suppose la formule (biais, groupes, forme d'entrée).",
                    (extra["en"] + " — " if extra["en"] else "")
                    + f"Keras counts {format_int(params, 'en')}: the configuration differs "
                      f"from what the formula assumes (biases, groups, input shape).")
        if shape_out is not None:
            previous = shape_out
        rows.append(row)
    return rows


__all__ = [
    "EvaluationError", "Metrics", "ThresholdsError", "architecture_report",
    "confusion_matrix_png", "confusion_matrix_size", "grade_from_accuracy",
    "score_predictions", "validate_thresholds",
]


# ----------------------------------------------------------------------------- likely causes

# Layers that put raw 0–255 pixels on a scale a network trains well on, inside the model.
SCALING_LAYERS = frozenset({"Rescaling", "Normalization", "BatchNormalization", "LayerNormalization"})


def input_scale_diagnosis(*, accuracy: float, thresholds: Sequence[Sequence[float]],
                          layer_classes: Sequence[str], predicted_share: float) -> dict | None:
    """The likely cause of an accuracy far below the exercise's expectations, or ``None``.

    The grader feeds raw 0–255 ``float32`` pixels. A model trained on ``x / 255`` that does not
    rescale inside itself sees inputs 255 times larger: its activations saturate, it predicts
    nearly one class, and it scores far below its local accuracy. That is named when the public
    accuracy is under the first threshold that gives credit and no layer of the model rescales
    its inputs; ``predicted_share`` (the share of predictions in the most predicted class) is
    quoted as the evidence when it is high.
    """
    pairs = validate_thresholds(thresholds)
    if not pairs or accuracy >= pairs[0][0] or SCALING_LAYERS & set(layer_classes):
        return None
    fr = ("Cause probable : les entrées ne sont pas normalisées dans le modèle. Le correcteur donne "
          "les pixels bruts, de 0 à 255 ; si vous avez divisé par 255 avant l'entraînement, le modèle "
          "voit ici des valeurs 255 fois plus grandes. Ajoutez une couche Rescaling(1/255) en tête du "
          "modèle, réentraînez et soumettez à nouveau.")
    en = ("Likely cause: the inputs are not normalised inside the model. The grader feeds the raw "
          "pixels, from 0 to 255; if you divided by 255 before training, the model sees values 255 "
          "times larger here. Put a Rescaling(1/255) layer first in the model, train again and "
          "resubmit.")
    if predicted_share >= 0.6:
        share = {lang: format_percent(predicted_share, lang, decimals=0) for lang in ("fr", "en")}
        fr += f" Indice : {share['fr']} des prédictions tombent dans une seule classe."
        en += f" A clue: {share['en']} of the predictions fall in a single class."
    return i18n(fr, en)
