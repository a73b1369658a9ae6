"""API v1 of the engine: a course's exercises, an exercise with your variant, instant attempts (API.md)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from ninja import Router, Schema
from ninja.errors import HttpError

from config.i18n import localize
from courses.selectors import course_get_for_user
from exercises.types import get_type
from grader.result import AnswerError

from .policy import AttemptRefused, due_at_for, policy_state
from .selectors import exercise_get_for_user, exercise_rows_for_user
from .services import attempt_submit
from .variants import variant_generate
from .visibility import release_sentence, visibility_for

router = Router(tags=["exercises"])


class ErrorOut(Schema):
    detail: str


class ExerciseSummaryOut(Schema):
    id: int
    slug: str
    type: str
    title: str
    max_score: float
    due_at: datetime | None
    best_score: float | None
    attempts_left: int | None


class ExerciseOut(Schema):
    id: int
    type: str
    title: str
    question: str
    variant: dict[str, Any]
    attempts_left: int | None


class AttemptIn(Schema):
    answer: Any


class AttemptOut(Schema):
    attempt_id: int
    score: float | None  # None until the exercise's grades are released
    correct: bool | None
    feedback: str
    attempts_left: int | None


@router.get("/courses/{slug}/exercises", response={200: list[ExerciseSummaryOut], 404: ErrorOut}, summary="A course's exercises, with your progress")
def course_exercises(request, slug: str):
    course, _role = course_get_for_user(user=request.user, slug=slug)
    return [
        {
            "id": row.exercise.pk,
            "slug": row.exercise.slug,
            "type": row.exercise.type,
            "title": row.exercise.title,
            "max_score": row.exercise.max_score,
            "due_at": row.due_at,  # the student's own (an extension first)
            "best_score": row.best_score,
            "attempts_left": row.state.attempts_left,
        }
        for row in exercise_rows_for_user(course=course, user=request.user)
    ]


@router.get("/exercises/{exercise_id}", response={200: ExerciseOut, 404: ErrorOut}, summary="An exercise with your own variant")
def exercise_get(request, exercise_id: int):
    exercise, _role = exercise_get_for_user(user=request.user, exercise_id=exercise_id)
    exercise_type = get_type(exercise.type)
    variant = variant_generate(exercise=exercise, user_id=request.user.pk)
    used = exercise.attempts.filter(user=request.user).count()
    state = policy_state(exercise=exercise, attempts_used=used, now=timezone.now(),
                         due_at=due_at_for(exercise=exercise, user=request.user))
    return {
        "id": exercise.pk,
        "type": exercise.type,
        "title": exercise.title,
        "question": exercise.statement,
        "variant": localize(exercise_type.public_variant(variant)),
        "attempts_left": state.attempts_left,
    }


@router.post(
    "/exercises/{exercise_id}/attempts",
    response={200: AttemptOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="Answer an instant exercise; graded at once",
)
def attempt_create(request, exercise_id: int, payload: AttemptIn):
    exercise, role = exercise_get_for_user(user=request.user, exercise_id=exercise_id)
    try:
        attempt = attempt_submit(exercise=exercise, user=request.user, answer=payload.answer)
    except AnswerError as exc:
        raise HttpError(400, localize(exc.message)) from exc
    except AttemptRefused as exc:
        raise HttpError(exc.status, exc.message) from exc
    # Only the attempts left are read here: they do not depend on the (personal) due date.
    state = policy_state(exercise=exercise, attempts_used=attempt.number, now=timezone.now(), due_at=None)
    vis = visibility_for(viewer=request.user, exercise=exercise, role=role)
    if not vis.score:
        return {"attempt_id": attempt.pk, "score": None, "correct": None, "attempts_left": state.attempts_left,
                "feedback": localize(release_sentence(vis))}
    return {
        "attempt_id": attempt.pk,
        "score": attempt.score,
        "correct": attempt.correct,
        "feedback": localize(attempt.feedback),
        "attempts_left": state.attempts_left,
    }
