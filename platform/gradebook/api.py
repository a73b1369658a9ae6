"""Teachers' API: gradebooks (JSON and CSV) and regrades (API.md, "Teachers")."""
from __future__ import annotations

from django.http import Http404
from ninja import Router, Schema

from accounts.roles import Role, user_role
from courses.models import Enrollment
from courses.selectors import course_get_taught
from exercises.selectors import exercise_get_for_user

from .selectors import gradebook_rows
from .views import gradebook_csv_response

router = Router(tags=["teachers"])


class ErrorOut(Schema):
    detail: str


class GradebookExerciseOut(Schema):
    id: int
    slug: str
    title: str
    max_score: float
    weight: float


class GradebookRowOut(Schema):
    username: str
    scores: dict[str, float | None]
    late: list[str]
    total_points: float
    weighted: float


class GradebookOut(Schema):
    course: str
    exercises: list[GradebookExerciseOut]
    rows: list[GradebookRowOut]


class RegradeOut(Schema):
    attempts: int
    changed: int
    requeued: int


def _teacher_course(request, slug: str):
    if user_role(request.user) not in (Role.TEACHER, Role.ADMIN):
        raise Http404
    return course_get_taught(user=request.user, slug=slug)


@router.get("/courses/{slug}/gradebook", response={200: GradebookOut, 404: ErrorOut}, summary="The course's grades (teachers)")
def gradebook_json(request, slug: str):
    course = _teacher_course(request, slug)
    exercises, rows = gradebook_rows(course=course)
    slugs = {e.pk: e.slug for e in exercises}
    return {
        "course": course.slug,
        "exercises": [{"id": e.pk, "slug": e.slug, "title": e.title, "max_score": e.max_score, "weight": e.weight} for e in exercises],
        "rows": [
            {
                "username": row.user.username,
                "scores": {slugs[e.pk]: row.best.get(e.pk) for e in exercises},
                "late": sorted(slugs[pk] for pk in row.late if pk in slugs),
                "total_points": row.total_points,
                "weighted": row.weighted,
            }
            for row in rows
        ],
    }


@router.get("/courses/{slug}/gradebook.csv", response={200: None, 404: ErrorOut}, summary="The course's grades as CSV (teachers)")
def gradebook_csv(request, slug: str):
    return gradebook_csv_response(course=_teacher_course(request, slug))


@router.post("/exercises/{exercise_id}/regrade", response={200: RegradeOut, 404: ErrorOut},
             summary="Re-grade every attempt and submission of an exercise (teachers)")
def regrade(request, exercise_id: int):
    from exercises.services import exercise_regrade

    exercise, role = exercise_get_for_user(user=request.user, exercise_id=exercise_id)
    if role != Enrollment.Role.TEACHER:
        raise Http404
    report = exercise_regrade(exercise=exercise)
    return {"attempts": report.attempts, "changed": report.changed, "requeued": report.requeued}
