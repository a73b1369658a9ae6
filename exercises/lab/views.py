"""Pages of the diffusion lab: the graded exercises, the free lab, the galleries, the pictures."""
from __future__ import annotations

import secrets

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import login_or_bearer_required
from config.i18n import localize
from courses.selectors import course_get_for_user, course_get_taught
from exercises.engine.responses import form_result, page_of, private_png
from exercises.engine.selectors import exercise_get_for_user
from exercises.engine.views import exercise_context
from exercises.models import Generation
from exercises.types import GENERATION, grading_of
from grader.diffusion import schedule, vocab
from grader.diffusion.samples import FRAME_GAP

from .selectors import generation_get_for_user, generation_position, generations_list, generations_visible
from .services import GenerationRefused, generation_create

IMAGE_FIELDS = {"image": "image", "trajectory": "trajectory", "x0": "predictions"}


def _form_defaults(request, target: dict | None = None) -> dict:
    return {"prompt": request.POST.get("prompt", (target or {}).get("caption", "pomme rouge")),
            "steps": request.POST.get("steps", "50"), "guidance": request.POST.get("guidance", "3"),
            "seed": request.POST.get("seed") or str(secrets.randbelow(10_000))}


def _parse_number(value: str, kind):
    try:
        return kind(value)
    except (TypeError, ValueError):
        return value  # the service refuses it with its own clear sentence


GENERATIONS_PER_PAGE = 6


def _create_from_form(request, *, course, exercise=None):
    """Create from the HTML form; returns the error sentence and HTTP status, or (None, 202)."""
    try:
        generation_create(
            user=request.user, course=course, exercise=exercise, prompt=request.POST.get("prompt", ""),
            steps=_parse_number(request.POST.get("steps"), int), seed=_parse_number(request.POST.get("seed"), int),
            guidance=_parse_number(request.POST.get("guidance"), float))
    except GenerationRefused as exc:
        return exc.message, exc.status
    return None, 202


# --- the graded exercise --------------------------------------------------------------------
def diffusion_context(request, exercise, role) -> dict:
    base = exercise_context(request, exercise, role)
    generations = page_of(request, generations_list(course=exercise.course, user=request.user, exercise=exercise,
                                                    limit=None), per_page=GENERATIONS_PER_PAGE)
    generations.object_list = generations_visible(generations.object_list, viewer=request.user)
    return {**base, "generations": generations, "form": _form_defaults(request, base["variant"].get("target")),
            "generate_url": reverse("exercises:generate", args=[exercise.pk])}


def diffusion_page(request, exercise, role):
    return render(request, "exercises/detail_diffusion.html", diffusion_context(request, exercise, role))


@login_required
@require_POST
def exercise_generate(request, exercise_id: int):
    exercise, role = exercise_get_for_user(user=request.user, exercise_id=exercise_id)
    if grading_of(exercise) != GENERATION:
        raise Http404
    error, status = _create_from_form(request, course=exercise.course, exercise=exercise)
    return form_result(request, error=error, status=status, template="exercises/partials/generations.html",
                       context=lambda: diffusion_context(request, exercise, role),
                       fallback=redirect("exercises:detail", exercise_id=exercise.pk))


# --- the free lab ---------------------------------------------------------------------------
def _lab_context(request, course, role) -> dict:
    return {"course": course, "is_course_teacher": role == "teacher",
            "generations": page_of(request, generations_list(course=course, user=request.user, lab_only=True, limit=None),
                                   per_page=GENERATIONS_PER_PAGE),
            "form": _form_defaults(request), "vocabulary": vocab.VOCABULARY, "max_steps": schedule.MAX_STEPS,
            "max_guidance": schedule.MAX_GUIDANCE, "generate_url": reverse("exercises:lab_generate", args=[course.slug])}


@login_required
def lab(request, slug: str):
    course, role = course_get_for_user(user=request.user, slug=slug)
    return render(request, "exercises/lab.html", _lab_context(request, course, role))


@login_required
@require_POST
def lab_generate(request, slug: str):
    course, role = course_get_for_user(user=request.user, slug=slug)
    error, status = _create_from_form(request, course=course)
    return form_result(request, error=error, status=status, template="exercises/partials/generations.html",
                       context=lambda: _lab_context(request, course, role),
                       fallback=redirect("exercises:lab", slug=course.slug))


# --- one generation -------------------------------------------------------------------------
@login_required
@require_GET
def generation_status(request, generation_id: int):
    """The live card of one generation (polled by HTMX while it is queued or running)."""
    [generation] = generations_visible([generation_get_for_user(user=request.user, generation_id=generation_id)],
                                       viewer=request.user)
    context = {"g": generation, "position": generation_position(generation=generation),
               "show_owner": generation.user_id != request.user.pk}
    if request.headers.get("HX-Request"):
        return render(request, "exercises/partials/generation.html", context)
    # Opened directly (a link, a bookmark): the same card inside the site's layout.
    back = (reverse("exercises:detail", args=[generation.exercise_id]) if generation.exercise_id
            else reverse("exercises:lab", args=[generation.course.slug]))
    return render(request, "exercises/standalone.html", {
        **context, "partial": "exercises/partials/generation.html", "course": generation.course,
        "page_title": localize({"fr": f"Génération n° {generation.pk}", "en": f"Generation #{generation.pk}"}),
        "back_url": back, "back_title": generation.exercise.title if generation.exercise_id else localize(
            {"fr": "Laboratoire de diffusion", "en": "Diffusion lab"})})


@login_or_bearer_required
@require_GET
def generation_picture(request, generation_id: int, kind: str):
    """A generation's picture, only through this authenticated view (never a public media URL)."""
    generation = generation_get_for_user(user=request.user, generation_id=generation_id)
    if kind not in IMAGE_FIELDS:
        raise Http404
    field = getattr(generation, IMAGE_FIELDS[kind])
    if not field:
        raise Http404
    return private_png(field.open("rb"), filename=f"generation-{generation.pk}-{kind}.png", max_age=86400)


@login_or_bearer_required
@require_GET
def generation_frame(request, generation_id: int, kind: str, index: int):
    """One frame of a trajectory strip (``kind`` is ``trajectory`` or ``x0``), cut out of the strip."""
    import io

    from PIL import Image

    generation = generation_get_for_user(user=request.user, generation_id=generation_id)
    if kind not in ("trajectory", "x0") or not 0 <= index < len(generation.trajectory_steps):
        raise Http404
    field = getattr(generation, IMAGE_FIELDS[kind])
    if not field:
        raise Http404
    with field.open("rb") as handle, Image.open(handle) as strip:
        size = strip.height
        frame = strip.crop((index * (size + FRAME_GAP), 0, index * (size + FRAME_GAP) + size, size))
        buffer = io.BytesIO()
        frame.save(buffer, format="PNG")
    return private_png(buffer.getvalue(), filename=f"generation-{generation.pk}-{kind}-{index}.png", max_age=86400)


# --- the teacher's gallery ------------------------------------------------------------------
@login_required
def course_generations(request, slug: str):
    """Every generation of the course, newest first, filtered by student or exercise."""
    course = course_get_taught(user=request.user, slug=slug)
    rows = Generation.objects.filter(course=course).select_related("user", "exercise")
    student = request.GET.get("student", "").strip()
    if student:
        rows = rows.filter(user__username=student)
    exercise = request.GET.get("exercise", "").strip()
    if exercise == "lab":
        rows = rows.filter(exercise__isnull=True)
    elif exercise.isdigit():
        rows = rows.filter(exercise_id=int(exercise))
    page = Paginator(rows, 48).get_page(request.GET.get("page"))
    page.object_list = generations_visible(page.object_list, viewer=request.user)
    return render(request, "exercises/course_generations.html", {
        "course": course, "page": page, "student": student, "exercise_filter": exercise,
        "exercises": [exercise for exercise in course.exercises.all() if grading_of(exercise) == GENERATION],
        "students": sorted(set(Generation.objects.filter(course=course).values_list("user__username", flat=True))),
        "title": localize(course.title_i18n),
    })
