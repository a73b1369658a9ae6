"""Strict parsers for students' answers.

Answers come from JSON bodies and from HTML forms, so numbers may arrive as strings. Every
parser either returns a clean Python value or raises ``AnswerError`` with a bilingual message:
an ``AnswerError`` costs the student no attempt, so it must never hide a wrong answer (a wrong
number is graded, only a malformed one is refused).
"""
from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from grader.result import AnswerError

# Parameter counts legitimately reach billions (a 12 Mpx image into Dense(100) is 3.6e9).
MAX_INT = 10**15
MAX_COEFFICIENT = 1e6

# Thousands grouped by spaces, as French writes them ("3 600 000"), or by underscores. Only
# proper groups of three: "32 32 3" is three numbers, not 32323.
_GROUPED = re.compile(r"([+-]?\d{1,3})((?:[ \u00a0\u202f_]\d{3})+)((?:[.,]\d*)?)")
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_FRACTION = re.compile(r"([+-]?\d+)\s*/\s*(\d+)")


def _shown(obj: Any) -> str:
    text = obj if isinstance(obj, str) else repr(obj)
    return text if len(text) <= 40 else text[:37] + "..."


def _not_a_number(obj: Any) -> AnswerError:
    return AnswerError({
        "fr": f"« {_shown(obj)} » n'est pas un nombre.",
        "en": f"“{_shown(obj)}” is not a number.",
    })


def _number_from_text(text: str, *, allow_fraction: bool) -> float | int:
    # A typographic minus sign (U+2212) is what a copy from a slide or a PDF gives.
    cleaned = text.strip().replace("\u2212", "-")
    grouped = _GROUPED.fullmatch(cleaned)
    if grouped:
        cleaned = grouped.group(1) + re.sub(r"\D", "", grouped.group(2)) + grouped.group(3)
    if cleaned.count(",") == 1 and "." not in cleaned:
        # A French decimal comma: "0,5". Several commas are English grouping, refused below.
        cleaned = cleaned.replace(",", ".")
    if re.fullmatch(r"[+-]?\d+", cleaned):
        return int(cleaned)
    if _DECIMAL.fullmatch(cleaned):
        return float(cleaned)
    match = _FRACTION.fullmatch(cleaned)
    if allow_fraction and match:
        numerator, denominator = int(match.group(1)), int(match.group(2))
        if denominator == 0:
            raise AnswerError({
                "fr": f"« {text.strip()} » : division par zéro.",
                "en": f"“{text.strip()}”: division by zero.",
            })
        if abs(numerator) > MAX_INT or denominator > MAX_INT:
            raise _too_large(text, MAX_INT)
        return float(Fraction(numerator, denominator))
    raise _not_a_number(text)


def _too_large(obj: Any, limit: float) -> AnswerError:
    return AnswerError({
        "fr": f"« {_shown(obj)} » est trop grand (la limite est {limit:g} en valeur absolue).",
        "en": f"“{_shown(obj)}” is too large (the limit is {limit:g} in absolute value).",
    })


def _parse_number(obj: Any, *, limit: float, allow_fraction: bool) -> float | int:
    if isinstance(obj, (bool, np.bool_)):
        # bool is an int subclass in Python: True must not count as 1.
        raise _not_a_number(obj)
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, str):
        if len(obj) > 100:
            raise _not_a_number(obj)
        value: float | int = _number_from_text(obj, allow_fraction=allow_fraction)
    elif isinstance(obj, (int, float)):
        value = obj
    else:
        raise _not_a_number(obj)
    if isinstance(value, float) and not math.isfinite(value):
        raise AnswerError({
            "fr": f"« {_shown(obj)} » n'est pas un nombre fini.",
            "en": f"“{_shown(obj)}” is not a finite number.",
        })
    if abs(value) > limit:
        raise _too_large(obj, limit)
    return value


def parse_int(obj: Any) -> int:
    """An integer, from an int, an integral float (``3.0``) or a numeric string (``" 12 "``)."""
    value = _parse_number(obj, limit=MAX_INT, allow_fraction=False)
    if isinstance(value, float):
        if not value.is_integer():
            raise AnswerError({
                "fr": f"« {_shown(obj)} » n'est pas un nombre entier : on attend un entier ici.",
                "en": f"“{_shown(obj)}” is not a whole number: an integer is expected here.",
            })
        value = int(value)
    return value


def parse_float(obj: Any, *, limit: float = MAX_COEFFICIENT) -> float:
    """A finite real number; strings may use a decimal comma or a fraction such as ``1/9``."""
    return float(_parse_number(obj, limit=limit, allow_fraction=True))


def _as_list(obj: Any, *, what: dict[str, str]) -> list[Any]:
    if isinstance(obj, np.ndarray):
        obj = obj.tolist()
    if not isinstance(obj, (list, tuple)):
        raise AnswerError({
            "fr": f"{what['fr']} doit être une liste, pas « {_shown(obj)} ».",
            "en": f"{what['en']} must be a list, not “{_shown(obj)}”.",
        })
    return list(obj)


def parse_shape(obj: Any) -> tuple[int, ...]:
    """A shape without the batch dimension: a non-empty list of positive integers."""
    items = _as_list(obj, what={"fr": "La forme", "en": "The shape"})
    if not items:
        raise AnswerError({
            "fr": "La forme est vide : donnez au moins une dimension.",
            "en": "The shape is empty: give at least one dimension.",
        })
    if len(items) > 8:
        raise AnswerError({
            "fr": f"La forme a {len(items)} dimensions : c'est beaucoup trop.",
            "en": f"The shape has {len(items)} dimensions: far too many.",
        })
    if any(item is None for item in items):
        raise AnswerError({
            "fr": "Une dimension vaut None : laissez de côté la dimension du batch, "
                  "et donnez toutes les autres.",
            "en": "A dimension is None: leave the batch dimension out and give all the others.",
        })
    dims = tuple(parse_int(item) for item in items)
    if any(dim <= 0 for dim in dims):
        raise AnswerError({
            "fr": "Chaque dimension d'une forme est un entier strictement positif.",
            "en": "Every dimension of a shape is a strictly positive integer.",
        })
    return dims


def parse_kernel(obj: Any) -> np.ndarray:
    """A 3x3 kernel written as three rows of three numbers; returns a float64 array."""
    what = {"fr": "Le noyau", "en": "The kernel"}
    rows = _as_list(obj, what=what)
    if len(rows) != 3:
        raise AnswerError({
            "fr": f"Le noyau doit avoir 3 lignes, pas {len(rows)}.",
            "en": f"The kernel must have 3 rows, not {len(rows)}.",
        })
    values = []
    for index, row in enumerate(rows, start=1):
        row_items = _as_list(row, what={"fr": f"La ligne {index} du noyau",
                                        "en": f"Row {index} of the kernel"})
        if len(row_items) != 3:
            raise AnswerError({
                "fr": f"La ligne {index} du noyau doit avoir 3 coefficients, pas {len(row_items)}.",
                "en": f"Row {index} of the kernel must have 3 coefficients, not {len(row_items)}.",
            })
        values.append([parse_float(item) for item in row_items])
    return np.array(values, dtype=np.float64)


def parse_choices(obj: Any, valid_ids: Collection[str], multiple: bool) -> list[str]:
    """Chosen ids: a list of distinct known ids (a lone string counts as a list of one)."""
    items = [obj] if isinstance(obj, str) else _as_list(
        obj, what={"fr": "La liste des réponses choisies", "en": "The list of chosen answers"})
    if not items:
        raise AnswerError({
            "fr": "Aucune réponse choisie : cochez au moins une réponse.",
            "en": "No answer chosen: tick at least one answer.",
        })
    if any(not isinstance(item, str) for item in items):
        raise AnswerError({
            "fr": "Chaque réponse choisie doit être l'identifiant (texte) d'une proposition.",
            "en": "Every chosen answer must be the id (a string) of a choice.",
        })
    unknown = [item for item in items if item not in valid_ids]
    if unknown:
        raise AnswerError({
            "fr": f"Réponse inconnue : « {_shown(unknown[0])} » n'est pas une des propositions.",
            "en": f"Unknown answer: “{_shown(unknown[0])}” is not one of the choices.",
        })
    if len(set(items)) != len(items):
        raise AnswerError({
            "fr": "La même réponse est choisie plusieurs fois.",
            "en": "The same answer is chosen more than once.",
        })
    if not multiple and len(items) > 1:
        raise AnswerError({
            "fr": "Une seule réponse est attendue à cette question.",
            "en": "This question takes a single answer.",
        })
    return list(items)


def require_fields(answer: Any, fields: Sequence[str]) -> dict[str, Any]:
    """The answer object: a dict with exactly ``fields`` as keys."""
    if not isinstance(answer, dict):
        raise AnswerError({
            "fr": f"La réponse doit être un objet JSON avec {_field_list(fields, 'fr')}.",
            "en": f"The answer must be a JSON object with {_field_list(fields, 'en')}.",
        })
    missing = [name for name in fields if name not in answer]
    if missing:
        raise AnswerError({
            "fr": f"Champ manquant dans la réponse : « {missing[0]} ».",
            "en": f"Missing field in the answer: “{missing[0]}”.",
        })
    extra = sorted(str(name) for name in answer if name not in fields)
    if extra:
        raise AnswerError({
            "fr": f"Champ inattendu dans la réponse : « {_shown(extra[0])} » "
                  f"(on attend {_field_list(fields, 'fr')}).",
            "en": f"Unexpected field in the answer: “{_shown(extra[0])}” "
                  f"(expected {_field_list(fields, 'en')}).",
        })
    return answer


def _field_list(fields: Sequence[str], lang: str) -> str:
    quoted = [f"« {name} »" if lang == "fr" else f"“{name}”" for name in fields]
    noun = ("le champ " if len(fields) == 1 else "les champs ") if lang == "fr" else (
        "the field " if len(fields) == 1 else "the fields ")
    return noun + ", ".join(quoted)
