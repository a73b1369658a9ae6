from __future__ import annotations

import json

import nh3
from django import template
from django.utils.safestring import mark_safe
from markdown_it import MarkdownIt

from config.i18n import localize

register = template.Library()
_md = MarkdownIt("commonmark", {"html": False}).enable("table")


@register.filter
def loc(value):
    """Pick the current language in a {"fr", "en"} text."""
    return localize(value)


@register.filter
def markdown(value):
    """Render teacher-written markdown, sanitised with nh3 (no raw HTML, no scripts)."""
    return mark_safe(nh3.clean(_md.render(str(localize(value) or ""))))


@register.filter
def percent(value):
    if value is None:
        return "–"
    return f"{round(float(value) * 100)} %"


@register.filter
def to_json(value):
    return mark_safe(json.dumps(value).replace("<", "\\u003c"))


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None
