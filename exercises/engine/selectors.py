"""Reads of the engine: a course's exercises with a student's progress, an exercise a user may open."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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
    best_score: float | None  # in [0, 1], None before any attempt
    state: PolicyState

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


def exercise_rows_for_user(*, course: Course, user, now: datetime | None = None) -> list[ExerciseRow]:
    """Every published exercise of a course with the user's best score and attempts: 3 queries
    (and the user's role, once per request).

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
    rows = []
    for exercise in exercises:
        stat = stats.get(exercise.pk, {})
        due = extensions.get(exercise.pk) if exercise.due_at and exercise.pk in extensions else exercise.due_at
        rows.append(
            ExerciseRow(
                exercise=exercise,
                best_score=stat.get("best") if visibility_for(viewer=user, exercise=exercise, role=role, now=now).score
                else None,
                state=policy_state(exercise=exercise, attempts_used=stat.get("used", 0), now=now, due_at=due),
            )
        )
    return rows


def exercise_get_for_user(*, user, exercise_id: int) -> tuple[Exercise, str]:
    """An exercise the user may open, and their role in its course; 404 otherwise."""
    exercise = Exercise.objects.select_related("course").filter(pk=exercise_id).first()
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
