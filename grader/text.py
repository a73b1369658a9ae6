"""Small helpers to write bilingual feedback."""
from __future__ import annotations

from collections.abc import Sequence

from grader.result import I18nText, i18n


def join_lines(lines: Sequence[I18nText]) -> I18nText:
    """One text per language, the lines separated by newlines."""
    return i18n("\n".join(line["fr"] for line in lines), "\n".join(line["en"] for line in lines))


def format_int(value: int, lang: str) -> str:
    """Digits grouped by thousands from 10 000 on, as each language writes them."""
    if abs(value) < 10_000:
        return str(value)
    grouped = f"{value:,}"
    # French groups with a narrow no-break space, so a number never breaks across lines.
    return grouped.replace(",", "\u202f") if lang == "fr" else grouped


def format_percent(rate: float, lang: str, *, decimals: int = 1) -> str:
    """A rate as each language writes it: « 59,4 % » in French, "59.4%" in English."""
    number = f"{100 * float(rate):.{decimals}f}"
    return f"{number.replace('.', ',')}\u00a0%" if lang == "fr" else f"{number}%"
