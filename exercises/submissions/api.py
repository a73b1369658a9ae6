"""API v1 of model submissions: the training set, uploads, a submission's result, the leaderboard."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import FileResponse
from django.urls import reverse
from ninja import Field, File, Router, Schema, Status
from ninja.errors import HttpError
from ninja.files import UploadedFile

from config.i18n import localize
from exercises.engine.api import ErrorOut
from exercises.engine.selectors import exercise_get_for_user
from exercises.engine.visibility import metrics_for, visibility_for
from exercises.types import UPLOAD, grading_of

from .datasets import training_set_path
from .selectors import leaderboard, submission_get_for_user, submission_position, submission_wait_estimate
from .services import SubmissionRefused, submission_create

router = Router(tags=["submissions"])


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
    # The confusion matrix pictures the viewer may see ("public": the public split's, "all": the
    # whole hidden set's, after the due date), fetched with the same session or Bearer token.
    pictures: dict[str, str]
    position: int | None
    estimated_wait_seconds: float | None = Field(
        None, description="Until it is graded: the queue ahead and itself times the mean time of the last "
        "gradings (null once graded, or before any grading was timed)")
    progress: int
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    device: str = Field("", description="Where the worker ran it: cpu, gpu:0, ... (empty until then)")
    device_seconds: float | None = Field(None, description="How long it held that device")


class LeaderboardRowOut(Schema):
    rank: int
    name: str  # the pseudonym the student chose for the course, "#<rank>" without one
    username: str | None  # only for the course's teachers, and your own row
    is_you: bool
    public_accuracy: float
    private_accuracy: float | None
    submitted_at: datetime


def _model_exercise(request, exercise_id: int):
    exercise, role = exercise_get_for_user(user=request.user, exercise_id=exercise_id)
    if grading_of(exercise) != UPLOAD:
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
    response={202: SubmissionCreatedOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 413: ErrorOut, 429: ErrorOut,
              503: ErrorOut, 507: ErrorOut},
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
    vis = visibility_for(viewer=viewer, exercise=submission.exercise)
    feedback = localize(submission.feedback) if submission.feedback else None
    if submission.status == "done" and not vis.released:
        # Before the release date: the status only, no accuracy, grade or feedback.
        feedback = localize({"fr": "Soumission enregistrée ; les résultats seront publiés plus tard.",
                             "en": "Submission recorded; results will be released later."})
    return {
        "id": submission.pk,
        "status": submission.status,
        # Kaggle-style: the grade comes from the private split, which waits for the due date.
        "score": submission.score if vis.score else None,
        "metrics": metrics_for(submission.metrics, vis),
        "feedback": feedback,
        "pictures": _pictures(submission, vis),
        "position": (position := submission_position(submission=submission)),
        "estimated_wait_seconds": submission_wait_estimate(submission=submission, position=position),
        "progress": submission.progress,
        "queued_at": submission.queued_at,
        "started_at": submission.started_at,
        "finished_at": submission.finished_at,
        "device": submission.device,
        "device_seconds": submission.device_seconds,
    }


def _pictures(submission, vis) -> dict[str, str]:
    if submission.status != "done" or not vis.released:
        return {}
    pictures = {}
    if "public_confusion" in submission.metrics:
        pictures["public"] = reverse("exercises:submission_confusion_public", args=[submission.pk])
    if vis.private:
        pictures["all"] = reverse("exercises:submission_confusion", args=[submission.pk])
    return pictures


@router.get("/exercises/{exercise_id}/leaderboard", response={200: list[LeaderboardRowOut], 400: ErrorOut, 404: ErrorOut},
            summary="Best public-split accuracy per student",
            description="Kaggle-style: ranked on the public split until the due date, on the private split after. "
            "Classmates appear under their pseudonyms; teachers also see usernames.")
def leaderboard_get(request, exercise_id: int):
    exercise, role = _model_exercise(request, exercise_id)
    return leaderboard(exercise=exercise, reveal_private=visibility_for(viewer=request.user, exercise=exercise, role=role).private,
                       viewer=request.user, real_names=role == "teacher")
