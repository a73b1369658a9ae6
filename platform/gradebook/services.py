"""Teachers' writes: grade overrides, extensions and regrades, each recorded in the audit log."""
from __future__ import annotations

from datetime import UTC, datetime

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from exercises.models import Attempt, Exercise, Extension

from .models import AuditLog, GradeOverride


class OverrideError(ValueError):
    pass


class ExtensionError(ValueError):
    pass


def _utc(value: datetime) -> datetime:
    """A due date in UTC. PostgreSQL refuses UTC offsets beyond ±15:59, which ISO 8601 and Python
    allow, and a date at either end of the calendar may not convert at all."""
    try:
        if timezone.is_naive(value):
            value = timezone.make_aware(value)
        return value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ExtensionError(_("The due date is out of range.")) from exc


def _best(exercise: Exercise, student) -> float | None:
    return Attempt.objects.filter(exercise=exercise, user=student).aggregate(best=Max("score"))["best"]


@transaction.atomic
def grade_override(*, exercise: Exercise, student, score: float, comment: str, actor) -> GradeOverride:
    """Replace a student's grade on one exercise. A comment is required: it is the why."""
    comment = (comment or "").strip()
    if not comment:
        raise OverrideError("A comment is required to override a grade.")
    if "\x00" in comment:
        raise OverrideError("The comment cannot contain NUL characters.")
    if not 0.0 <= float(score) <= 1.0:
        raise OverrideError("The score is between 0 and 1.")
    previous = GradeOverride.objects.filter(exercise=exercise, student=student).first()
    old = {"score": previous.score, "override": True} if previous else {"score": _best(exercise, student), "override": False}
    override, _created = GradeOverride.objects.update_or_create(
        exercise=exercise, student=student, defaults={"score": float(score), "comment": comment, "by": actor}
    )
    AuditLog.objects.create(
        actor=actor, action=AuditLog.Action.OVERRIDE, course=exercise.course, exercise=exercise, student=student,
        old=old, new={"score": float(score), "override": True}, comment=comment,
    )
    return override


def _local(value: datetime | None) -> str | None:
    """A date for the audit log as the teacher entered it: in the site's time zone, with its offset."""
    return timezone.localtime(value).isoformat(timespec="minutes") if value else None


@transaction.atomic
def extension_grant(
    *, exercise: Exercise, student, due_at: datetime, actor, comment: str = "", personal: bool = False
) -> Extension:
    """Give one student a later due date; lateness is then judged against it.

    An exercise without a due date has nothing to extend: the teacher must ask for a personal
    due date explicitly (``personal=True``), which then applies to that student alone."""
    due_at = _utc(due_at)
    previous = Extension.objects.filter(exercise=exercise, user=student).first()
    if exercise.due_at is None and previous is None and not personal:
        raise ExtensionError(
            _("This exercise has no due date to extend: set one, or give this student a personal due date."))
    old_due = previous.due_at if previous else exercise.due_at
    extension, _created = Extension.objects.update_or_create(
        exercise=exercise, user=student, defaults={"due_at": due_at, "created_by": actor}
    )
    AuditLog.objects.create(
        actor=actor, action=AuditLog.Action.EXTENSION, course=exercise.course, exercise=exercise, student=student,
        old={"due_at": _local(old_due)}, new={"due_at": _local(due_at), "personal": exercise.due_at is None},
        comment=comment,
    )
    return extension


def exercise_regrade_audited(*, exercise: Exercise, actor):
    """Regrade an exercise and record every score it changed (old → new) in the audit log."""
    from exercises.grading import exercise_regrade

    before = dict(Attempt.objects.filter(exercise=exercise).values_list("pk", "score"))
    report = exercise_regrade(exercise=exercise)
    # A model sent back to a worker keeps its attempt and score until the worker saves the new
    # one, which then writes its own audit entry (old → new): the pair is in the log.
    after = dict(Attempt.objects.filter(exercise=exercise).values_list("pk", "score"))
    changed = {pk: (before.get(pk), after.get(pk)) for pk in before.keys() | after.keys() if before.get(pk) != after.get(pk)}
    AuditLog.objects.create(
        actor=actor, action=AuditLog.Action.REGRADE, course=exercise.course, exercise=exercise,
        old={str(pk): old for pk, (old, _new) in changed.items()},
        new={str(pk): new for pk, (_old, new) in changed.items()},
        comment=f"{report.attempts} attempts, {report.changed} changed, {report.requeued} models queued again "
                f"({timezone.now():%Y-%m-%d %H:%M})",
    )
    return report


class SectionWeightError(ValueError):
    pass


@transaction.atomic
def section_weights_set(*, course, weights: dict[str, float], actor) -> None:
    """Set the weight of each section of a course in the grade (0 leaves a section out);
    recorded in the audit log with the weights of before."""
    from .models import SectionWeight
    from .selectors import section_key

    known = {section_key(e) for e in Exercise.objects.filter(course=course, deleted_at__isnull=True)}
    for name, weight in weights.items():
        if name not in known:
            raise SectionWeightError(_("Unknown section: %(name)s") % {"name": name})
        if not (weight >= 0 and weight < 1e6):  # also refuses NaN
            raise SectionWeightError(_("A section's weight is a number of 0 or more."))
    old = dict(SectionWeight.objects.filter(course=course).values_list("section", "weight"))
    for name, weight in weights.items():
        SectionWeight.objects.update_or_create(course=course, section=name, defaults={"weight": float(weight)})
    AuditLog.objects.create(actor=actor, action=AuditLog.Action.WEIGHTS, course=course, old=old,
                            new={name: float(w) for name, w in weights.items()})
