from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from config.i18n import localize
from grader.result import AnswerError

from .selectors import attempt_list, exercise_get_for_user, results_for_user
from .services import AttemptRefused, attempt_submit, policy_state
from .types import get_type
from .variants import variant_generate


def _exercise_context(request, exercise, role, **extra):
    exercise_type = get_type(exercise.type)
    variant = variant_generate(exercise=exercise, user_id=request.user.pk)
    attempts = list(attempt_list(exercise=exercise, user=request.user))
    state = policy_state(exercise=exercise, attempts_used=len(attempts), now=timezone.now())
    best = max((a.score for a in attempts), default=None)
    return {
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
    if not request.headers.get("HX-Request"):
        if error:
            from django.contrib import messages

            messages.error(request, error)
        return redirect("exercises:detail", exercise_id=exercise.pk)
    context = _exercise_context(request, exercise, role, error=error)
    # HTMX swaps only 2xx responses by default; the error is shown in the panel with a 200.
    response = render(request, "exercises/partials/answer_panel.html", context)
    response["X-Stride-Status"] = str(status)
    return response


@login_required
def my_results(request):
    return render(request, "exercises/my_results.html", {"courses": results_for_user(user=request.user), "now": timezone.now()})


__all__ = ["exercise_detail", "exercise_answer", "my_results"]
