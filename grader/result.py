"""Plain result objects shared by every grader.

A *localised text* is a ``dict`` with the keys ``"fr"`` and ``"en"``. Graders return both
languages so a stored attempt can be shown in whichever language the reader picks later.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

I18nText = dict[str, str]


def i18n(fr: str, en: str) -> I18nText:
    return {"fr": fr, "en": en}


@dataclass(frozen=True)
class GradeResult:
    """What a grader says about one answer. ``score`` is in [0, 1]."""

    score: float
    correct: bool
    feedback: I18nText
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score out of [0, 1]: {self.score}")


class AnswerError(ValueError):
    """A malformed answer. It costs the student no attempt; ``message`` says what is wrong."""

    def __init__(self, message: I18nText):
        super().__init__(message.get("en") or message.get("fr"))
        self.message = message


class ParamsError(ValueError):
    """An exercise's parameters can produce an impossible variant."""

    def __init__(self, message: I18nText):
        super().__init__(message.get("en") or message.get("fr"))
        self.message = message
