"""Grade tables. A course's whole gradebook costs a constant number of queries."""
from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Max, Q

from courses.models import Course
from courses.selectors import course_students
from exercises.models import Attempt, Exercise


@dataclass
class GradebookRow:
    user: object
    best: dict[int, float] = field(default_factory=dict)  # exercise id -> best score in [0, 1]
    attempts: dict[int, int] = field(default_factory=dict)
    late: set[int] = field(default_factory=set)
    total_points: float = 0.0
    weighted: float = 0.0  # in [0, 1]


def gradebook_rows(*, course: Course) -> tuple[list[Exercise], list[GradebookRow]]:
    exercises = list(Exercise.objects.filter(course=course, published=True).order_by("position", "pk"))
    students = list(course_students(course=course))
    rows = {u.pk: GradebookRow(user=u) for u in students}
    stats = (
        Attempt.objects.filter(exercise__course=course, user_id__in=rows.keys())
        .values("user_id", "exercise_id")
        .annotate(best=Max("score"), n=Count("id"), late=Count("id", filter=Q(late=True)))  # MAX(bool) is not portable
    )
    for s in stats:
        row = rows[s["user_id"]]
        row.best[s["exercise_id"]] = s["best"]
        row.attempts[s["exercise_id"]] = s["n"]
        if s["late"]:
            row.late.add(s["exercise_id"])
    total_weight = sum(e.weight for e in exercises) or 1.0
    for row in rows.values():
        row.total_points = round(sum(row.best.get(e.pk, 0.0) * e.max_score for e in exercises), 2)
        row.weighted = round(sum(row.best.get(e.pk, 0.0) * e.weight for e in exercises) / total_weight, 4)
    return exercises, list(rows.values())
