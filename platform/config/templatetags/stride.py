from __future__ import annotations

import json

import nh3
from django import template
from django.utils.safestring import mark_safe
from markdown_it import MarkdownIt

from config.i18n import localize

register = template.Library()
_md = MarkdownIt("commonmark", {"html": False}).enable("table")
# Graders' feedback: one line per point, so a newline is a line break.
_md_lines = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable("table")


@register.filter
def loc(value):
    """Pick the current language in a {"fr", "en"} text."""
    return localize(value)


@register.filter
def markdown(value):
    """Render teacher-written markdown, sanitised with nh3 (no raw HTML, no scripts)."""
    return mark_safe(nh3.clean(_md.render(str(localize(value) or ""))))


@register.filter
def feedback(value):
    """A grader's or teacher's feedback: Markdown (sanitised), each line on its own line."""
    return mark_safe(nh3.clean(_md_lines.render(str(localize(value) or ""))))


@register.filter
def markdown_inline(value):
    """Teacher-written Markdown inside a line (a choice, a title): no paragraph around it."""
    return mark_safe(nh3.clean(_md.renderInline(str(localize(value) or ""))))


@register.simple_tag
def local_time(value, fmt="SHORT_DATETIME_FORMAT"):
    """A moment in the viewer's own time zone: the server writes it in the site's zone, in the
    page's language, and stride.js rewrites it in the browser's zone (``data-local``)."""
    from django.utils import timezone
    from django.utils.dateformat import format as date_format
    from django.utils.formats import get_format
    from django.utils.html import format_html

    if value is None:
        return "–"
    local = timezone.localtime(value)
    style = "short" if fmt == "SHORT_DATETIME_FORMAT" else "long"
    return format_html('<time datetime="{}" data-local="{}">{}</time>', value.isoformat(), style,
                       date_format(local, get_format(fmt)))


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


@register.filter
def decimal(value):
    """A number as the page's language writes it (``12,5`` in French), at most two decimals."""
    from django.utils.formats import number_format

    if value is None:
        return "–"
    return number_format(round(float(value), 2), decimal_pos=None if float(value).is_integer() else 2,
                         use_l10n=True).rstrip("0").rstrip(",.") if not float(value).is_integer() else str(int(value))

