"""Localised content: a text stored as ``{"fr": ..., "en": ...}`` (the grader's convention)."""
from __future__ import annotations

from typing import Any

from django.utils.translation import get_language

LANGS = ("fr", "en")


def is_i18n_text(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and set(value) <= set(LANGS)


def localize(value: Any, lang: str | None = None) -> Any:
    """Pick the user's language in a text, or recursively in lists and dicts of them."""
    lang = (lang or get_language() or "fr")[:2]
    if is_i18n_text(value):
        return value.get(lang) or value.get("fr") or next(iter(value.values()))
    if isinstance(value, dict):
        return {k: localize(v, lang) for k, v in value.items()}
    if isinstance(value, list):
        return [localize(v, lang) for v in value]
    return value
