"""Pages of model submissions: the exercise page, uploads, live status, the confusion matrix,
the leaderboard, the starter notebook, the backbone and the teacher's hidden test set."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import login_or_bearer_required
from config.i18n import localize
from courses.services import PseudonymError, enrollment_set_pseudonym
from exercises.engine.responses import form_result, page_of, private_png
from exercises.engine.selectors import exercise_get_for_user
from exercises.engine.views import exercise_context
from exercises.engine.visibility import visibility_for
from exercises.models import Submission
from exercises.types import UPLOAD, grading_of
from exercises.types.model import model_params
from grader.datasets import TestSetError

from .datasets import confusion_png_name, hidden_test_set_upload
from .notebooks import starter_notebook_json
from .selectors import leaderboard, submission_get_for_user, submission_position
from .services import SubmissionRefused, submission_create

SUBMISSIONS_PER_PAGE = 5  # each card holds a confusion matrix and an architecture report


def _upload_exercise(request, exercise_id: int):
    """An exercise graded from an uploaded model, and the user's role; 404 otherwise."""
    exercise, role = exercise_get_for_user(user=request.user, exercise_id=exercise_id)
    if grading_of(exercise) != UPLOAD:
        raise Http404
    return exercise, role


def model_context(request, exercise, role, **extra) -> dict:
    context = exercise_context(request, exercise, role, **extra)
    context["submissions"] = page_of(request, Submission.objects.filter(exercise=exercise, user=request.user),
                                     per_page=SUBMISSIONS_PER_PAGE)
    context["reveal_private"] = context["vis"].private
    context["grades_hidden"] = not context["vis"].released
    return context


def model_page(request, exercise, role):
    return render(request, "exercises/detail_model.html", model_context(request, exercise, role))


@login_required
@require_POST
def submission_upload(request, exercise_id: int):
    exercise, role = _upload_exercise(request, exercise_id)
    error, status = None, 200
    upload = request.FILES.get("file")
    if upload is None:
        error, status = localize({"fr": "Choisissez un fichier .keras à déposer.", "en": "Choose a .keras file to upload."}), 400
    else:
        try:
            submission_create(exercise=exercise, user=request.user, upload=upload)
        except SubmissionRefused as exc:
            error, status = exc.message, exc.status
    return form_result(request, error=error, status=status, template="exercises/partials/submissions.html",
                       context=lambda: model_context(request, exercise, role),
                       fallback=redirect("exercises:detail", exercise_id=exercise.pk))


@login_required
@require_GET
def submission_status(request, submission_id: int):
    """The live status of one submission (polled by HTMX while it is queued or running)."""
    submission = submission_get_for_user(user=request.user, submission_id=submission_id)
    vis = visibility_for(viewer=request.user, exercise=submission.exercise)
    context = {"s": submission, "position": submission_position(submission=submission), "vis": vis,
               "reveal_private": vis.private, "grades_hidden": not vis.released}
    if request.headers.get("HX-Request"):
        return render(request, "exercises/partials/submission.html", context)
    # Opened directly (a link, a bookmark): the same card inside the site's layout.
    return render(request, "exercises/standalone.html", {
        **context, "partial": "exercises/partials/submission.html", "course": submission.exercise.course,
        "page_title": localize({"fr": f"Soumission n° {submission.pk}", "en": f"Submission #{submission.pk}"}),
        "back_url": reverse("exercises:detail", args=[submission.exercise_id]), "back_title": submission.exercise.title})


@login_or_bearer_required
@require_GET
def submission_confusion(request, submission_id: int, split: str = "all"):
    """A confusion matrix picture, only through this authenticated view. ``all`` is computed on
    the whole hidden set: part of the private split (the visibility rule), it waits for the due
    date. ``public`` is the public split's own, shown once the grade is released."""
    submission = submission_get_for_user(user=request.user, submission_id=submission_id)
    vis = visibility_for(viewer=request.user, exercise=submission.exercise)
    if not (vis.private if split == "all" else vis.released):
        raise Http404
    if not submission.file:
        raise Http404
    storage = submission.file.storage
    name = confusion_png_name(submission.file.name, split=split)
    if not storage.exists(name):
        raise Http404
    suffix = "-public" if split == "public" else ""
    return private_png(storage.open(name, "rb"), filename=f"confusion{suffix}-{submission.pk}.png")


@login_required
def exercise_leaderboard(request, exercise_id: int):
    exercise, role = _upload_exercise(request, exercise_id)
    vis = visibility_for(viewer=request.user, exercise=exercise, role=role)
    if request.method == "POST" and role != "teacher":
        try:
            enrollment_set_pseudonym(course=exercise.course, user=request.user, pseudonym=request.POST.get("pseudonym", ""))
        except PseudonymError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, localize({"fr": "Pseudonyme enregistré.", "en": "Pseudonym saved."}))
        return redirect("exercises:leaderboard", exercise_id=exercise.pk)
    pseudonym = exercise.course.enrollments.filter(user=request.user).values_list("pseudonym", flat=True).first()
    return render(request, "exercises/leaderboard.html", {
        "exercise": exercise, "course": exercise.course, "reveal_private": vis.private, "is_course_teacher": role == "teacher",
        "pseudonym": pseudonym or "",
        "rows": leaderboard(exercise=exercise, reveal_private=vis.private, viewer=request.user,
                            real_names=role == "teacher")})


@login_required
def starter_notebook(request, exercise_id: int):
    """A notebook that loads the training set, trains a small CNN and submits it with a token."""
    exercise, _role = _upload_exercise(request, exercise_id)
    body = starter_notebook_json(exercise=exercise, base_url=request.build_absolute_uri("/").rstrip("/"))
    response = HttpResponse(body, content_type="application/x-ipynb+json")
    response["Content-Disposition"] = f'attachment; filename="{exercise.slug}-starter.ipynb"'
    return response


@login_required
def backbone_download(request, exercise_id: int):
    from grader.backbone import BACKBONES

    exercise, _role = _upload_exercise(request, exercise_id)
    name = model_params(exercise.params).get("backbone")
    if not name or name not in BACKBONES:
        raise Http404
    return FileResponse(open(BACKBONES[name], "rb"), as_attachment=True, filename=f"{name}.keras",
                        content_type="application/octet-stream")


@login_required
@require_POST
def hidden_test_set_upload_view(request, exercise_id: int):
    """A teacher of the course replaces the hidden test set of a model exercise."""
    exercise, role = _upload_exercise(request, exercise_id)
    if role != "teacher":
        raise Http404
    upload = request.FILES.get("test_set")
    if upload is None:
        messages.error(request, localize({"fr": "Choisissez un fichier .npz.", "en": "Choose a .npz file."}))
    else:
        try:
            test_set = hidden_test_set_upload(exercise=exercise, upload=upload, user=request.user)
        except TestSetError as exc:
            messages.error(request, localize(exc.message))
        else:
            messages.success(request, localize({
                "fr": f"Jeu de test caché remplacé : {test_set.size} exemples.",
                "en": f"Hidden test set replaced: {test_set.size} examples.",
            }))
    return redirect("exercises:detail", exercise_id=exercise.pk)
