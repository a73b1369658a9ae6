from __future__ import annotations

from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from config.i18n import localize
from grader.result import AnswerError

from .responses import form_result, private_png
from .selectors import attempt_list, exercise_get_for_user, results_for_user
from .services import AttemptRefused, attempt_submit, due_at_for, grades_hidden, policy_state
from .types import get_type
from .variants import variant_generate


def _exercise_context(request, exercise, role, **extra):
    exercise_type = get_type(exercise.type)
    variant = variant_generate(exercise=exercise, user_id=request.user.pk)
    attempts = list(attempt_list(exercise=exercise, user=request.user))
    state = policy_state(exercise=exercise, attempts_used=len(attempts), now=timezone.now(),
                         due_at=due_at_for(exercise=exercise, user=request.user))
    hidden = grades_hidden(exercise=exercise) and role != "teacher"
    best = None if hidden else max((a.score for a in attempts), default=None)
    return {
        "grades_hidden": hidden,
        "exercise": exercise,
        "course": exercise.course,
        "variant": localize(exercise_type.public_variant(variant)),
        "type_template": exercise_type.template_name,
        "attempts": attempts,
        "last": attempts[0] if attempts else None,
        "state": state,
        "best": best,
        "can_answer": not state.closed and state.attempts_left != 0,
        "show_explanation": bool(attempts) and (attempts[0].correct or state.attempts_left == 0 or state.closed),
        "is_course_teacher": role == "teacher",
        **extra,
    }


@login_required
def exercise_detail(request, exercise_id: int):
    exercise, role = exercise_get_for_user(user=request.user, exercise_id=exercise_id)
    if exercise.type == "diffusion":
        from .views_diffusion import diffusion_context

        context = diffusion_context(request, exercise, role, _exercise_context(request, exercise, role))
        return render(request, "exercises/detail_diffusion.html", context)
    if not get_type(exercise.type).instant:
        return render(request, "exercises/detail_model.html", _model_context(request, exercise, role))
    return render(request, "exercises/detail.html", _exercise_context(request, exercise, role))


@login_required
@require_POST
def exercise_answer(request, exercise_id: int):
    """Grade a browser answer. HTMX gets the answer panel back; plain posts are redirected."""
    exercise, role = exercise_get_for_user(user=request.user, exercise_id=exercise_id)
    error = None
    status = 200
    try:
        variant = variant_generate(exercise=exercise, user_id=request.user.pk)
        answer = get_type(exercise.type).answer_from_form(variant, request.POST)
        attempt_submit(exercise=exercise, user=request.user, answer=answer)
    except AnswerError as exc:
        error = localize(exc.message)
        status = 422
    except AttemptRefused as exc:
        error = exc.message
        status = exc.status
    return form_result(request, error=error, status=status, template="exercises/partials/answer_panel.html",
                       context=lambda: _exercise_context(request, exercise, role),
                       fallback=redirect("exercises:detail", exercise_id=exercise.pk))


@login_required
def my_results(request):
    return render(request, "exercises/my_results.html", {"courses": results_for_user(user=request.user), "now": timezone.now()})


__all__ = ["exercise_detail", "exercise_answer", "my_results"]


# --- model submissions ------------------------------------------------------------------------
from django.http import FileResponse, Http404, HttpResponse  # noqa: E402
from django.views.decorators.http import require_GET  # noqa: E402

from .models import Submission  # noqa: E402
from .submissions import (  # noqa: E402
    SubmissionRefused,
    leaderboard,
    private_split_visible,
    submission_create,
    submission_get_for_user,
    submission_position,
)


def _teaches(user, exercise) -> bool:
    from courses.selectors import course_role

    return course_role(user=user, course=exercise.course) == "teacher"


def _model_context(request, exercise, role, **extra):
    context = _exercise_context(request, exercise, role, **extra)
    context["submissions"] = list(Submission.objects.filter(exercise=exercise, user=request.user)[:20])
    context["reveal_private"] = private_split_visible(exercise=exercise, viewer=request.user)
    return context


@login_required
@require_POST
def submission_upload(request, exercise_id: int):
    exercise, role = exercise_get_for_user(user=request.user, exercise_id=exercise_id)
    if exercise.type != "model":
        raise Http404
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
                       context=lambda: _model_context(request, exercise, role),
                       fallback=redirect("exercises:detail", exercise_id=exercise.pk))


@login_required
@require_GET
def submission_status(request, submission_id: int):
    """The live status of one submission (polled by HTMX while it is queued or running)."""
    submission = submission_get_for_user(user=request.user, submission_id=submission_id)
    return render(
        request,
        "exercises/partials/submission.html",
        {
            "s": submission,
            "position": submission_position(submission=submission),
            "reveal_private": private_split_visible(exercise=submission.exercise, viewer=request.user),
            "grades_hidden": grades_hidden(exercise=submission.exercise) and submission.user_id == request.user.pk
            and not _teaches(request.user, submission.exercise),
        },
    )


@login_required
@require_GET
def submission_confusion(request, submission_id: int):
    """The confusion matrix picture: only through this authenticated view, never a public URL."""
    submission = submission_get_for_user(user=request.user, submission_id=submission_id)
    path = Path(submission.file.path)
    png = path.with_name(path.stem + "-confusion.png")
    if not png.is_file():
        raise Http404
    return private_png(open(png, "rb"), filename=f"confusion-{submission.pk}.png")


@login_required
def exercise_leaderboard(request, exercise_id: int):
    exercise, _role = exercise_get_for_user(user=request.user, exercise_id=exercise_id)
    if exercise.type != "model":
        raise Http404
    reveal = private_split_visible(exercise=exercise, viewer=request.user)
    return render(
        request,
        "exercises/leaderboard.html",
        {"exercise": exercise, "course": exercise.course, "rows": leaderboard(exercise=exercise, reveal_private=reveal), "reveal_private": reveal},
    )


@login_required
def starter_notebook(request, exercise_id: int):
    """A notebook that loads the training set, trains a small CNN and submits it with a token."""
    from .notebooks import starter_notebook_json

    exercise, _role = exercise_get_for_user(user=request.user, exercise_id=exercise_id)
    if exercise.type != "model":
        raise Http404
    body = starter_notebook_json(exercise=exercise, base_url=request.build_absolute_uri("/").rstrip("/"))
    response = HttpResponse(body, content_type="application/x-ipynb+json")
    response["Content-Disposition"] = f'attachment; filename="{exercise.slug}-starter.ipynb"'
    return response


@login_required
def backbone_download(request, exercise_id: int):
    from grader.backbone import BACKBONES

    from .types.model import model_params

    exercise, _role = exercise_get_for_user(user=request.user, exercise_id=exercise_id)
    name = model_params(exercise.params).get("backbone") if exercise.type == "model" else None
    if not name or name not in BACKBONES:
        raise Http404
    return FileResponse(open(BACKBONES[name], "rb"), as_attachment=True, filename=f"{name}.keras",
                        content_type="application/octet-stream")


@login_required
@require_POST
def hidden_test_set_upload_view(request, exercise_id: int):
    """A teacher of the course replaces the hidden test set of a model exercise."""
    from django.contrib import messages

    from grader.datasets import TestSetError

    from .submissions import hidden_test_set_upload

    exercise, role = exercise_get_for_user(user=request.user, exercise_id=exercise_id)
    if role != "teacher" or exercise.type != "model":
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
