"""Writes of the diffusion lab (DESIGN.md, "How data flows").

1. The web side checks the prompt and the settings (a bad one is a clear 4xx and is never
   queued), stores a ``queued`` row and sends the task after commit.
2. A worker claims that row **and** the other queued rows with the same number of steps (up
   to ``STRIDE_DIFFUSION_BATCH``), atomically: a conditional UPDATE, so no row is ever claimed
   twice. It runs them as one batch (one forward pass per step) on the pipeline the task passes
   in, saves each picture under its student's folder, and grades those that answer an exercise
   with the judging classifier.
3. The sweeper of ``exercises.jobs`` recovers rows whose message or worker was lost.
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from config.i18n import localize
from exercises.engine.policy import AttemptRefused, due_at_for, policy_state, score_after_penalties
from exercises.engine.services import RegradeReport, ScoreChange, attempt_record_graded
from exercises.engine.variants import variant_generate
from exercises.jobs import (
    GENERATE_TASK,
    INTEGRITY_TASK,
    MAX_TRIES,
    QuotaBusy,
    device_budget_for,
    device_budget_refusal,
    finish,
    quota_lock,
    send_light_task,
    send_task,
    sweep,
    tries_exhausted,
)
from exercises.models import Attempt, Exercise, Generation
from exercises.types import GENERATION, get_type, grading_of
from exercises.types.diffusion import diffusion_params
from grader.diffusion import schedule, vocab
from grader.diffusion.samples import Request, png_bytes, strip
from grader.diffusion.scoring import describe
from grader.result import i18n

log = logging.getLogger(__name__)
Status = Generation.Status

MAX_SEED = 2**31 - 1


class GenerationRefused(AttemptRefused):
    pass


@dataclass(frozen=True)
class GenerationSettings:
    prompt: str
    steps: int
    seed: int
    guidance: float


def generation_settings_check(*, prompt, steps, seed, guidance) -> GenerationSettings:
    """The checked settings of a generation, or ``GenerationRefused`` (422) saying what is wrong."""
    try:
        checked = vocab.parse_prompt(prompt)
    except vocab.PromptError as exc:
        raise GenerationRefused(localize(exc.message), 422) from None
    if checked.fruit is None or checked.colour is None:
        # The model was trained on fruit-and-colour captions only: anything else is noise.
        fruits = ", ".join(name for name, *_rest in vocab.FRUITS)
        colours = ", ".join(name for name, *_rest in vocab.COLOURS)
        missing = _("a fruit") if checked.fruit is None else _("a colour")
        raise GenerationRefused(_("The prompt must name a fruit and a colour (it lacks %(missing)s), for example "
                                  "“pomme rouge”. Fruits: %(fruits)s. Colours: %(colours)s.")
                                % {"missing": missing, "fruits": fruits, "colours": colours}, 422)
    if isinstance(steps, bool) or not isinstance(steps, int) or not schedule.MIN_STEPS <= steps <= schedule.MAX_STEPS:
        raise GenerationRefused(_("The number of steps must be a whole number from %(lo)s to %(hi)s.")
                                % {"lo": schedule.MIN_STEPS, "hi": schedule.MAX_STEPS}, 422)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise GenerationRefused(_("The seed must be a whole number from 0 to %(hi)s.") % {"hi": MAX_SEED}, 422)
    if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or not (
            schedule.MIN_GUIDANCE <= float(guidance) <= schedule.MAX_GUIDANCE):
        raise GenerationRefused(_("The guidance must be a number from %(lo)s to %(hi)s.")
                                % {"lo": f"{schedule.MIN_GUIDANCE:g}", "hi": f"{schedule.MAX_GUIDANCE:g}"}, 422)
    return GenerationSettings(prompt=checked.text, steps=steps, seed=seed, guidance=round(float(guidance), 3))


def _lab_per_day() -> int:
    return settings.STRIDE_LAB_GENERATIONS_PER_DAY


def generation_create(*, user, course, exercise: Exercise | None = None, prompt, steps, seed, guidance,
                      now: datetime | None = None) -> Generation:
    """Check and queue one generation, for an exercise or (``exercise=None``) the course's free lab."""
    now = now or timezone.now()
    checked = generation_settings_check(prompt=prompt, steps=steps, seed=seed, guidance=guidance)
    late = False
    if exercise is not None and grading_of(exercise) != GENERATION:
        raise GenerationRefused(_("This exercise does not take generations."), 400)
    try:
        # The counts and the new row are one serialised step per student (exercises.jobs.quota_lock):
        # N parallel requests against a limit of L accept exactly L.
        with quota_lock(user_id=user.pk):
            if exercise is not None:
                late = _refuse_exercise_generation(exercise=exercise, user=user, now=now)
            elif _recent(user=user, now=now).filter(exercise__isnull=True).count() >= _lab_per_day():
                raise GenerationRefused(_("You have used your %(n)s lab generations of the last 24 hours. Try again "
                                          "later.") % {"n": _lab_per_day()}, 429)
            budget = device_budget_for(user=user, course=course, now=now)
            if budget.exhausted:
                raise GenerationRefused(device_budget_refusal(budget), 429)
            generation = Generation.objects.create(
                course=course, exercise=exercise, user=user, prompt=checked.prompt, steps=checked.steps,
                seed=checked.seed, guidance=checked.guidance, late=late, queued_at=now,
            )
            transaction.on_commit(lambda: generation_enqueue(generation_id=generation.pk))
    except QuotaBusy as exc:
        raise GenerationRefused(exc.message, exc.status) from exc
    return generation


def _recent(*, user, now: datetime):
    return Generation.objects.filter(user=user, queued_at__gte=now - timedelta(days=1)).exclude(status=Status.FAILED)


def _refuse_exercise_generation(*, exercise: Exercise, user, now: datetime) -> bool:
    """Refuse a generation the exercise's policy or daily limit does not allow; whether it is late."""
    mine = Generation.objects.filter(exercise=exercise, user=user).exclude(status=Status.FAILED)
    state = policy_state(exercise=exercise, attempts_used=mine.count(), now=now,
                         due_at=due_at_for(exercise=exercise, user=user))
    if state.closed:
        raise GenerationRefused(_("The due date has passed and this exercise is closed."))
    if state.attempts_left == 0:
        raise GenerationRefused(_("You have used all your attempts."))
    per_day = diffusion_params(exercise.params)["generations_per_day"]
    if _recent(user=user, now=now).filter(exercise=exercise).count() >= per_day:
        raise GenerationRefused(_("You have used your %(n)s generations of the last 24 hours for this exercise. "
                                  "Try again later.") % {"n": per_day}, 429)
    return state.late


def generation_enqueue(*, generation_id: int) -> bool:
    return send_task(GENERATE_TASK, generation_id, Generation)


# --- the worker side ------------------------------------------------------------------------
def _batch_limit() -> int:
    return max(1, settings.STRIDE_DIFFUSION_BATCH)


def generations_claim_batch(*, generation_id: int, token: uuid.UUID, now: datetime) -> list[Generation]:
    """Claim this row and other queued rows of the same step count, oldest first.

    One conditional UPDATE claims them: a row another worker claimed first is no longer
    ``queued`` and is left alone, so no generation runs twice at once.
    """
    first = Generation.objects.filter(pk=generation_id, status=Status.QUEUED).values_list("steps", flat=True).first()
    if first is None:
        return []
    others = (Generation.objects.filter(status=Status.QUEUED, steps=first).exclude(pk=generation_id)
              .order_by("queued_at", "pk").values_list("pk", flat=True)[: _batch_limit() - 1])
    Generation.objects.filter(pk__in=[generation_id, *others], status=Status.QUEUED).update(
        status=Status.RUNNING, claim_token=token, started_at=now, tries=F("tries") + 1, progress=2)
    return list(Generation.objects.filter(claim_token=token).select_related("exercise", "user").order_by("queued_at", "pk"))


def _finish(generation: Generation, token: uuid.UUID, **fields) -> bool:
    """Save a result only if this worker still holds the claim; a graded one is recorded as an attempt."""
    def record() -> None:
        attempt = attempt_record_graded(
            exercise=generation.exercise, user=generation.user, answer={"generation_id": generation.pk},
            raw_score=fields["score"], feedback=fields["feedback"], late=generation.late,
            received_at=generation.queued_at, details={"recognition": fields["recognition"]})
        Generation.objects.filter(pk=generation.pk).update(attempt=attempt)
        # The exercise's integrity report (same prompt and seed by several students), on the default queue.
        transaction.on_commit(lambda: send_light_task(INTEGRITY_TASK, generation.exercise_id))

    graded = fields.get("status") == Status.DONE and fields.get("score") is not None
    return finish(generation, token, on_done=record if graded else None, **fields)


def _grade(generation: Generation, recognition: dict) -> tuple[float | None, dict]:
    """The score and feedback of a generation: graded against its exercise's target, or (lab)
    the classifier's reading alone."""
    if generation.exercise is not None and grading_of(generation.exercise) == GENERATION:
        variant = variant_generate(exercise=generation.exercise, user_id=generation.user_id)
        result = get_type(generation.exercise.type).grade_generation(variant, recognition=recognition,
                                                                    steps=generation.steps)
        return result.score, result.feedback
    return None, describe(recognition)


def generations_run(*, generation_id: int, pipeline, device: str = "cpu") -> dict:
    """Claim a batch that starts with this generation, generate it on ``pipeline`` (the worker's
    ``grader.diffusion.pipeline.Pipeline``, passed in by the task), save and grade each row.

    ``device`` is where the pipeline computes (``cpu``, ``gpu:0``); each row is charged its
    share of the batch's time on it (the per-student device budget counts these)."""

    token = uuid.uuid4()
    now = timezone.now()
    rows = generations_claim_batch(generation_id=generation_id, token=token, now=now)
    if not rows:
        return {"status": "skipped", "reason": "not queued (already claimed, done or unknown)"}
    runnable = []
    for row in rows:
        if row.tries > MAX_TRIES:
            _finish(row, token, status=Status.FAILED, feedback=_tries_exhausted())
            continue
        try:
            vocab.parse_prompt(row.prompt)
        except vocab.PromptError as exc:  # the vocabulary changed since it was queued
            _finish(row, token, status=Status.FAILED, feedback=exc.message)
            continue
        runnable.append(row)
    if not runnable:
        return {"status": "failed", "batch": 0}
    steps = runnable[0].steps
    pks = [row.pk for row in runnable]
    last = [0.0]

    def on_step(done: int, total: int) -> None:
        if time.monotonic() - last[0] >= 0.4 or done == total:
            last[0] = time.monotonic()
            Generation.objects.filter(pk__in=pks, claim_token=token).update(progress=5 + int(90 * done / total))

    started = time.monotonic()
    try:
        results = pipeline.generate([Request(row.prompt, row.seed, row.guidance) for row in runnable], steps,
                                          on_step=on_step)
    except Exception as exc:
        _give_back(runnable, token, exc)
        raise
    seconds = round(time.monotonic() - started, 3)
    for row, result in zip(runnable, results):
        name = uuid.uuid4().hex
        image = ContentFile(png_bytes(result.image), name=f"{name}.png")
        trajectory = ContentFile(png_bytes(strip(result.x_t)), name=f"{name}-trajectory.png")
        predictions = ContentFile(png_bytes(strip(result.x0)), name=f"{name}-x0.png")
        score, feedback = _grade(row, result.recognition)
        row.image.save(image.name, image, save=False)
        row.trajectory.save(trajectory.name, trajectory, save=False)
        row.predictions.save(predictions.name, predictions, save=False)
        _finish(row, token, status=Status.DONE, image=row.image.name, trajectory=row.trajectory.name,
                predictions=row.predictions.name, trajectory_steps=result.steps_kept, recognition=result.recognition,
                batch_size=len(runnable), seconds=seconds, score=score, feedback=feedback,
                device=device, device_seconds=round(seconds / len(runnable), 3))
    return {"status": "done", "batch": len(runnable), "steps": steps, "seconds": seconds, "device": device}


def _give_back(rows: list[Generation], token: uuid.UUID, exc: Exception) -> None:
    """After an error in the batch: each row goes back to the queue, or fails once out of tries
    (or at the time limit, which another try would hit again)."""
    from celery.exceptions import SoftTimeLimitExceeded

    log.exception("generation batch %s failed", [row.pk for row in rows])
    for row in rows:
        if isinstance(exc, SoftTimeLimitExceeded):
            _finish(row, token, status=Status.FAILED, feedback=_time_limit())
        elif row.tries >= MAX_TRIES:
            _finish(row, token, status=Status.FAILED, feedback=_tries_exhausted())
        elif Generation.objects.filter(pk=row.pk, claim_token=token).update(status=Status.QUEUED, claim_token=None,
                                                                             progress=0):
            transaction.on_commit(lambda pk=row.pk: generation_enqueue(generation_id=pk))


def _time_limit() -> dict:
    return i18n("La génération a dépassé le temps permis.", "The generation took longer than allowed.")


def _tries_exhausted() -> dict:
    return tries_exhausted("la génération", "the generation")


def generations_sweep(*, now: datetime | None = None) -> dict[str, int]:
    return sweep(model=Generation, enqueue=lambda pk: generation_enqueue(generation_id=pk),
                 exhausted=_tries_exhausted(), now=now)


def generations_regrade(*, exercise: Exercise, dry_run: bool = False) -> RegradeReport:
    """Score every done generation again from what the classifier saw (after a change of the
    target or the step thresholds): nothing is generated again. ``dry_run`` saves nothing."""
    exercise_type = get_type(exercise.type)
    total = changed = 0
    changes: list[ScoreChange] = []
    variants: dict[int, dict] = {}
    rows = Generation.objects.filter(exercise=exercise, status=Generation.Status.DONE).select_related("attempt")
    for generation in rows:
        total += 1
        variant = variants.setdefault(generation.user_id, variant_generate(exercise=exercise, user_id=generation.user_id))
        result = exercise_type.grade_generation(variant, recognition=generation.recognition, steps=generation.steps)
        if result.score != generation.score:
            changed += 1
        attempt = generation.attempt
        new = score_after_penalties(exercise=exercise, raw_score=result.score, number=1, late=generation.late)
        changes.append(ScoreChange(attempt_id=attempt.pk if attempt else None, user_id=generation.user_id,
                                   old=attempt.score if attempt else generation.score, new=new))
        if dry_run:
            continue
        Generation.objects.filter(pk=generation.pk).update(score=result.score, feedback=result.feedback)
        if attempt is not None:
            Attempt.objects.filter(pk=attempt.pk).update(
                raw_score=result.score, correct=result.correct, feedback=result.feedback,
                score=score_after_penalties(exercise=exercise, raw_score=result.score, number=1, late=attempt.late))
    return RegradeReport(attempts=total, changed=changed, requeued=0, changes=tuple(changes), dry_run=dry_run)
