"""Writes of the engine: recording graded attempts under the exercise's policy, regrading them."""
from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from config.prepared import prepared
from courses.models import Enrollment
from exercises.models import Attempt, Exercise
from exercises.types import get_type
from grader.result import AnswerError, GradeResult

from .policy import AttemptRefused, PolicyState, due_at_for, policy_state, score_after_penalties
from .variants import variant_generate

MAX_IDEMPOTENCY_KEY = 100


def attempt_submit(*, exercise: Exercise, user, answer, now: datetime | None = None,
                   idempotency_key: str = "") -> Attempt:
    """Grade an answer and record it as the student's next attempt.

    Raises ``AnswerError`` for a malformed answer (no attempt spent) and ``AttemptRefused``
    when the policy says no. The time of receipt (``now``) decides lateness. An
    ``idempotency_key`` already used by this student on this exercise (a double click, a
    retried request) returns that first attempt and records nothing new.
    """
    if len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise AttemptRefused(_("The idempotency key is longer than %(n)d characters.") % {"n": MAX_IDEMPOTENCY_KEY}, 400)
    now = now or timezone.now()
    exercise_type = get_type(exercise.type)
    due = due_at_for(exercise=exercise, user=user)
    # Grade first (pure and fast), count once, under the lock: one query fewer per answer.
    # A malformed answer is reported only once the policy allows an attempt, so a closed
    # exercise says "closed" whatever is sent.
    variant = variant_generate(exercise=exercise, user_id=user.pk)
    result: GradeResult | None = None
    try:
        parsed = exercise_type.parse_answer(variant, answer)
        result = exercise_type.grade(variant, parsed)
        malformed = None
    except AnswerError as exc:
        malformed = exc

    try:
        return _attempt_record(exercise=exercise, user=user, answer=answer, now=now, due=due, result=result,
                               malformed=malformed, idempotency_key=idempotency_key)
    except AttemptRefused as exc:
        # Two sends of one key at the same moment: the second finds the first once it is saved.
        first = _attempt_with_key(exercise=exercise, user=user, idempotency_key=idempotency_key) if exc.status == 409 else None
        if first is None:
            raise
        return first


def _attempt_record(*, exercise, user, answer, now, due, result, malformed, idempotency_key) -> Attempt:
    with _refused_on_contention(), transaction.atomic():
        # Serialise a student's attempts at one exercise (PostgreSQL row lock); the unique
        # number is the backstop where the lock is a no-op (SQLite).
        _enrolment_lock.all(course_id=exercise.course_id, user_id=user.pk)
        first = _attempt_with_key(exercise=exercise, user=user, idempotency_key=idempotency_key)
        if first is not None:
            return first
        # One query under the lock: the count that numbers the attempt, and the standing the
        # answer's feedback needs (the best score, a right attempt), so nothing is read again.
        tally = AttemptTally(*(_attempt_tally.first(exercise_id=exercise.pk, user_id=user.pk) or (0, None, 0)))
        used = tally.used
        state = policy_state(exercise=exercise, attempts_used=used, now=now, due_at=due)
        _refuse_if_closed(state)
        if malformed is not None:
            raise malformed  # nothing recorded, no attempt spent
        number = used + 1
        attempt = Attempt.objects.create(
            exercise=exercise,
            user=user,
            number=number,
            answer=answer,
            raw_score=result.score,
            score=score_after_penalties(exercise=exercise, raw_score=result.score, number=number, late=state.late),
            correct=result.correct,
            feedback=result.feedback,
            details=jsonable(result.details),
            late=state.late,
            created_at=now,
            idempotency_key=idempotency_key,
        )
        attempt.tally = tally  # the student's attempts before this one (exercise_row_after_attempt)
        return attempt


# The two queries of every answer, compiled once per connection (config.prepared).
_enrolment_lock = prepared(lambda *, course_id, user_id: Enrollment.objects.select_for_update()
                           .filter(course_id=course_id, user_id=user_id).order_by().values_list("pk"))
_attempt_tally = prepared(lambda *, exercise_id, user_id: Attempt.objects.filter(exercise_id=exercise_id, user_id=user_id)
                          .order_by().values("user_id").annotate(used=Count("pk"), best=Max("score"),
                                                                  right=Count("pk", filter=Q(correct=True)))
                          .values_list("used", "best", "right"))


@dataclass(frozen=True)
class AttemptTally:
    """A student's attempts at an exercise, counted under the per-student lock."""

    used: int
    best: float | None
    right: int


def _attempt_with_key(*, exercise: Exercise, user, idempotency_key: str) -> Attempt | None:
    if not idempotency_key:
        return None
    return Attempt.objects.filter(exercise=exercise, user=user, idempotency_key=idempotency_key).first()


@contextmanager
def _refused_on_contention():
    """A concurrent submit of the same student is a 409 "try again", never a 500.

    On PostgreSQL the unique attempt number is the backstop. SQLite has no row lock: a
    concurrent writer makes it fail with "database is locked" (or "database table is locked"
    on a shared-cache database, as in the tests) instead of waiting.
    """
    message = _("Another attempt was being recorded at the same moment. Please try again.")
    try:
        yield
    except IntegrityError as exc:
        raise AttemptRefused(message, 409) from exc
    except OperationalError as exc:
        if "locked" not in str(exc):
            raise
        raise AttemptRefused(message, 409) from exc


def _refuse_if_closed(state: PolicyState) -> None:
    if state.closed:
        raise AttemptRefused(_("The due date has passed and this exercise is closed."))
    if state.attempts_left == 0:
        raise AttemptRefused(_("You have used all your attempts for this exercise."))


def jsonable(value):
    """Grader details and reports may hold numpy scalars, arrays or tuples; store plain JSON."""
    return json.loads(json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


@dataclass(frozen=True)
class ScoreChange:
    """One attempt's counted score before and after a regrade (``new`` is None for a model sent
    back to the queue: its new score is known once a worker has graded it again)."""
    attempt_id: int | None
    user_id: int
    old: float | None
    new: float | None


@dataclass(frozen=True)
class RegradeReport:
    attempts: int
    changed: int
    requeued: int
    changes: tuple[ScoreChange, ...] = ()  # every attempt looked at, changed or not
    dry_run: bool = False


def attempts_regrade(*, exercise: Exercise, dry_run: bool = False) -> RegradeReport:
    """Grade every attempt of an instant exercise again with the current key and grader.

    Each keeps its original number and time of receipt, so retry and late penalties stay what
    they were. A stored answer the grader now refuses scores 0, with the grader's reason.
    ``dry_run`` computes the same report (the preview a teacher confirms) and saves nothing.
    """
    exercise_type = get_type(exercise.type)
    changed = total = 0
    changes: list[ScoreChange] = []
    variants: dict[int, dict] = {}
    for attempt in Attempt.objects.filter(exercise=exercise).order_by("user_id", "number"):
        total += 1
        variant = variants.setdefault(attempt.user_id, variant_generate(exercise=exercise, user_id=attempt.user_id))
        try:
            result = exercise_type.grade_answer(variant, attempt.answer)
            raw, correct, feedback, details = result.score, result.correct, result.feedback, jsonable(result.details)
        except AnswerError as exc:
            raw, correct, feedback, details = 0.0, False, exc.message, {}
        score = score_after_penalties(exercise=exercise, raw_score=raw, number=attempt.number, late=attempt.late)
        if (raw, score, correct) != (attempt.raw_score, attempt.score, attempt.correct) or feedback != attempt.feedback:
            changed += 1
        changes.append(ScoreChange(attempt_id=attempt.pk, user_id=attempt.user_id, old=attempt.score, new=score))
        if not dry_run:
            Attempt.objects.filter(pk=attempt.pk).update(
                raw_score=raw, score=score, correct=correct, feedback=feedback, details=details
            )
    return RegradeReport(attempts=total, changed=changed, requeued=0, changes=tuple(changes), dry_run=dry_run)


def attempt_record_graded(*, exercise: Exercise, user, answer: dict, raw_score: float, feedback: dict,
                          late: bool, received_at: datetime, details: dict | None = None) -> Attempt:
    """Record the attempt of work graded by a worker (a model, a generation), so gradebooks and
    "my results" see it. It takes the next free number; its time is the time of receipt."""
    for _try in range(5):
        number = (Attempt.objects.filter(exercise=exercise, user=user).aggregate(n=Max("number"))["n"] or 0) + 1
        try:
            with transaction.atomic():
                return Attempt.objects.create(
                    exercise=exercise, user=user, number=number, answer=answer, raw_score=raw_score,
                    score=score_after_penalties(exercise=exercise, raw_score=raw_score, number=1, late=late),
                    correct=raw_score >= 0.999, feedback=feedback, details=details or {}, late=late,
                    created_at=received_at,
                )
        except IntegrityError:
            continue
    raise RuntimeError(f"could not number an attempt of {user} at {exercise}")
