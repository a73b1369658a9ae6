"""Reads of the engine: a course's exercises with a student's progress, an exercise a user may open."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.apps import apps
from django.db.models import Count, Max, QuerySet
from django.http import Http404
from django.utils import timezone

from courses.models import Course, Enrollment
from courses.selectors import course_role
from exercises.models import Attempt, Exercise, Extension

from .policy import PolicyState, policy_state
from .visibility import visibility_for


@dataclass(frozen=True)
class ExerciseRow:
    exercise: Exercise
    best_score: float | None  # in [0, 1], None before any attempt; a teacher's override replaces it
    state: PolicyState
    overridden: bool = False  # the grade is a teacher's override (``grade_overrides``)
    due_at: datetime | None = None  # the due date that applies to this student (their extension first)

    @property
    def best_points(self) -> float | None:
        return None if self.best_score is None else round(self.best_score * self.exercise.max_score, 2)

    @property
    def status(self) -> str:
        if self.best_score is not None and self.best_score >= 0.999:
            return "done"
        if self.state.attempts_used:
            return "started"
        if self.state.closed:
            return "closed"
        return "todo"


def grade_overrides(*, exercises, user_ids) -> dict[tuple[int, int], float]:
    """Teachers' overrides, {(user id, exercise id): score in [0, 1]}, in one query.

    THE grade of a student on an exercise is their teacher's override when there is one, their
    best attempt otherwise: the gradebook, its exports and API, the teacher's page of a student
    and the student's own pages all read it from here, so they show the same figure. The model
    lives in the gradebook app, which depends on this one: it is looked up by name, not imported.
    """
    override = apps.get_model("gradebook", "GradeOverride")
    rows = override.objects.filter(exercise__in=exercises, student_id__in=user_ids)
    return {(user_id, exercise_id): score for user_id, exercise_id, score in rows.values_list("student_id", "exercise_id", "score")}


def grade_for(*, exercise: Exercise, user, attempts) -> tuple[float | None, bool]:
    """A student's grade on one exercise from their attempts (already loaded): the override if
    any, else the best attempt; and whether it is an override."""
    overrides = grade_overrides(exercises=[exercise], user_ids=[user.pk])
    if (user.pk, exercise.pk) in overrides:
        return overrides[(user.pk, exercise.pk)], True
    return max((a.score for a in attempts), default=None), False


def exercise_rows_for_user(*, course: Course, user, now: datetime | None = None) -> list[ExerciseRow]:
    """Every published exercise of a course with the user's grade and attempts: 4 queries (and
    the user's role, once per request). The grade is a teacher's override if any (see
    ``grade_overrides``), else the best attempt.

    The best score is what the visibility rule lets the user see (None before a release date)."""
    now = now or timezone.now()
    role = course_role(user=user, course=course)
    exercises = list(Exercise.objects.filter(course=course, published=True).select_related("course"))
    extensions = dict(Extension.objects.filter(exercise__course=course, user=user).values_list("exercise_id", "due_at"))
    stats = {
        row["exercise_id"]: row
        for row in Attempt.objects.filter(exercise__course=course, user=user)
        .values("exercise_id")
        .annotate(best=Max("score"), used=Count("id"))
    }
    overrides = grade_overrides(exercises=exercises, user_ids=[user.pk])
    rows = []
    for exercise in exercises:
        stat = stats.get(exercise.pk, {})
        # A personal due date exists only where a teacher gave it (see gradebook.services.extension_grant).
        due = extensions.get(exercise.pk, exercise.due_at)
        overridden = (user.pk, exercise.pk) in overrides
        best = overrides[(user.pk, exercise.pk)] if overridden else stat.get("best")
        visible = visibility_for(viewer=user, exercise=exercise, role=role, now=now).score
        rows.append(
            ExerciseRow(
                exercise=exercise,
                best_score=best if visible else None,
                overridden=overridden and visible,
                state=policy_state(exercise=exercise, attempts_used=stat.get("used", 0), now=now, due_at=due),
                due_at=due,
            )
        )
    return rows


def exercise_get_for_user(*, user, exercise_id: int) -> tuple[Exercise, str]:
    """An exercise the user may open, and their role in its course; 404 otherwise."""
    exercise = Exercise.objects.select_related("course").filter(pk=exercise_id, deleted_at__isnull=True).first()
    if exercise is None:
        raise Http404
    role = course_role(user=user, course=exercise.course)  # the course is already loaded
    if not exercise.published and role != Enrollment.Role.TEACHER:
        raise Http404
    return exercise, role


def attempt_list(*, exercise: Exercise, user) -> QuerySet[Attempt]:
    return Attempt.objects.filter(exercise=exercise, user=user).order_by("-number")


def results_for_user(*, user) -> list[tuple[Course, list[ExerciseRow]]]:
    """The student's "my results" page: every course they study, with their rows."""
    courses = Course.objects.filter(enrollments__user=user, enrollments__role=Enrollment.Role.STUDENT).distinct()
    return [(course, exercise_rows_for_user(course=course, user=user)) for course in courses]


def owned_or_taught(row, *, user, course: Course):
    """A student's row (a submission, a generation) for its owner or a teacher of ``course``;
    404 for anyone else or a missing row, so nothing leaks."""
    if row is None:
        raise Http404
    if row.user_id != user.pk and course_role(user=user, course=course) != Enrollment.Role.TEACHER:
        raise Http404
    return row
