"""Teachers' API: gradebooks (JSON and CSV) and regrades (API.md, "Teachers")."""
from __future__ import annotations

from datetime import datetime

from django.http import Http404
from ninja import Router, Schema
from ninja.errors import HttpError

from accounts.roles import Role, user_role
from courses.models import Enrollment
from courses.selectors import course_get_taught
from exercises.engine.selectors import exercise_get_for_user

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
    from .services import exercise_regrade_audited

    exercise, role = exercise_get_for_user(user=request.user, exercise_id=exercise_id)
    if role != Enrollment.Role.TEACHER:
        raise Http404
    report = exercise_regrade_audited(exercise=exercise, actor=request.user)
    return {"attempts": report.attempts, "changed": report.changed, "requeued": report.requeued}


class RegradeStudentOut(Schema):
    username: str
    attempts: int
    changed: int
    old: float | None
    new: float | None  # None: a model that a worker grades again (its grade stays until then)
    overridden: bool


class RegradePreviewOut(Schema):
    attempts: int
    changed: int
    requeued: int
    students: list[RegradeStudentOut]


@router.get("/exercises/{exercise_id}/regrade/preview", response={200: RegradePreviewOut, 404: ErrorOut},
            summary="What a regrade would change, per student, saving nothing (teachers)")
def regrade_preview_json(request, exercise_id: int):
    from .selectors import regrade_preview

    exercise, role = exercise_get_for_user(user=request.user, exercise_id=exercise_id)
    if role != Enrollment.Role.TEACHER:
        raise Http404
    preview = regrade_preview(exercise=exercise)
    return {
        "attempts": preview.attempts, "changed": preview.changed, "requeued": preview.requeued,
        "students": [{"username": s.user.username, "attempts": s.attempts, "changed": s.changed, "old": s.old,
                      "new": s.new, "overridden": s.overridden} for s in preview.students],
    }


class OverrideIn(Schema):
    username: str
    score: float
    comment: str


class ExtensionIn(Schema):
    username: str
    due_at: datetime
    # Needed on an exercise without a due date: there is nothing to extend, so say it is meant.
    personal: bool = False


class OkOut(Schema):
    ok: bool


class AuditOut(Schema):
    at: datetime
    actor: str | None
    action: str
    exercise: str | None
    student: str | None
    old: dict
    new: dict
    comment: str


def _teacher_exercise_and_student(request, exercise_id: int, username: str):
    from courses.selectors import course_students

    exercise, role = exercise_get_for_user(user=request.user, exercise_id=exercise_id)
    if role != Enrollment.Role.TEACHER:
        raise Http404
    # PostgreSQL refuses NUL characters in a query (a 500); no username has one.
    student = course_students(course=exercise.course, include_inactive=True).filter(username=username).first() if "\x00" not in username else None
    if student is None:
        raise HttpError(400, f"{username!r} is not a student of this course.")
    return exercise, student


@router.post("/exercises/{exercise_id}/overrides", response={200: OkOut, 400: ErrorOut, 404: ErrorOut},
             summary="Override one student's grade, with a comment (teachers)")
def override(request, exercise_id: int, payload: OverrideIn):
    from .services import OverrideError, grade_override

    exercise, student = _teacher_exercise_and_student(request, exercise_id, payload.username)
    try:
        grade_override(exercise=exercise, student=student, score=payload.score, comment=payload.comment, actor=request.user)
    except OverrideError as exc:
        raise HttpError(400, str(exc)) from exc
    return {"ok": True}


@router.post("/exercises/{exercise_id}/extensions", response={200: OkOut, 400: ErrorOut, 404: ErrorOut},
             summary="Give one student a later due date (teachers)")
def extension(request, exercise_id: int, payload: ExtensionIn):
    from .services import ExtensionError, extension_grant

    exercise, student = _teacher_exercise_and_student(request, exercise_id, payload.username)
    try:
        extension_grant(exercise=exercise, student=student, due_at=payload.due_at, actor=request.user,
                        personal=payload.personal)
    except ExtensionError as exc:
        raise HttpError(400, str(exc)) from exc
    return {"ok": True}


@router.get("/courses/{slug}/audit", response={200: list[AuditOut], 404: ErrorOut}, summary="The course's audit log (teachers)")
def audit(request, slug: str):
    from .models import AuditLog

    course = _teacher_course(request, slug)
    entries = AuditLog.objects.filter(course=course).select_related("actor", "student", "exercise")[:500]
    return [
        {"at": e.created_at, "actor": e.actor.username if e.actor else None, "action": e.action,
         "exercise": e.exercise.slug if e.exercise else None, "student": e.student.username if e.student else None,
         "old": e.old, "new": e.new, "comment": e.comment}
        for e in entries
    ]
