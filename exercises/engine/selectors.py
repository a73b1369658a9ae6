"""Reads of the engine: a course's exercises with a student's progress, an exercise a user may open."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.apps import apps
from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from accounts.roles import Role, user_role
from config.prepared import prepared
from courses.models import Course, Enrollment
from courses.selectors import course_role
from exercises.models import Attempt, Exercise, Extension

from .policy import PolicyState, policy_state
from .visibility import Progress, Visibility, visibility_for

# A student's state on an exercise, as the course page, "my results" and the API show it.
SOLVED, PARTIAL, TRIED, EXHAUSTED, RECORDED, TODO, CLOSED = (
    "solved", "partial", "tried", "exhausted", "recorded", "todo", "closed")


@dataclass(frozen=True)
class ExerciseRow:
    """One exercise with the student's standing: the best score counted (a teacher's override
    replaces the best attempt, as in the gradebook) and the state, both as the visibility rule
    lets the student see them."""

    exercise: Exercise
    best_score: float | None  # in [0, 1], None before any attempt or before the release date
    state: PolicyState
    solved: bool = False  # a right attempt (whatever the penalties took), or a full override
    vis: Visibility | None = None
    override_score: float | None = None
    override_comment: str = ""
    due_at: datetime | None = None  # the student's own due date (an extension first)

    @property
    def best_points(self) -> float | None:
        return None if self.best_score is None else round(self.best_score * self.exercise.max_score, 2)

    @property
    def overridden(self) -> bool:
        return self.override_score is not None

    @property
    def status(self) -> str:
        """solved | partial (some marks) | tried (no mark yet, attempts left) | exhausted (no
        attempt left or closed, not solved) | recorded (grade not released) | todo | closed."""
        used = self.state.attempts_used or self.overridden
        if used and self.best_score is None:
            return RECORDED
        if self.solved:
            return SOLVED
        out = self.state.attempts_left == 0 or self.state.closed
        if used and out:
            return EXHAUSTED
        if self.best_score:
            return PARTIAL
        if used:
            return TRIED
        return CLOSED if self.state.closed else TODO


def _override_model():
    """The gradebook owns overrides and depends on this app: looked up by name, never imported."""
    return apps.get_model("gradebook", "GradeOverride")


def grade_overrides(*, exercises, user_ids) -> dict[tuple[int, int], float]:
    """Teachers' overrides, {(user id, exercise id): score in [0, 1]}, in one query.

    THE grade of a student on an exercise is their teacher's override when there is one, their
    best attempt otherwise: the gradebook, its exports and API, the teacher's page of a student
    and the student's own pages all read it from here, so they show the same figure. The model
    lives in the gradebook app, which depends on this one: it is looked up by name, not imported.
    """
    override = _override_model()
    rows = override.objects.filter(exercise__in=exercises, student_id__in=user_ids)
    return {(user_id, exercise_id): score for user_id, exercise_id, score in rows.values_list("student_id", "exercise_id", "score")}


def grade_for(*, exercise: Exercise, user, attempts) -> tuple[float | None, bool]:
    """A student's grade on one exercise from their attempts (already loaded): the override if
    any, else the best attempt; and whether it is an override."""
    overrides = grade_overrides(exercises=[exercise], user_ids=[user.pk])
    if (user.pk, exercise.pk) in overrides:
        return overrides[(user.pk, exercise.pk)], True
    return max((a.score for a in attempts), default=None), False


def exercise_rows_for_user(*, course: Course, user, now: datetime | None = None,
                           exercises: list[Exercise] | None = None) -> list[ExerciseRow]:
    """Every published exercise of a course (or ``exercises``) with the user's best score,
    attempts and the teacher's override: 4 queries (and the user's role, once per request).

    The best score is what the visibility rule lets the user see (None before a release date)."""
    now = now or timezone.now()
    role = course_role(user=user, course=course)
    if exercises is None:
        exercises = list(Exercise.objects.filter(course=course, published=True).select_related("course"))
    ids = [exercise.pk for exercise in exercises]
    extensions = dict(Extension.objects.filter(exercise_id__in=ids, user=user).values_list("exercise_id", "due_at"))
    stats = {
        row["exercise_id"]: row
        for row in Attempt.objects.filter(exercise_id__in=ids, user=user)
        .values("exercise_id")
        .annotate(best=Max("score"), used=Count("id"), right=Count("id", filter=Q(correct=True)))
    }
    overrides = {
        row["exercise_id"]: row
        for row in _override_model().objects.filter(exercise_id__in=ids, student=user).values("exercise_id", "score", "comment")
    }
    rows = []
    for exercise in exercises:
        stat = stats.get(exercise.pk, {})
        override = overrides.get(exercise.pk)
        # A personal due date exists only where a teacher gave it (see gradebook.services.extension_grant).
        due = extensions.get(exercise.pk, exercise.due_at)
        state = policy_state(exercise=exercise, attempts_used=stat.get("used", 0), now=now, due_at=due)
        best = override["score"] if override else stat.get("best")
        solved = best is not None and best >= 0.999 if override else bool(stat.get("right")) or (best or 0) >= 0.999
        vis = visibility_for(viewer=user, exercise=exercise, role=role, now=now,
                             progress=Progress(solved=solved, attempts_left=state.attempts_left, due_at=due))
        rows.append(
            ExerciseRow(
                exercise=exercise,
                best_score=best if vis.score else None,
                state=state,
                solved=solved and vis.score,
                vis=vis,
                override_score=override["score"] if override and vis.score else None,
                override_comment=override["comment"] if override and vis.score else "",
                due_at=due,
            )
        )
    return rows


def exercise_row_for_user(*, exercise: Exercise, user, now: datetime | None = None) -> ExerciseRow:
    """The student's standing on one exercise (the exercise page)."""
    return exercise_rows_for_user(course=exercise.course, user=user, now=now, exercises=[exercise])[0]


@dataclass(frozen=True)
class CourseTotals:
    """The student's totals, computed as the teacher's gradebook computes them (overrides
    included), over the grades released to the student."""

    points: float
    max_points: float
    weighted: float  # in [0, 1]
    solved: int
    total: int
    pending: int  # exercises whose grade is not released yet


def course_totals(*, rows: list[ExerciseRow]) -> CourseTotals:
    total_weight = sum(row.exercise.weight for row in rows) or 1.0
    return CourseTotals(
        points=round(sum((row.best_score or 0.0) * row.exercise.max_score for row in rows), 2),
        max_points=round(sum(row.exercise.max_score for row in rows), 2),
        weighted=round(sum((row.best_score or 0.0) * row.exercise.weight for row in rows) / total_weight, 4),
        solved=sum(1 for row in rows if row.status == SOLVED),
        total=len(rows),
        pending=sum(1 for row in rows if row.status == RECORDED),
    )


def _exercise_for_user_query(*, exercise_id: int, user_id: int, attempts: bool) -> QuerySet[Exercise]:
    annotations = {
        "viewer_role": Subquery(Enrollment.objects.filter(course_id=OuterRef("course_id"), user_id=user_id)
                                .order_by("pk").values("role")[:1]),
        "viewer_extension": Subquery(Extension.objects.filter(exercise_id=OuterRef("pk"), user_id=user_id)
                                     .order_by("pk").values("due_at")[:1]),
        "viewer_override": Subquery(_override_model().objects.filter(exercise_id=OuterRef("pk"), student_id=user_id)
                                    .values("score")[:1]),
    }
    if attempts:
        annotations["viewer_attempts"] = Coalesce(Subquery(
            Attempt.objects.filter(exercise_id=OuterRef("pk"), user_id=user_id).order_by()
            .values("exercise_id").annotate(n=Count("pk")).values("n")[:1]), 0)
    return (Exercise.objects.select_related("course").filter(pk=exercise_id, deleted_at__isnull=True)
            .annotate(**annotations).order_by()[:1])


# Compiled once per connection (config.prepared): every API call on an exercise runs one of them.
_exercise_for_user = prepared(lambda **ids: _exercise_for_user_query(**ids, attempts=False))
_exercise_for_user_with_attempts = prepared(lambda **ids: _exercise_for_user_query(**ids, attempts=True))


def exercise_get_for_user(*, user, exercise_id: int, attempts_used: bool = False) -> tuple[Exercise, str]:
    """An exercise the user may open, and their role in its course; 404 otherwise.

    One query (issue #17: every API call on an exercise starts here): the exercise and its
    course, with, as subqueries, the user's enrolment role, their own due date (an extension)
    and the teacher's override of their grade; with ``attempts_used`` also the number of their
    attempts. These ride on the exercise object, which lives for this request only, so nothing
    can go stale: ``due_at_for`` and ``exercise_row_after_attempt`` read them instead of asking
    again. (The user's role groups come with the Bearer token's own query, see
    ``accounts.services.api_token_authenticate``.)"""
    if not getattr(user, "is_authenticated", False):
        raise Http404
    query = _exercise_for_user_with_attempts if attempts_used else _exercise_for_user
    exercise = query.first(exercise_id=int(exercise_id), user_id=user.pk)
    if exercise is None:
        raise Http404
    if user_role(user) == Role.ADMIN:
        role = Enrollment.Role.TEACHER  # an admin is a teacher of every course (as course_role says)
    elif exercise.viewer_role is None:
        raise Http404
    else:
        role = exercise.viewer_role
    if not exercise.published and role != Enrollment.Role.TEACHER:
        raise Http404
    exercise.preloaded_for = user.pk  # whose due date and override these are
    return exercise, role


def exercise_row_after_attempt(*, exercise: Exercise, user, role: str, attempt: Attempt,
                               now: datetime | None = None) -> ExerciseRow:
    """The student's standing on an exercise just after ``attempt_submit`` recorded ``attempt``,
    without reading their attempts again: the service counted them under its lock
    (``attempt.tally``), and the exercise came from ``exercise_get_for_user`` with the override.
    The same figures as ``exercise_row_for_user`` (which it falls back on when the tally or the
    preloaded override is missing: a replayed idempotent answer, an override)."""
    tally = getattr(attempt, "tally", None)
    if tally is None or getattr(exercise, "preloaded_for", None) != user.pk or exercise.viewer_override is not None:
        return exercise_row_for_user(exercise=exercise, user=user, now=now)
    now = now or timezone.now()
    due = exercise.viewer_extension or exercise.due_at
    used = tally.used + 1
    state = policy_state(exercise=exercise, attempts_used=used, now=now, due_at=due)
    best = max(tally.best if tally.best is not None else attempt.score, attempt.score)
    solved = tally.right or attempt.correct or best >= 0.999
    vis = visibility_for(viewer=user, exercise=exercise, role=role, now=now,
                         progress=Progress(solved=solved, attempts_left=state.attempts_left, due_at=due))
    return ExerciseRow(exercise=exercise, best_score=best if vis.score else None, state=state,
                       solved=solved and vis.score, vis=vis, due_at=due)


def attempt_list(*, exercise: Exercise, user) -> QuerySet[Attempt]:
    return Attempt.objects.filter(exercise=exercise, user=user).order_by("-number")


def results_for_user(*, user) -> list[tuple[Course, list[ExerciseRow], CourseTotals]]:
    """The student's "my results" page: every course they study, with their rows and totals."""
    courses = Course.objects.filter(enrollments__user=user, enrollments__role=Enrollment.Role.STUDENT).distinct()
    results = []
    for course in courses:
        rows = exercise_rows_for_user(course=course, user=user)
        results.append((course, rows, course_totals(rows=rows)))
    return results


def owned_or_taught(row, *, user, course: Course):
    """A student's row (a submission, a generation) for its owner or a teacher of ``course``;
    404 for anyone else or a missing row, so nothing leaks."""
    if row is None:
        raise Http404
    if row.user_id != user.pk and course_role(user=user, course=course) != Enrollment.Role.TEACHER:
        raise Http404
    return row
