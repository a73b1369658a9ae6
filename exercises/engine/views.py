"""Pages of the engine: an instant exercise, the answer form's post, a student's results."""
from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from config.i18n import localize
from exercises.types import get_type
from grader.result import AnswerError

from .policy import AttemptRefused
from .responses import form_result
from .selectors import attempt_list, exercise_get_for_user, exercise_row_for_user, results_for_user
from .services import attempt_submit
from .variants import variant_generate
from .visibility import EVERYTHING, attempt_feedback


def exercise_context(request, exercise, role, **extra) -> dict:
    """What every exercise page shows: the variant, the attempts, the policy and what the
    visibility rule lets this user see of their grades and of the worked solution."""
    exercise_type = get_type(exercise.type)
    variant = variant_generate(exercise=exercise, user_id=request.user.pk)
    attempts = list(attempt_list(exercise=exercise, user=request.user))
    row = exercise_row_for_user(exercise=exercise, user=request.user)
    state = row.state
    vis = EVERYTHING if role == "teacher" else row.vis
    for attempt in attempts:
        attempt.shown_feedback = attempt_feedback(attempt, vis)
        attempt.answer_text = exercise_type.describe_answer(variant, attempt.answer)
    return {
        "vis": vis,
        "row": row,
        "grades_hidden": not vis.score,
        "exercise": exercise,
        "exercise_label": exercise_type.label,
        "course": exercise.course,
        "variant": localize(exercise_type.public_variant(variant)),
        "type_template": exercise_type.template_name,
        "attempts": attempts,
        "last": attempts[0] if attempts else None,
        "state": state,
        "best": row.best_score,
        "best_overridden": row.overridden,
        "due_at": row.due_at,
        "can_answer": not state.closed and state.attempts_left != 0,
        "show_explanation": vis.solution and (bool(attempts) or row.overridden or state.closed),
        "is_course_teacher": role == "teacher",
        # One token per render: a double click or a resent form records one attempt.
        "answer_token": uuid.uuid4().hex,
        **extra,
    }


def instant_page(request, exercise, role):
    return render(request, "exercises/detail.html", exercise_context(request, exercise, role))


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
        attempt_submit(exercise=exercise, user=request.user, answer=answer,
                       idempotency_key=request.POST.get("answer_token", "")[:100])
    except AnswerError as exc:
        error = localize(exc.message)
        status = 422
    except AttemptRefused as exc:
        error = exc.message
        status = exc.status
    return form_result(request, error=error, status=status, template="exercises/partials/answer_panel.html",
                       context=lambda: exercise_context(request, exercise, role),
                       fallback=redirect("exercises:detail", exercise_id=exercise.pk))


@login_required
def my_results(request):
    return render(request, "exercises/my_results.html", {"courses": results_for_user(user=request.user), "now": timezone.now()})
