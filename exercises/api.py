"""API v1 for exercises and attempts of the instant types (API.md)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from ninja import Router, Schema, Status
from ninja.errors import HttpError

from config.i18n import localize
from courses.selectors import course_get_for_user
from grader.result import AnswerError

from .selectors import exercise_get_for_user, exercise_rows_for_user
from .services import AttemptRefused, attempt_submit, due_at_for, grades_hidden, policy_state
from .types import get_type
from .variants import variant_generate

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
            "due_at": row.exercise.due_at,
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
    exercise, _role = exercise_get_for_user(user=request.user, exercise_id=exercise_id)
    try:
        attempt = attempt_submit(exercise=exercise, user=request.user, answer=payload.answer)
    except AnswerError as exc:
        raise HttpError(400, localize(exc.message)) from exc
    except AttemptRefused as exc:
        raise HttpError(exc.status, exc.message) from exc
    # Only the attempts left are read here: they do not depend on the (personal) due date.
    state = policy_state(exercise=exercise, attempts_used=attempt.number, now=timezone.now(), due_at=None)
    if grades_hidden(exercise=exercise):
        release = timezone.localtime(exercise.grades_visible_at).strftime("%Y-%m-%d %H:%M")
        return {
            "attempt_id": attempt.pk, "score": None, "correct": None, "attempts_left": state.attempts_left,
            "feedback": localize({"fr": f"Réponse enregistrée. Les résultats seront publiés le {release}.",
                                  "en": f"Answer recorded. Results will be released on {release}."}),
        }
    return {
        "attempt_id": attempt.pk,
        "score": attempt.score,
        "correct": attempt.correct,
        "feedback": localize(attempt.feedback),
        "attempts_left": state.attempts_left,
    }


# --- model submissions ------------------------------------------------------------------------
from django.http import FileResponse  # noqa: E402
from ninja import File  # noqa: E402
from ninja.files import UploadedFile  # noqa: E402

from .submissions import (  # noqa: E402
    SubmissionRefused,
    leaderboard,
    submission_create,
    submission_get_for_user,
    submission_position,
    training_set_path,
)


class SubmissionCreatedOut(Schema):
    submission_id: int
    status: str
    feedback: str | None = None


class SubmissionOut(Schema):
    id: int
    status: str
    score: float | None
    metrics: dict[str, Any]
    feedback: str | None
    position: int | None
    progress: int
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class LeaderboardRowOut(Schema):
    rank: int
    username: str
    public_accuracy: float
    private_accuracy: float | None
    submitted_at: datetime


def _model_exercise(request, exercise_id: int):
    exercise, role = exercise_get_for_user(user=request.user, exercise_id=exercise_id)
    if exercise.type != "model":
        raise HttpError(400, "This exercise does not take model files.")
    return exercise, role


@router.get("/exercises/{exercise_id}/dataset", summary="Download the training set (.npz with x, y)", response={200: None, 400: ErrorOut, 404: ErrorOut})
def dataset_download(request, exercise_id: int):
    exercise, _role = _model_exercise(request, exercise_id)
    path = training_set_path(exercise=exercise)
    return FileResponse(open(path, "rb"), as_attachment=True, filename=f"{exercise.slug}-train.npz",
                        content_type="application/octet-stream")


@router.post(
    "/exercises/{exercise_id}/submissions",
    response={202: SubmissionCreatedOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 413: ErrorOut, 429: ErrorOut},
    summary="Upload a trained .keras model; it is graded by a worker",
)
def submission_upload(request, exercise_id: int, file: File[UploadedFile]):
    exercise, _role = _model_exercise(request, exercise_id)
    try:
        submission = submission_create(exercise=exercise, user=request.user, upload=file)
    except SubmissionRefused as exc:
        raise HttpError(exc.status, exc.message) from exc
    feedback = localize(submission.feedback) if submission.feedback else None
    return Status(202, {"submission_id": submission.pk, "status": submission.status, "feedback": feedback})


@router.get("/submissions/{submission_id}", response={200: SubmissionOut, 404: ErrorOut}, summary="A submission's status and result")
def submission_get(request, submission_id: int):
    submission = submission_get_for_user(user=request.user, submission_id=submission_id)
    return _submission_payload(submission, viewer=request.user)


def _submission_payload(submission, *, viewer) -> dict:
    from accounts.roles import Role, user_role

    from .submissions import private_split_visible

    payload = {
        "id": submission.pk,
        "status": submission.status,
        "score": submission.score,
        "metrics": dict(submission.metrics),
        "feedback": localize(submission.feedback) if submission.feedback else None,
        "position": submission_position(submission=submission),
        "progress": submission.progress,
        "queued_at": submission.queued_at,
        "started_at": submission.started_at,
        "finished_at": submission.finished_at,
    }
    if grades_hidden(exercise=submission.exercise) and user_role(viewer) == Role.STUDENT:
        # Before the release date: the status only, no accuracy, grade or feedback.
        payload.update(score=None, metrics={})
        if submission.status == "done":
            payload["feedback"] = localize({"fr": "Soumission enregistrée ; les résultats seront publiés plus tard.",
                                            "en": "Submission recorded; results will be released later."})
    elif not private_split_visible(exercise=submission.exercise, viewer=viewer):
        # Kaggle-style: the private split and the grade it drives wait for the deadline.
        payload["score"] = None
        payload["metrics"].pop("private_accuracy", None)
        payload["metrics"].pop("accuracy", None)
    return payload


@router.get("/exercises/{exercise_id}/leaderboard", response={200: list[LeaderboardRowOut], 400: ErrorOut, 404: ErrorOut},
            summary="Best public-split accuracy per student")
def leaderboard_get(request, exercise_id: int):
    from .submissions import private_split_visible

    exercise, _role = _model_exercise(request, exercise_id)
    return leaderboard(exercise=exercise, reveal_private=private_split_visible(exercise=exercise, viewer=request.user))
