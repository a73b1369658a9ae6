"""Admins' writes on a course's exercises: publish or hide, reorder, delete (softly)."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from exercises.models import Exercise

MOVES = ("up", "down")


def exercise_set_published(*, exercise: Exercise, published: bool) -> Exercise:
    """Show an exercise to students, or hide it (their attempts stay, and come back with it)."""
    Exercise.objects.filter(pk=exercise.pk).update(published=published, updated_at=timezone.now())
    exercise.published = published
    return exercise


@transaction.atomic
def exercise_move(*, exercise: Exercise, direction: str) -> None:
    """Swap an exercise with its neighbour in the course's order (positions renumbered 0..n-1,
    so ties left by older imports cannot make a move do nothing)."""
    if direction not in MOVES:
        raise ValueError(f"direction is one of {MOVES}")
    siblings = list(Exercise.objects.select_for_update().filter(course_id=exercise.course_id, deleted_at__isnull=True)
                    .order_by("position", "pk"))
    index = next(i for i, e in enumerate(siblings) if e.pk == exercise.pk)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(siblings):
        siblings[index], siblings[other] = siblings[other], siblings[index]
    for position, sibling in enumerate(siblings):
        if sibling.position != position:
            Exercise.objects.filter(pk=sibling.pk).update(position=position)


@transaction.atomic
def exercise_soft_delete(*, exercise: Exercise) -> None:
    """Remove an exercise from the course for everyone, keeping the row and its attempts for the
    audit log. Its slug is freed (a new exercise may take it)."""
    now = timezone.now()
    freed = f"{exercise.slug[:50]}-deleted-{exercise.pk}"
    Exercise.objects.filter(pk=exercise.pk).update(deleted_at=now, published=False, slug=freed, updated_at=now)
