"""The permissions matrix (issue #7): every URL of the site × every role → the status it answers.

The table below has one key per URL pattern (its namespaced name, or ``/route`` when it has
none; the Django admin is one group). ``test_every_url_pattern_has_a_row`` walks the resolver,
django-ninja's operations included, and fails on a pattern without a row, so a new URL cannot
be added without saying who may open it. The privacy rule of API.md holds throughout: another
student's object answers 404, never 403.

Also here: CSRF on forms and session API calls (never on Bearer calls), private pictures served
only through authenticated views, the request-size caps, and the production security headers.
"""
from __future__ import annotations

import html
import io
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from tests.factories import PASSWORD, CourseFactory, admin, logged_in, right_answer, student, teacher

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("anon", "owner", "other", "teacher", "stranger", "admin")
# anon: not logged in · owner: the student whose attempt, submission and generation these are ·
# other: another student of the same course · teacher: a teacher of the course ·
# stranger: a teacher of another course · admin: a site administrator.


# --- the world: one course with every kind of exercise and a row of each kind of work ----------
def png_bytes(width: int = 32, height: int = 32, colour=(200, 40, 40)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def strip_bytes(frames: int = 8, size: int = 32, gap: int = 2) -> bytes:
    """A trajectory strip as the worker writes it: ``frames`` squares separated by ``gap`` pixels."""
    from PIL import Image

    strip = Image.new("RGB", (frames * size + (frames - 1) * gap, size), (255, 255, 255))
    for i in range(frames):
        strip.paste(Image.new("RGB", (size, size), (i * 30, 100, 255 - i * 30)), (i * (size + gap), 0))
    buffer = io.BytesIO()
    strip.save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class World:
    course: object
    other_course: object
    users: dict
    ex: dict  # kind → Exercise
    attempt: object
    submission: object
    generation: object
    token: object
    raw_token: str
    revocable: object
    files: dict = field(default_factory=dict)  # name → (media-relative path, bytes)

    def client(self, role: str) -> Client:
        return Client() if role == "anon" else logged_in(self.users[role])


def build_world(settings, tmp_path) -> World:
    from accounts.services import api_token_create
    from courses.models import Course
    from exercises.engine.services import attempt_submit
    from exercises.models import Generation, Submission

    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("load_course", verbosity=0)
    course = Course.objects.get(slug="cnn-diffusion")
    other_course = CourseFactory(slug="other-course")
    users = {
        "owner": student(course, username="owner"),
        "other": student(course, username="other"),
        "teacher": teacher(course, username="prof"),
        "stranger": teacher(other_course, username="prof-elsewhere"),
        "admin": admin(username="root"),
    }
    exercises = course.exercises.all()
    ex = {
        "kernel": exercises.get(slug="kernel-reconstruct-blur"),
        "output_size": exercises.get(slug="output-size-7x7-padded"),
        "param_count": exercises.get(slug="param-count-conv-layer"),
        "mcq": exercises.get(slug="history-milestones"),
        "model": exercises.get(slug="model-shapes-classifier"),
        "transfer": exercises.get(slug="model-transfer-fruits"),
        "diffusion": exercises.get(slug="diffusion-generate-target"),
        "unpublished": exercises.get(slug="cnn-1d-data"),
    }
    ex["unpublished"].published = False
    ex["unpublished"].save(update_fields=["published"])
    # A small training set keeps the dataset download fast; the permissions are the same.
    ex["model"].params = {**ex["model"].params, "train_size": 64}
    ex["model"].save(update_fields=["params"])

    owner = users["owner"]
    attempt = attempt_submit(exercise=ex["kernel"], user=owner, answer=right_answer(ex["kernel"], owner))

    now = timezone.now()
    submission = Submission(
        exercise=ex["model"], user=owner, original_name="my-model.keras", size=8, status="done", score=0.8,
        metrics={"public_accuracy": 0.91, "private_accuracy": 0.88, "accuracy": 0.9},
        feedback={"fr": "Précision publique 91 %", "en": "Public accuracy 91%"}, started_at=now, finished_at=now)
    submission.file.save("model.keras", ContentFile(b"PK\x05\x06" + b"\0" * 4), save=False)
    submission.save()
    model_path = Path(submission.file.path)
    confusion = png_bytes(64, 64, (10, 120, 10))
    model_path.with_name(model_path.stem + "-confusion.png").write_bytes(confusion)
    model_path.with_name(model_path.stem + "-confusion-public.png").write_bytes(confusion)

    generation = Generation(
        course=course, exercise=ex["diffusion"], user=owner, prompt="banane verte", steps=50, seed=7, guidance=3.0,
        status="done", progress=100, trajectory_steps=[49, 42, 35, 28, 21, 14, 7, 0], score=1.0,
        recognition={"fruit": "banane", "colour": "vert"}, feedback={"fr": "Bravo", "en": "Well done"},
        started_at=now, finished_at=now, batch_size=1, seconds=0.2)
    image, strip, predictions = png_bytes(), strip_bytes(), strip_bytes()
    generation.image.save("permissions-image.png", ContentFile(image), save=False)
    generation.trajectory.save("permissions-trajectory.png", ContentFile(strip), save=False)
    generation.predictions.save("permissions-x0.png", ContentFile(predictions), save=False)
    generation.save()

    token, raw = api_token_create(user=owner, name="notebook")
    revocable, _raw = api_token_create(user=owner, name="to revoke")
    return World(
        course=course, other_course=other_course, users=users, ex=ex, attempt=attempt, submission=submission,
        generation=generation, token=token, raw_token=raw, revocable=revocable,
        files={
            "image": (generation.image.name, image), "trajectory": (generation.trajectory.name, strip),
            "confusion": (str(Path(submission.file.name).with_name(model_path.stem + "-confusion.png")), confusion),
            "model": (submission.file.name, b"PK\x05\x06" + b"\0" * 4),
        },
    )


@pytest.fixture
def world(db, settings, tmp_path) -> World:
    return build_world(settings, tmp_path)


# --- the table ------------------------------------------------------------------------------
def E(anon, owner, other, teacher, stranger, admin) -> dict:
    return dict(zip(ROLES, (anon, owner, other, teacher, stranger, admin)))


MEMBER = E(302, 200, 200, 200, 404, 200)  # a page of the course: any member, 404 for outsiders
OWN = E(302, 200, 404, 200, 404, 200)  # the owner's object: the owner and the course's teachers
TEACH = E(302, 404, 404, 200, 404, 200)  # the course's teachers (and admins); students get 404
ADMIN = E(302, 404, 404, 404, 404, 200)
POST_ONLY = E(302, 405, 405, 405, 405, 405)  # login_required first, then require_POST
LOGGED = E(302, 200, 200, 200, 200, 200)
EVERYONE = E(200, 200, 200, 200, 200, 200)
API_MEMBER = E(401, 200, 200, 200, 404, 200)
API_OWN = E(401, 200, 404, 200, 404, 200)
API_TEACH = E(401, 404, 404, 200, 404, 200)
API_POST_ONLY = E(405, 405, 405, 405, 405, 405)  # ninja answers 405 before authenticating


@dataclass(frozen=True)
class Case:
    url: Callable[[World], str]
    expect: dict
    method: str = "get"
    data: Callable[[World], dict] | None = None  # form fields (POST)
    json: Callable[[World], object] | None = None  # JSON body (POST)
    note: str = ""


def kernel_form(w: World) -> dict:
    kernel = right_answer(w.ex["kernel"], w.users["owner"])["kernel"]
    return {f"k{3 * i + j}": str(v) for i, row in enumerate(kernel) for j, v in enumerate(row)}


def upload(w: World) -> dict:
    return {"file": ContentFile(b"not a keras zip", name="model.keras")}


GEN = {"prompt": "banane verte", "steps": 20, "seed": 3, "guidance": 3.0}
owner_id = lambda w: w.users["owner"].pk  # noqa: E731

TABLE: dict[str, list[Case]] = {
    # --- site root, accounts, courses -------------------------------------------------------
    "/": [Case(lambda w: "/", E(302, 302, 302, 302, 302, 302))],
    "accounts:login": [Case(lambda w: reverse("accounts:login"), E(200, 302, 302, 302, 302, 302))],
    "accounts:logout": [
        Case(lambda w: reverse("accounts:logout"), E(405, 405, 405, 405, 405, 405)),
    ],
    "accounts:profile": [Case(lambda w: reverse("accounts:profile"), LOGGED)],
    "accounts:token_create": [
        Case(lambda w: reverse("accounts:token_create"), POST_ONLY),
        Case(lambda w: reverse("accounts:token_create"), E(302, 302, 302, 302, 302, 302), "post",
             data=lambda w: {"name": "mine"}),
    ],
    "accounts:token_revoke": [
        Case(lambda w: reverse("accounts:token_revoke", args=[w.revocable.pk]), POST_ONLY),
        # Everyone is sent back to their profile; only the owner's own request revokes (checked below).
        Case(lambda w: reverse("accounts:token_revoke", args=[w.revocable.pk]), E(302, 302, 302, 302, 302, 302), "post"),
    ],
    "courses:list": [Case(lambda w: reverse("courses:list"), LOGGED)],
    "courses:join": [
        Case(lambda w: reverse("courses:join"), POST_ONLY),
        Case(lambda w: reverse("courses:join"), E(302, 302, 302, 302, 302, 302), "post", data=lambda w: {"code": "nope"}),
    ],
    "courses:detail": [
        Case(lambda w: reverse("courses:detail", args=[w.course.slug]), MEMBER),
        Case(lambda w: reverse("courses:detail", args=["no-such-course"]), E(302, 404, 404, 404, 404, 404)),
    ],
    # --- exercises --------------------------------------------------------------------------
    "exercises:detail": [
        Case(lambda w, k=kind: reverse("exercises:detail", args=[w.ex[k].pk]), MEMBER, note=kind)
        for kind in ("kernel", "output_size", "param_count", "mcq", "model", "transfer", "diffusion")
    ] + [
        Case(lambda w: reverse("exercises:detail", args=[w.ex["unpublished"].pk]), E(302, 404, 404, 200, 404, 200),
             note="unpublished: teachers only"),
    ],
    "exercises:answer": [
        Case(lambda w: reverse("exercises:answer", args=[w.ex["kernel"].pk]), POST_ONLY),
        Case(lambda w: reverse("exercises:answer", args=[w.ex["kernel"].pk]), E(302, 302, 302, 302, 404, 302), "post",
             data=kernel_form),
    ],
    "exercises:submit": [
        Case(lambda w: reverse("exercises:submit", args=[w.ex["model"].pk]), POST_ONLY),
        Case(lambda w: reverse("exercises:submit", args=[w.ex["model"].pk]), E(302, 302, 302, 302, 404, 302), "post",
             data=upload),
        Case(lambda w: reverse("exercises:submit", args=[w.ex["kernel"].pk]), E(302, 404, 404, 404, 404, 404), "post",
             data=upload, note="not a model exercise"),
    ],
    "exercises:test_set_upload": [
        Case(lambda w: reverse("exercises:test_set_upload", args=[w.ex["model"].pk]), POST_ONLY),
        Case(lambda w: reverse("exercises:test_set_upload", args=[w.ex["model"].pk]), E(302, 404, 404, 302, 404, 302),
             "post", data=lambda w: {"test_set": ContentFile(b"not an npz", name="test.npz")}),
    ],
    "exercises:leaderboard": [
        Case(lambda w: reverse("exercises:leaderboard", args=[w.ex["model"].pk]), MEMBER),
        Case(lambda w: reverse("exercises:leaderboard", args=[w.ex["kernel"].pk]), E(302, 404, 404, 404, 404, 404)),
    ],
    "exercises:starter": [Case(lambda w: reverse("exercises:starter", args=[w.ex["model"].pk]), MEMBER)],
    "exercises:backbone": [
        Case(lambda w: reverse("exercises:backbone", args=[w.ex["transfer"].pk]), MEMBER),
        Case(lambda w: reverse("exercises:backbone", args=[w.ex["model"].pk]), E(302, 404, 404, 404, 404, 404),
             note="no backbone"),
    ],
    "exercises:submission": [Case(lambda w: reverse("exercises:submission", args=[w.submission.pk]), OWN)],
    "exercises:submission_confusion": [
        Case(lambda w: reverse("exercises:submission_confusion", args=[w.submission.pk]), OWN),
    ],
    "exercises:submission_confusion_public": [
        Case(lambda w: reverse("exercises:submission_confusion_public", args=[w.submission.pk]), OWN),
    ],
    "exercises:my_results": [Case(lambda w: reverse("exercises:my_results"), LOGGED)],
    "exercises:generate": [
        Case(lambda w: reverse("exercises:generate", args=[w.ex["diffusion"].pk]), POST_ONLY),
        Case(lambda w: reverse("exercises:generate", args=[w.ex["diffusion"].pk]), E(302, 302, 302, 302, 404, 302), "post",
             data=lambda w: GEN),
    ],
    "exercises:lab": [Case(lambda w: reverse("exercises:lab", args=[w.course.slug]), MEMBER)],
    "exercises:lab_generate": [
        Case(lambda w: reverse("exercises:lab_generate", args=[w.course.slug]), POST_ONLY),
        Case(lambda w: reverse("exercises:lab_generate", args=[w.course.slug]), E(302, 302, 302, 302, 404, 302), "post",
             data=lambda w: GEN),
    ],
    "exercises:course_generations": [
        Case(lambda w: reverse("exercises:course_generations", args=[w.course.slug]), TEACH),
    ],
    "exercises:generation": [Case(lambda w: reverse("exercises:generation", args=[w.generation.pk]), OWN)],
    "exercises:generation_picture": [
        Case(lambda w, k=kind: reverse("exercises:generation_picture", args=[w.generation.pk, k]), OWN, note=kind)
        for kind in ("image", "trajectory", "x0")
    ] + [
        Case(lambda w: reverse("exercises:generation_picture", args=[w.generation.pk, "secret"]),
             E(302, 404, 404, 404, 404, 404), note="unknown kind"),
    ],
    "exercises:generation_frame": [
        Case(lambda w: reverse("exercises:generation_frame", args=[w.generation.pk, "trajectory", 3]), OWN),
        Case(lambda w: reverse("exercises:generation_frame", args=[w.generation.pk, "x0", 7]), OWN),
        Case(lambda w: reverse("exercises:generation_frame", args=[w.generation.pk, "trajectory", 8]),
             E(302, 404, 404, 404, 404, 404), note="past the last frame"),
    ],
    # --- teachers ---------------------------------------------------------------------------
    "gradebook:home": [Case(lambda w: reverse("gradebook:home"), E(302, 404, 404, 200, 200, 200))],
    "gradebook:course": [Case(lambda w: reverse("gradebook:course", args=[w.course.slug]), TEACH)],
    "gradebook:course_csv": [Case(lambda w: reverse("gradebook:course_csv", args=[w.course.slug]), TEACH)],
    "gradebook:student": [
        Case(lambda w: reverse("gradebook:student", args=[w.course.slug, owner_id(w)]), TEACH),
        # A teacher's own id is not a student of the course.
        Case(lambda w: reverse("gradebook:student", args=[w.course.slug, w.users["teacher"].pk]),
             E(302, 404, 404, 404, 404, 404)),
        # The owner through the other course's URL: not a student there, so not even its teacher sees them.
        Case(lambda w: reverse("gradebook:student", args=[w.other_course.slug, owner_id(w)]),
             E(302, 404, 404, 404, 404, 404)),
    ],
    "gradebook:exercise_stats": [
        Case(lambda w: reverse("gradebook:exercise_stats", args=[w.course.slug, w.ex["kernel"].pk]), TEACH),
        Case(lambda w: reverse("gradebook:exercise_stats", args=[w.course.slug, w.ex["model"].pk]), TEACH),
    ],
    # The teacher's write views answer 404 to a GET (they are forms' targets only); a regrade's
    # GET is its preview, which only the course's teachers see.
    "gradebook:regrade": [
        Case(lambda w: reverse("gradebook:regrade", args=[w.course.slug, w.ex["kernel"].pk]), TEACH),
        Case(lambda w: reverse("gradebook:regrade", args=[w.course.slug, w.ex["kernel"].pk]), E(302, 404, 404, 302, 404, 302),
             "post"),
    ],
    "gradebook:override": [
        Case(lambda w: reverse("gradebook:override", args=[w.course.slug, owner_id(w), w.ex["kernel"].pk]),
             E(302, 404, 404, 404, 404, 404)),
        Case(lambda w: reverse("gradebook:override", args=[w.course.slug, owner_id(w), w.ex["kernel"].pk]),
             E(302, 404, 404, 302, 404, 302), "post", data=lambda w: {"percent": "75", "comment": "oral exam"}),
    ],
    "gradebook:extension": [
        Case(lambda w: reverse("gradebook:extension", args=[w.course.slug, owner_id(w), w.ex["kernel"].pk]),
             E(302, 404, 404, 404, 404, 404)),
        Case(lambda w: reverse("gradebook:extension", args=[w.course.slug, owner_id(w), w.ex["kernel"].pk]),
             E(302, 404, 404, 302, 404, 302), "post", data=lambda w: {"due_at": "2099-01-01T12:00", "personal": "1"}),
    ],
    "gradebook:audit": [Case(lambda w: reverse("gradebook:audit", args=[w.course.slug]), TEACH)],
    "gradebook:section_weights": [
        Case(lambda w: reverse("gradebook:section_weights", args=[w.course.slug]), E(302, 404, 404, 404, 404, 404)),
    ],
    "gradebook:integrity": [
        Case(lambda w: reverse("gradebook:integrity", args=[w.course.slug, w.ex["model"].pk]), TEACH),
    ],
    "gradebook:submissions_zip": [
        Case(lambda w: reverse("gradebook:submissions_zip", args=[w.course.slug, w.ex["model"].pk]), TEACH),
    ],
    # --- authoring (admins only) ------------------------------------------------------------
    "authoring:home": [Case(lambda w: reverse("authoring:home"), ADMIN)],
    "authoring:import": [
        Case(lambda w: reverse("authoring:import"), POST_ONLY),
        Case(lambda w: reverse("authoring:import"), E(302, 404, 404, 404, 404, 302), "post",
             data=lambda w: {"course_zip": ContentFile(b"not a zip", name="c.zip")}),
    ],
    "authoring:export": [Case(lambda w: reverse("authoring:export", args=[w.course.slug]), ADMIN)],
    "authoring:gift": [
        Case(lambda w: reverse("authoring:gift", args=[w.course.slug]), POST_ONLY),
        # An upload answers with its dry run (200), to be confirmed.
        Case(lambda w: reverse("authoring:gift", args=[w.course.slug]), E(302, 404, 404, 404, 404, 200), "post",
             data=lambda w: {"gift": ContentFile(b"::Q:: 2+2 = {=4 ~5}", name="q.gift")}),
    ],
    "authoring:manage": [
        Case(lambda w: reverse("authoring:manage", args=[w.ex["kernel"].pk]), POST_ONLY),
        Case(lambda w: reverse("authoring:manage", args=[w.ex["kernel"].pk]), E(302, 404, 404, 404, 404, 302), "post",
             data=lambda w: {"action": "down"}),
    ],
    "authoring:create": [
        Case(lambda w, t=t: reverse("authoring:create", args=[w.course.slug, t]), ADMIN, note=t)
        for t in ("kernel", "model", "diffusion")
    ] + [Case(lambda w: reverse("authoring:create", args=[w.course.slug, "nope"]), E(302, 404, 404, 404, 404, 404))],
    "authoring:edit": [Case(lambda w: reverse("authoring:edit", args=[w.ex["kernel"].pk]), ADMIN)],
    "authoring:preview": [
        Case(lambda w, k=kind: reverse("authoring:preview", args=[w.ex[k].pk]), ADMIN, note=kind)
        for kind in ("kernel", "model", "diffusion")
    ],
    # --- misc -------------------------------------------------------------------------------
    "set_language": [
        Case(lambda w: reverse("set_language"), E(302, 302, 302, 302, 302, 302)),
        Case(lambda w: reverse("set_language"), E(302, 302, 302, 302, 302, 302), "post",
             data=lambda w: {"language": "fr", "next": "/"}),
    ],
    "admin": [  # the Django admin, as one group: staff only, everyone else to the admin's login
        Case(lambda w: "/admin/", E(302, 302, 302, 302, 302, 200)),
        Case(lambda w: "/admin/login/", E(200, 200, 200, 200, 200, 302)),
        Case(lambda w: "/admin/exercises/exercise/", E(302, 302, 302, 302, 302, 200)),
        Case(lambda w: f"/admin/exercises/attempt/{w.attempt.pk}/change/", E(302, 302, 302, 302, 302, 200)),
        Case(lambda w: "/admin/auth/user/", E(302, 302, 302, 302, 302, 200)),
    ],
    "healthz": [Case(lambda w: "/healthz", EVERYONE)],
    # LTI (issue #16): the LMS's endpoints answer everyone, a bad message is a clear 400 page.
    "lti:login": [Case(lambda w: reverse("lti:login"), E(400, 400, 400, 400, 400, 400), note="no target_link_uri")],
    "lti:launch": [
        Case(lambda w: reverse("lti:launch"), E(405, 405, 405, 405, 405, 405)),
        Case(lambda w: reverse("lti:launch"), E(400, 400, 400, 400, 400, 400), "post", note="no id_token"),
    ],
    "lti:jwks": [Case(lambda w: reverse("lti:jwks"), EVERYONE)],
    "lti:deep_link_choose": [
        Case(lambda w: reverse("lti:deep_link_choose"), E(405, 405, 405, 405, 405, 405)),
        Case(lambda w: reverse("lti:deep_link_choose"), E(400, 400, 400, 400, 400, 400), "post", note="no token"),
    ],
    "lti:scores": [Case(lambda w: reverse("lti:scores", args=[w.course.slug]), TEACH)],
    "lti:score_resend": [
        Case(lambda w: reverse("lti:score_resend", args=[w.course.slug, 1]), POST_ONLY),
        Case(lambda w: reverse("lti:score_resend", args=[w.course.slug, 10**9]), E(302, 404, 404, 404, 404, 404), "post"),
    ],
    "lti:context": [
        Case(lambda w: reverse("lti:context", args=[w.course.slug, 1]), POST_ONLY),
        Case(lambda w: reverse("lti:context", args=[w.course.slug, 10**9]), E(302, 404, 404, 404, 404, 404), "post"),
    ],
    # --- API v1 -----------------------------------------------------------------------------
    "api:api-root": [Case(lambda w: "/api/v1/", E(404, 404, 404, 404, 404, 404))],
    "api:openapi-json": [Case(lambda w: "/api/v1/openapi.json", EVERYONE)],
    "api:openapi-view": [Case(lambda w: "/api/v1/docs", EVERYONE)],
    "api:token_obtain": [
        Case(lambda w: "/api/v1/auth/token", API_POST_ONLY),
        Case(lambda w: "/api/v1/auth/token", EVERYONE, "post",
             json=lambda w: {"username": "owner", "password": PASSWORD}),
    ],
    "api:courses_list": [Case(lambda w: "/api/v1/courses", E(401, 200, 200, 200, 200, 200))],
    "api:course_exercises": [
        Case(lambda w: f"/api/v1/courses/{w.course.slug}/exercises", API_MEMBER),
        Case(lambda w: "/api/v1/courses/no-such-course/exercises", E(401, 404, 404, 404, 404, 404)),
    ],
    "api:exercise_get": [
        Case(lambda w, k=kind: f"/api/v1/exercises/{w.ex[k].pk}", API_MEMBER, note=kind)
        for kind in ("kernel", "output_size", "param_count", "mcq", "model", "diffusion")
    ] + [
        Case(lambda w: f"/api/v1/exercises/{w.ex['unpublished'].pk}", API_TEACH, note="unpublished"),
    ],
    "api:attempt_create": [
        Case(lambda w: f"/api/v1/exercises/{w.ex['kernel'].pk}/attempts", API_POST_ONLY),
        Case(lambda w: f"/api/v1/exercises/{w.ex['kernel'].pk}/attempts", E(401, 200, 200, 200, 404, 200), "post",
             json=lambda w: {"answer": right_answer(w.ex["kernel"], w.users["owner"])}),
    ],
    "api:dataset_download": [
        Case(lambda w: f"/api/v1/exercises/{w.ex['model'].pk}/dataset", API_MEMBER),
        Case(lambda w: f"/api/v1/exercises/{w.ex['kernel'].pk}/dataset", E(401, 400, 400, 400, 404, 400)),
    ],
    "api:submission_upload": [
        Case(lambda w: f"/api/v1/exercises/{w.ex['model'].pk}/submissions", API_POST_ONLY),
        Case(lambda w: f"/api/v1/exercises/{w.ex['model'].pk}/submissions", E(401, 202, 202, 202, 404, 202), "post",
             data=upload),
    ],
    "api:submission_get": [Case(lambda w: f"/api/v1/submissions/{w.submission.pk}", API_OWN)],
    "api:leaderboard_get": [Case(lambda w: f"/api/v1/exercises/{w.ex['model'].pk}/leaderboard", API_MEMBER)],
    "api:exercise_generation_create": [
        Case(lambda w: f"/api/v1/exercises/{w.ex['diffusion'].pk}/generations", API_POST_ONLY),
        Case(lambda w: f"/api/v1/exercises/{w.ex['diffusion'].pk}/generations", E(401, 202, 202, 202, 404, 202), "post",
             json=lambda w: GEN),
    ],
    # Same route as api:course_generations (a GET there lists); this row is its POST.
    "api:lab_generation_create": [
        Case(lambda w: f"/api/v1/courses/{w.course.slug}/generations", E(401, 202, 202, 202, 404, 202), "post",
             json=lambda w: GEN),
    ],
    "api:course_generations": [Case(lambda w: f"/api/v1/courses/{w.course.slug}/generations", API_MEMBER)],
    "api:device_budget": [Case(lambda w: f"/api/v1/courses/{w.course.slug}/device-budget", API_MEMBER)],
    "api:generation_get": [Case(lambda w: f"/api/v1/generations/{w.generation.pk}", API_OWN)],
    "api:gradebook_json": [Case(lambda w: f"/api/v1/courses/{w.course.slug}/gradebook", API_TEACH)],
    "api:gradebook_csv": [Case(lambda w: f"/api/v1/courses/{w.course.slug}/gradebook.csv", API_TEACH)],
    "api:regrade": [
        Case(lambda w: f"/api/v1/exercises/{w.ex['kernel'].pk}/regrade", API_POST_ONLY),
        Case(lambda w: f"/api/v1/exercises/{w.ex['kernel'].pk}/regrade", API_TEACH, "post"),
    ],
    "api:regrade_preview_json": [
        Case(lambda w: f"/api/v1/exercises/{w.ex['kernel'].pk}/regrade/preview", API_TEACH),
    ],
    "api:override": [
        Case(lambda w: f"/api/v1/exercises/{w.ex['kernel'].pk}/overrides", API_POST_ONLY),
        Case(lambda w: f"/api/v1/exercises/{w.ex['kernel'].pk}/overrides", API_TEACH, "post",
             json=lambda w: {"username": "owner", "score": 0.5, "comment": "oral exam"}),
    ],
    "api:extension": [
        Case(lambda w: f"/api/v1/exercises/{w.ex['kernel'].pk}/extensions", API_POST_ONLY),
        Case(lambda w: f"/api/v1/exercises/{w.ex['kernel'].pk}/extensions", API_TEACH, "post",
             json=lambda w: {"username": "owner", "due_at": "2099-01-01T12:00:00+01:00", "personal": True}),
    ],
    "api:audit": [Case(lambda w: f"/api/v1/courses/{w.course.slug}/audit", API_TEACH)],
}


# --- the walk -------------------------------------------------------------------------------
def url_patterns(resolver=None, prefix: str = "", namespace: str = ""):
    """Every (route, namespaced name, callback) of the site, the API's operations included."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}:{entry.namespace}" if namespace and entry.namespace else (entry.namespace or namespace)
            yield from url_patterns(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else (entry.name or "")
            yield prefix + str(entry.pattern), name, entry.callback


def table_key(route: str, name: str) -> str:
    if route.startswith("admin/"):
        return "admin"
    return name or "/" + route


def test_every_url_pattern_has_a_row():
    patterns = list(url_patterns())
    found = {table_key(route, name) for route, name, _cb in patterns}
    missing = sorted(found - TABLE.keys())
    stale = sorted(TABLE.keys() - found)
    assert not (missing or stale), (
        f"URL patterns without a row in the permissions table: {missing}; "
        f"rows for URLs that no longer exist: {stale}. Say who may open each URL in TABLE."
    )
    # Every row says something about every role.
    for key, cases in TABLE.items():
        assert cases, key
        for case in cases:
            assert set(case.expect) == set(ROLES), key
    # The API is walked too (ninja registers one pattern per operation).
    assert sum(1 for route, _n, _c in patterns if route.startswith("api/v1/")) >= 20
    # No pattern serves uploads as static files.
    from django.views.static import serve

    assert not [route for route, _n, cb in patterns if cb is serve]


def _send(client: Client, case: Case, w: World):
    url = case.url(w)
    if case.method == "get":
        return client.get(url)
    if case.json is not None:
        return client.post(url, json.dumps(case.json(w)), content_type="application/json")
    return client.post(url, case.data(w) if case.data else {})


def _run_matrix(w: World, method: str) -> tuple[list[str], int]:
    # The tests run in a transaction that never commits, so no task is sent to a broker.
    clients = {role: w.client(role) for role in ROLES}
    for client in clients.values():
        client.raise_request_exception = False  # a 500 is listed with the others, not raised
    wrong, n = [], 0
    for key, cases in TABLE.items():
        for case in cases:
            if case.method != method:
                continue
            for role in ROLES:
                n += 1
                response = _send(clients[role], case, w)
                if response.status_code != case.expect[role]:
                    where = f"{case.method.upper()} {case.url(w)}" + (f" ({case.note})" if case.note else "")
                    wrong.append(f"{key} · {where} · {role}: expected {case.expect[role]}, got {response.status_code}")
    return wrong, n


def test_get_matrix(world):
    wrong, n = _run_matrix(world, "get")
    assert n >= 6 * len(TABLE) - 6
    assert not wrong, "\n".join(wrong)


def test_post_matrix(world):
    from accounts.models import ApiToken
    from exercises.models import Submission

    submissions_before = Submission.objects.count()
    wrong, n = _run_matrix(world, "post")
    assert not wrong, "\n".join(wrong)
    # The owner's own request revoked it (test_another_students_objects_are_404_not_403: nobody else can).
    assert ApiToken.objects.get(pk=world.revocable.pk).revoked_at is not None
    # Uploads went through only for members: 4 HTML + 4 API (owner, other, teacher, admin).
    assert Submission.objects.count() == submissions_before + 8
    assert not Submission.objects.filter(user=world.users["stranger"]).exists()


def test_another_students_objects_are_404_not_403(world):
    """API.md's privacy rule, checked on the bodies too: nothing of the owner's leaks."""
    other = world.client("other")
    for url in (f"/api/v1/submissions/{world.submission.pk}", f"/api/v1/generations/{world.generation.pk}"):
        response = other.get(url)
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}
    # The other student's list of the course's generations holds none of the owner's.
    rows = other.get(f"/api/v1/courses/{world.course.slug}/generations").json()
    assert all(row["username"] == "other" for row in rows)
    body = other.get(reverse("exercises:detail", args=[world.ex["diffusion"].pk])).content.decode()
    assert f"/generations/{world.generation.pk}/" not in body
    body = other.get(reverse("exercises:detail", args=[world.ex["model"].pk])).content.decode()
    assert f"/submissions/{world.submission.pk}/" not in body
    # Another user cannot revoke the owner's token: they are told it does not exist.
    for role in ("other", "teacher", "admin"):
        response = world.client(role).post(reverse("accounts:token_revoke", args=[world.token.pk]), follow=True)
        assert "Ce jeton n'existe pas ou a déjà été révoqué." in html.unescape(response.content.decode())
    world.token.refresh_from_db()
    assert world.token.revoked_at is None
    assert world.token.hint in world.client("owner").get(reverse("accounts:profile")).content.decode()
    assert world.token.hint not in other.get(reverse("accounts:profile")).content.decode()


# --- CSRF -----------------------------------------------------------------------------------
def test_csrf_is_enforced_on_forms_and_session_api_calls_but_not_on_bearer_calls(world):
    owner = world.users["owner"]
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    kernel = world.ex["kernel"]
    attempts = kernel.attempts.filter(user=owner).count()

    # An HTML form without the token.
    assert client.post(reverse("exercises:answer", args=[kernel.pk]), kernel_form(world)).status_code == 403
    assert client.post(reverse("accounts:token_create"), {"name": "x"}).status_code == 403
    # A session-authenticated API call without the token.
    body = json.dumps({"answer": right_answer(kernel, owner)})
    response = client.post(f"/api/v1/exercises/{kernel.pk}/attempts", body, content_type="application/json")
    assert response.status_code == 403
    assert "csrf" in response.json()["detail"].lower()
    response = client.post(f"/api/v1/courses/{world.course.slug}/generations", json.dumps(GEN),
                           content_type="application/json")
    assert response.status_code == 403
    assert kernel.attempts.filter(user=owner).count() == attempts

    # With the token (from a page's cookie), the same calls go through.
    client.get(reverse("accounts:profile"))
    token = client.cookies["csrftoken"].value
    response = client.post(f"/api/v1/exercises/{kernel.pk}/attempts", body, content_type="application/json",
                           HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200, response.content
    assert client.post(reverse("exercises:answer", args=[kernel.pk]), {**kernel_form(world),
                       "csrfmiddlewaretoken": token}).status_code == 302

    # A Bearer call needs no CSRF token (no cookie is involved), even on a CSRF-enforcing client.
    bearer = Client(enforce_csrf_checks=True)
    response = bearer.post(f"/api/v1/exercises/{kernel.pk}/attempts", body, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {world.raw_token}")
    assert response.status_code == 200, response.content
    assert kernel.attempts.filter(user=owner).count() == attempts + 3  # API, form, Bearer
    # A wrong Bearer token is a 401, never a fallback to anything else.
    response = bearer.post(f"/api/v1/exercises/{kernel.pk}/attempts", body, content_type="application/json",
                           HTTP_AUTHORIZATION="Bearer stride_not-a-token")
    assert response.status_code == 401


# --- private files --------------------------------------------------------------------------
def test_pictures_are_served_only_through_authenticated_views(world, settings):
    owner, anon = world.client("owner"), Client()
    g, s = world.generation, world.submission
    pictures = {
        reverse("exercises:generation_picture", args=[g.pk, "image"]): world.files["image"][1],
        reverse("exercises:generation_picture", args=[g.pk, "trajectory"]): world.files["trajectory"][1],
        reverse("exercises:generation_frame", args=[g.pk, "trajectory", 0]): None,
        reverse("exercises:submission_confusion", args=[s.pk]): world.files["confusion"][1],
    }
    for url, content in pictures.items():
        response = owner.get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"] == "image/png"
        assert response["Content-Disposition"].startswith("inline; filename=")
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "private" in response["Cache-Control"]
        data = b"".join(response.streaming_content) if response.streaming else response.content
        if content is not None:
            assert data == content
        else:  # a frame is one 32×32 square cut out of the strip
            from PIL import Image

            assert Image.open(io.BytesIO(data)).size == (32, 32)
        # Anonymous users are sent to the login page (the API's picture URLs are these same views).
        response = anon.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))
    api = owner.get(f"/api/v1/generations/{g.pk}").json()
    assert api["image_url"] == reverse("exercises:generation_picture", args=[g.pk, "image"])
    assert len(api["trajectory_urls"]) == 8

    # Nothing is reachable under MEDIA_URL (nor under the usual /media/): not the pictures, not the model.
    media_prefixes = {"/" + settings.MEDIA_URL.strip("/") + "/" if settings.MEDIA_URL.strip("/") else "/", "/media/"}
    for name, (relative, content) in world.files.items():
        assert (Path(settings.MEDIA_ROOT) / relative).read_bytes() == content  # the file is really there
        for prefix in media_prefixes:
            for client in (owner, world.client("admin")):
                response = client.get(prefix + relative)
                assert response.status_code == 404, (name, prefix + relative, response.status_code)
            response = anon.get(prefix + relative)
            assert response.status_code in (302, 404), (name, prefix + relative)
            assert content not in (response.content if not response.streaming else b"")


# --- request size ---------------------------------------------------------------------------
def _stored_models(settings) -> list[Path]:
    return sorted((Path(settings.MEDIA_ROOT) / "submissions").rglob("*.keras"))


def test_an_oversize_request_is_a_clear_413_and_nothing_is_stored(world, settings):
    from exercises.models import Submission

    owner = world.client("owner")
    model = world.ex["model"]
    before_rows, before_files = Submission.objects.count(), _stored_models(settings)

    # The hard ceiling of the middleware, before Django reads the body.
    settings.STRIDE_MAX_REQUEST_BYTES = 4096
    big = ContentFile(b"\0" * 8192, name="model.keras")
    response = owner.post(f"/api/v1/exercises/{model.pk}/submissions", {"file": big})
    assert response.status_code == 413
    assert response.json()["detail"].startswith("The request is too large: the limit is")
    big.seek(0)
    response = owner.post(reverse("exercises:submit", args=[model.pk]), {"file": big}, HTTP_HX_REQUEST="true")
    assert response.status_code == 413
    assert Submission.objects.count() == before_rows and _stored_models(settings) == before_files

    # The exercise's own limit (max_file_mb), under the ceiling.
    settings.STRIDE_MAX_REQUEST_BYTES = 110 * 2**20
    model.params = {**model.params, "max_file_mb": 1}
    model.save(update_fields=["params"])
    payload = b"PK" + b"\0" * (3 * 2**19)  # 1.5 MB
    response = owner.post(f"/api/v1/exercises/{model.pk}/submissions",
                          {"file": ContentFile(payload, name="model.keras")})
    assert response.status_code == 413, response.content
    detail = response.json()["detail"]
    assert detail == "Le fichier fait 1.5 Mo ; la limite est de 1 Mo.", detail  # says the size and the limit
    response = owner.post(reverse("exercises:submit", args=[model.pk]),
                          {"file": ContentFile(payload, name="model.keras")}, HTTP_HX_REQUEST="true")
    assert response["X-Stride-Status"] == "413"
    assert "la limite est de 1 Mo" in response.content.decode()
    assert Submission.objects.count() == before_rows and _stored_models(settings) == before_files


# --- production settings --------------------------------------------------------------------
PRODUCTION_PROBE = r"""
import json, django
django.setup()
from django.conf import settings
from django.test import Client
names = ["SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE",
         "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "X_FRAME_OPTIONS", "SECURE_CONTENT_TYPE_NOSNIFF",
         "SECURE_REFERRER_POLICY", "SECURE_CROSS_ORIGIN_OPENER_POLICY", "DEBUG", "MEDIA_URL"]
out = {"settings": {n: getattr(settings, n) for n in names}}
client = Client()
https = client.get("/healthz", secure=True)
http = client.get("/healthz")
out["https"] = {"status": https.status_code, "headers": dict(https.headers)}
out["http"] = {"status": http.status_code, "location": http.headers.get("Location")}
print("PROBE" + json.dumps(out, default=str))
"""


def test_production_settings_and_headers():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "testserver,stride.example.org",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)]),
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    out = subprocess.run([sys.executable, "-c", PRODUCTION_PROBE], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    probe = json.loads(out.stdout.split("PROBE", 1)[1])
    s = probe["settings"]
    assert s["SECURE_HSTS_SECONDS"] >= 31_536_000 and s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert s["SECURE_SSL_REDIRECT"] is True
    assert s["SESSION_COOKIE_SECURE"] is True and s["CSRF_COOKIE_SECURE"] is True and s["SESSION_COOKIE_HTTPONLY"] is True
    assert s["X_FRAME_OPTIONS"] == "DENY"
    assert s["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert s["SECURE_REFERRER_POLICY"] == "same-origin"
    assert s["SECURE_CROSS_ORIGIN_OPENER_POLICY"] == "same-origin"
    assert s["DEBUG"] is False

    assert probe["https"]["status"] == 200
    headers = {k.lower(): v for k, v in probe["https"]["headers"].items()}
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert headers["strict-transport-security"].startswith("max-age=31536000")
    # Plain HTTP is sent to HTTPS.
    assert probe["http"]["status"] == 301 and probe["http"]["location"].startswith("https://")
