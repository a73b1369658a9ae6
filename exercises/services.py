"""Writes of the exercises app: recording graded attempts under the exercise's policy."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from courses.models import Enrollment
from grader.result import AnswerError, GradeResult

from .models import Attempt, Exercise
from .types import get_type
from .variants import variant_generate


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
    """The due date that applies to this student: their extension, else the exercise's."""
    if exercise.due_at is None:
        return None
    from .models import Extension

    extension = Extension.objects.filter(exercise=exercise, user=user).values_list("due_at", flat=True).first()
    return extension or exercise.due_at


def grades_hidden(*, exercise: Exercise, now: datetime | None = None) -> bool:
    """Before the release date, students see that an answer was recorded, not its grade."""
    return exercise.grades_visible_at is not None and (now or timezone.now()) < exercise.grades_visible_at


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


def attempt_submit(*, exercise: Exercise, user, answer, now: datetime | None = None) -> Attempt:
    """Grade an answer and record it as the student's next attempt.

    Raises ``AnswerError`` for a malformed answer (no attempt spent) and ``AttemptRefused``
    when the policy says no. The time of receipt (``now``) decides lateness.
    """
    now = now or timezone.now()
    exercise_type = get_type(exercise.type)
    due = due_at_for(exercise=exercise, user=user)
    # Grade first (pure and fast), count once, under the lock: one query fewer per answer.
    # A malformed answer is reported only once the policy allows an attempt, so a closed
    # exercise says "closed" whatever is sent.
    variant = variant_generate(exercise=exercise, user_id=user.pk)
    try:
        parsed = exercise_type.parse_answer(variant, answer)
        result: GradeResult = exercise_type.grade(variant, parsed)
        malformed = None
    except AnswerError as exc:
        malformed = exc

    with _refused_on_contention(), transaction.atomic():
        # Serialise a student's attempts at one exercise (PostgreSQL row lock); the unique
        # number is the backstop where the lock is a no-op (SQLite).
        Enrollment.objects.select_for_update().filter(course_id=exercise.course_id, user=user).first()
        used = Attempt.objects.filter(exercise=exercise, user=user).count()
        state = policy_state(exercise=exercise, attempts_used=used, now=now, due_at=due)
        _refuse_if_closed(state)
        if malformed is not None:
            raise malformed  # nothing recorded, no attempt spent
        number = used + 1
        return Attempt.objects.create(
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
        )


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
    import json

    return json.loads(json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


__all__ = ["AnswerError", "AttemptRefused", "attempt_submit", "policy_state", "score_after_penalties"]


@dataclass(frozen=True)
class RegradeReport:
    attempts: int
    changed: int
    requeued: int


def exercise_regrade(*, exercise: Exercise) -> RegradeReport:
    """Grade every attempt again with the current key and grader (after a fix, say).

    Instant attempts are re-graded at once, with their original number and time of receipt,
    so retry and late penalties stay what they were. Model submissions go back to the queue.
    A stored answer the grader now refuses scores 0, with the grader's reason.
    """
    from .models import Submission

    exercise_type = get_type(exercise.type)
    changed = total = 0
    if exercise_type.instant:
        variants: dict[int, dict] = {}
        for attempt in Attempt.objects.filter(exercise=exercise).select_related("user"):
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
            Attempt.objects.filter(pk=attempt.pk).update(
                raw_score=raw, score=score, correct=correct, feedback=feedback, details=details
            )
        return RegradeReport(attempts=total, changed=changed, requeued=0)
    if exercise.type == "diffusion":
        return _regrade_generations(exercise=exercise)
    from .submissions import submission_enqueue

    pending = []
    with transaction.atomic():
        for submission in Submission.objects.select_for_update().filter(exercise=exercise).exclude(status=Submission.Status.REJECTED):
            if submission.is_pending:
                continue  # already on its way
            Submission.objects.filter(pk=submission.pk).update(
                status=Submission.Status.QUEUED, tries=0, claim_token=None, progress=0, enqueued_at=None,
                queued_at=submission.queued_at,
            )
            pending.append(submission.pk)
        # The regraded result replaces the old attempt when it is saved.
        Attempt.objects.filter(submission__pk__in=pending).delete()
    for pk in pending:
        transaction.on_commit(lambda pk=pk: submission_enqueue(submission_id=pk))
    return RegradeReport(attempts=len(pending), changed=0, requeued=len(pending))


def _regrade_generations(*, exercise: Exercise) -> RegradeReport:
    """Score every done generation again from what the classifier saw (after a change of the
    target or the step thresholds): nothing is generated again."""
    from .models import Generation

    exercise_type = get_type(exercise.type)
    total = changed = 0
    variants: dict[int, dict] = {}
    rows = Generation.objects.filter(exercise=exercise, status=Generation.Status.DONE).select_related("attempt")
    for generation in rows:
        total += 1
        variant = variants.setdefault(generation.user_id, variant_generate(exercise=exercise, user_id=generation.user_id))
        result = exercise_type.grade_generation(variant, recognition=generation.recognition, steps=generation.steps)
        if result.score != generation.score:
            changed += 1
        Generation.objects.filter(pk=generation.pk).update(score=result.score, feedback=result.feedback)
        if generation.attempt is not None:
            attempt = generation.attempt
            Attempt.objects.filter(pk=attempt.pk).update(
                raw_score=result.score, correct=result.correct, feedback=result.feedback,
                score=score_after_penalties(exercise=exercise, raw_score=result.score, number=1, late=attempt.late))
    return RegradeReport(attempts=total, changed=changed, requeued=0)


def attempt_record_graded(*, exercise: Exercise, user, answer: dict, raw_score: float, feedback: dict,
                          late: bool, received_at: datetime, details: dict | None = None) -> Attempt:
    """Record the attempt of work graded by a worker (a model, a generation), so gradebooks and
    "my results" see it. It takes the next free number; its time is the time of receipt."""
    from django.db.models import Max

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
