"""Reads of the diffusion lab: a generation for its owner or teacher, the queue, the galleries."""
from __future__ import annotations

from exercises.engine.selectors import owned_or_taught
from exercises.engine.visibility import visibility_for
from exercises.jobs import queue_position
from exercises.models import Exercise, Generation


def generation_position(*, generation: Generation) -> int | None:
    """1 for the next one to run; None once it has left the queue."""
    return queue_position(generation)


def generation_get_for_user(*, user, generation_id: int) -> Generation:
    """The user's own generation, or any generation of a course they teach; else 404."""
    generation = Generation.objects.select_related("course", "exercise", "user").filter(pk=generation_id).first()
    return owned_or_taught(generation, user=user, course=generation.course if generation else None)


def generations_list(*, course, user=None, exercise: Exercise | None = None, lab_only: bool = False,
                     limit: int | None = 60):
    rows = Generation.objects.filter(course=course).select_related("user", "exercise")
    if user is not None:
        rows = rows.filter(user=user)
    if exercise is not None:
        rows = rows.filter(exercise=exercise)
    if lab_only:
        rows = rows.filter(exercise__isnull=True)
    return rows if limit is None else rows[:limit]


def generations_visible(rows, *, viewer) -> list[Generation]:
    """The rows, each marked ``grade_hidden`` when the visibility rule hides its score and the
    classifier's reading from ``viewer`` (a graded generation before the release date)."""
    rows = list(rows)
    seen: dict[int, bool] = {}
    for row in rows:
        if row.exercise_id is None:
            row.grade_hidden = False  # the free lab is never graded
            continue
        if row.exercise_id not in seen:
            seen[row.exercise_id] = not visibility_for(viewer=viewer, exercise=row.exercise).released
        row.grade_hidden = seen[row.exercise_id]
    return rows
