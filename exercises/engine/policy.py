"""An exercise's policy: due dates (a student's extension first), attempts, penalties."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from exercises.models import Exercise, Extension


class AttemptRefused(Exception):
    """The policy refuses this attempt (no attempts left, closed after the due date...)."""

    def __init__(self, message: str, status: int = 403):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class PolicyState:
    attempts_used: int
    attempts_left: int | None
    late: bool
    closed: bool


_EXERCISE_DUE = object()


def due_at_for(*, exercise: Exercise, user) -> datetime | None:
    """The due date that applies to this student: their extension, else the exercise's.

    An extension on an exercise without a due date is a personal due date that a teacher set
    explicitly (``gradebook.services.extension_grant(personal=True)``): it applies too.

    ``exercise_get_for_user`` already read it, with the exercise, for this request: no query then."""
    if getattr(exercise, "preloaded_for", None) == getattr(user, "pk", None):
        return exercise.viewer_extension or exercise.due_at
    extension = Extension.objects.filter(exercise=exercise, user=user).values_list("due_at", flat=True).first()
    return extension or exercise.due_at


def policy_state(*, exercise: Exercise, attempts_used: int, now: datetime, due_at=_EXERCISE_DUE) -> PolicyState:
    """The policy at the time of receipt ``now``; ``due_at`` is a student's own due date (an
    extension, see ``due_at_for``), the exercise's when not given."""
    due = exercise.due_at if due_at is _EXERCISE_DUE else due_at
    late = due is not None and now > due
    left = None if exercise.max_attempts is None else max(0, exercise.max_attempts - attempts_used)
    closed = late and exercise.late_policy == Exercise.LatePolicy.CLOSED
    return PolicyState(attempts_used=attempts_used, attempts_left=left, late=late, closed=closed)


def score_after_penalties(*, exercise: Exercise, raw_score: float, number: int, late: bool) -> float:
    factor = 1.0 - exercise.retry_penalty * (number - 1)
    if late:
        factor *= 1.0 - exercise.late_penalty
    return round(min(1.0, max(0.0, raw_score * max(0.0, factor))), 6)
