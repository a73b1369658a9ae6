"""API v1 of the diffusion lab (API.md, "Diffusion")."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.urls import reverse
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError

from config.i18n import localize
from courses.selectors import course_get_for_user
from exercises.engine.api import ErrorOut
from exercises.engine.selectors import exercise_get_for_user
from exercises.engine.visibility import visibility_for
from exercises.models import Generation
from exercises.types import GENERATION, grading_of

from .selectors import generation_get_for_user, generation_position, generations_list
from .services import GenerationRefused, generation_create

router = Router(tags=["diffusion"])


class GenerationIn(Schema):
    prompt: str
    steps: int = 50
    seed: int = 0
    guidance: float = 3.0


PICTURE_AUTH = ("A PNG of this site, relative to its root: fetch it with the same `Authorization: Bearer <token>` "
                "header as the API (or the browser's session); a wrong token is a 401.")


class GenerationCreatedOut(Schema):
    generation_id: int
    status: str


class GenerationOut(Schema):
    id: int
    status: str
    prompt: str
    steps: int
    seed: int
    guidance: float
    exercise_id: int | None
    username: str
    position: int | None
    progress: int
    image_url: str | None = Field(description=PICTURE_AUTH)
    trajectory_urls: list[str] = Field(description=PICTURE_AUTH)
    prediction_urls: list[str] = Field(description=PICTURE_AUTH)
    trajectory_steps: list[int]
    recognition: dict[str, Any]
    score: float | None
    feedback: str | None
    batch_size: int
    queued_at: datetime
    finished_at: datetime | None
    device: str = Field("", description="Where the worker ran its batch: cpu, gpu:0, ... (empty until then)")
    device_seconds: float | None = Field(None, description="Its share of the batch's time on that device")


_RESPONSES = {202: GenerationCreatedOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut}


def _create(request, payload: GenerationIn, *, course, exercise=None):
    try:
        generation = generation_create(user=request.user, course=course, exercise=exercise, prompt=payload.prompt,
                                       steps=payload.steps, seed=payload.seed, guidance=payload.guidance)
    except GenerationRefused as exc:
        raise HttpError(exc.status, exc.message) from exc
    return Status(202, {"generation_id": generation.pk, "status": generation.status})


@router.post("/exercises/{exercise_id}/generations", response=_RESPONSES,
             summary="Start a graded generation: {prompt, steps 1–100, seed, guidance 0–10}")
def exercise_generation_create(request, exercise_id: int, payload: GenerationIn):
    exercise, _role = exercise_get_for_user(user=request.user, exercise_id=exercise_id)
    if grading_of(exercise) != GENERATION:
        raise HttpError(400, "This exercise does not take generations.")
    return _create(request, payload, course=exercise.course, exercise=exercise)


@router.post("/courses/{slug}/generations", response=_RESPONSES, summary="Start a free (ungraded) generation in the course's lab")
def lab_generation_create(request, slug: str, payload: GenerationIn):
    course, _role = course_get_for_user(user=request.user, slug=slug)
    return _create(request, payload, course=course)


def generation_payload(generation: Generation, *, viewer) -> dict:
    def picture(kind: str) -> str:
        return reverse("exercises:generation_picture", args=[generation.pk, kind])

    def frames(kind: str) -> list[str]:
        return [reverse("exercises:generation_frame", args=[generation.pk, kind, i])
                for i in range(len(generation.trajectory_steps))]

    done = generation.status == Generation.Status.DONE
    payload = {
        "id": generation.pk, "status": generation.status, "prompt": generation.prompt, "steps": generation.steps,
        "seed": generation.seed, "guidance": generation.guidance, "exercise_id": generation.exercise_id,
        "username": generation.user.username, "position": generation_position(generation=generation),
        "progress": generation.progress, "image_url": picture("image") if done else None,
        "trajectory_urls": frames("trajectory") if done else [], "prediction_urls": frames("x0") if done else [],
        "trajectory_steps": list(generation.trajectory_steps), "recognition": dict(generation.recognition),
        "score": generation.score, "feedback": localize(generation.feedback) if generation.feedback else None,
        "batch_size": generation.batch_size, "queued_at": generation.queued_at, "finished_at": generation.finished_at,
        "device": generation.device, "device_seconds": generation.device_seconds,
    }
    if generation.exercise is not None and not visibility_for(viewer=viewer, exercise=generation.exercise).released:
        payload.update(score=None, recognition={}, feedback=localize({
            "fr": "Génération enregistrée ; les notes seront publiées plus tard.",
            "en": "Generation recorded; grades will be released later."}) if done else None)
    return payload


@router.get("/generations/{generation_id}", response={200: GenerationOut, 404: ErrorOut}, summary="A generation's status and result")
def generation_get(request, generation_id: int):
    return generation_payload(generation_get_for_user(user=request.user, generation_id=generation_id), viewer=request.user)


@router.get("/courses/{slug}/generations", response={200: list[GenerationOut], 404: ErrorOut},
            summary="Your generations in a course (a teacher gets every student's)")
def course_generations(request, slug: str, limit: int = 50):
    course, role = course_get_for_user(user=request.user, slug=slug)
    rows = generations_list(course=course, user=None if role == "teacher" else request.user, limit=max(1, min(limit, 200)))
    return [generation_payload(row, viewer=request.user) for row in rows]
