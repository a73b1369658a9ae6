"""The three grading kinds, wired to the subpackages that implement them.

A type declares its kind (``ExerciseType.grading``); this is the one place that maps a kind to
its exercise page and its regrade, so no code elsewhere asks for a type by its name:

- ``instant``: graded in the request (``exercises.engine``);
- ``upload``: a Keras model that a worker grades in a sandbox (``exercises.submissions``);
- ``generation``: a diffusion run that a worker makes and the classifier judges (``exercises.lab``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth.decorators import login_required

from .engine import views as engine_views
from .engine.selectors import exercise_get_for_user
from .engine.services import RegradeReport, attempts_regrade
from .lab import services as lab_services
from .lab import views as lab_views
from .models import Exercise
from .submissions import services as submission_services
from .submissions import views as submission_views
from .types import GENERATION, INSTANT, UPLOAD, grading_of


@dataclass(frozen=True)
class Kind:
    page: Callable  # (request, exercise, role) -> the exercise's page
    regrade: Callable[..., RegradeReport]  # (exercise=, dry_run=) -> what changed (or would)


KINDS: dict[str, Kind] = {
    INSTANT: Kind(page=engine_views.instant_page, regrade=attempts_regrade),
    UPLOAD: Kind(page=submission_views.model_page, regrade=submission_services.submissions_regrade),
    GENERATION: Kind(page=lab_views.diffusion_page, regrade=lab_services.generations_regrade),
}


@login_required
def exercise_detail(request, exercise_id: int):
    """The page of an exercise, whatever its type: the page of its grading kind."""
    exercise, role = exercise_get_for_user(user=request.user, exercise_id=exercise_id)
    return KINDS[grading_of(exercise)].page(request, exercise, role)


def exercise_regrade(*, exercise: Exercise, dry_run: bool = False) -> RegradeReport:
    """Grade an exercise's work again with its current key, grader or hidden set (after a fix):
    instant attempts at once, model submissions through the queue, generations from what the
    classifier saw (nothing is generated again). ``dry_run`` reports what would change and
    saves nothing: the preview a teacher confirms."""
    return KINDS[grading_of(exercise)].regrade(exercise=exercise, dry_run=dry_run)
