"""API v1 of the engine: a course's exercises, an exercise with your variant, instant attempts (API.md)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from ninja import Field, Header, Router, Schema
from ninja.errors import HttpError

from config.i18n import localize
from courses.selectors import course_get_for_user
from exercises.types import get_type
from grader.result import AnswerError

from .policy import AttemptRefused, due_at_for, policy_state
from .selectors import exercise_get_for_user, exercise_row_after_attempt, exercise_rows_for_user
from .services import attempt_submit
from .variants import variant_generate
from .visibility import EVERYTHING, attempt_feedback, release_sentence

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
    status: str = Field(description="solved | partial | tried | exhausted (no attempt left, not solved) | "
                                    "recorded (grade not released yet) | todo | closed")


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
            "status": row.status,
        }
        for row in exercise_rows_for_user(course=course, user=request.user)
    ]


@router.get("/exercises/{exercise_id}", response={200: ExerciseOut, 404: ErrorOut}, summary="An exercise with your own variant")
def exercise_get(request, exercise_id: int):
    # One query with the token's: the exercise, the role, the due date and the attempts used.
    exercise, _role = exercise_get_for_user(user=request.user, exercise_id=exercise_id, attempts_used=True)
    exercise_type = get_type(exercise.type)
    variant = variant_generate(exercise=exercise, user_id=request.user.pk)
    used = exercise.viewer_attempts
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
    description="A malformed answer (a missing field, text for a number, a shape with the wrong number of "
    "dimensions, a kernel that is not 3×3, NaN, an unknown choice) is a 400 that uses no attempt. The same "
    "`Idempotency-Key` header sent again returns the first attempt and records nothing new. While attempts "
    "remain, the feedback of a wrong answer is a diagnosis that never contains the expected answer (unless "
    "the exercise's feedback policy gives the solution at once).",
)
def attempt_create(request, exercise_id: int, payload: AttemptIn,
                   idempotency_key: str = Header("", alias="Idempotency-Key")):
    exercise, role = exercise_get_for_user(user=request.user, exercise_id=exercise_id)
    try:
        attempt = attempt_submit(exercise=exercise, user=request.user, answer=payload.answer,
                                 idempotency_key=idempotency_key.strip())
    except AnswerError as exc:
        raise HttpError(400, localize(exc.message)) from exc
    except AttemptRefused as exc:
        raise HttpError(exc.status, exc.message) from exc
    row = exercise_row_after_attempt(exercise=exercise, user=request.user, role=role, attempt=attempt)
    vis = EVERYTHING if role == "teacher" else row.vis
    if not vis.score:
        return {"attempt_id": attempt.pk, "score": None, "correct": None, "attempts_left": row.state.attempts_left,
                "feedback": localize(release_sentence(vis))}
    return {
        "attempt_id": attempt.pk,
        "score": attempt.score,
        "correct": attempt.correct,
        "feedback": localize(attempt_feedback(attempt, vis)),
        "attempts_left": row.state.attempts_left,
    }
