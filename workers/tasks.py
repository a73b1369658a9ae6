"""Thin tasks: they take ids, fetch rows and call services of ``exercises``.

Each task's name is its dotted path (``workers.tasks.grade_submission``), written once, in
``exercises.jobs``, which sends them by that name. The names of before (``stride.*``) stay
registered as aliases, so messages queued by an older release are still run after an upgrade.
"""
from __future__ import annotations

import logging
import os
import platform
import socket

from celery import shared_task

from exercises.jobs import (
    GENERATE_TASK,
    GRADE_SUBMISSION_TASK,
    INTEGRITY_TASK,
    PING_TASK,
    SWEEP_GENERATIONS_TASK,
    SWEEP_SUBMISSIONS_TASK,
)

# The queue of each task is set by name in workers.celery's task_routes (Celery deprecates a
# queue on the task itself); the gpu tasks ack late, so a killed worker's task is redelivered.
GPU = {"acks_late": True, "reject_on_worker_lost": True}
DEFAULT: dict = {}
log = logging.getLogger(__name__)


@shared_task(name=PING_TASK, **DEFAULT)
def ping(payload: str = "ping") -> dict:
    """The round trip through the broker and a real worker; also reports the worker's view of
    ``platform`` so a test can prove it is the standard library there too."""
    return {
        "pong": payload,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "platform_module": getattr(platform, "__file__", ""),
        "python": platform.python_version(),
    }


@shared_task(name=GRADE_SUBMISSION_TASK, **GPU)
def grade_submission(submission_id: int) -> dict:
    """Grade one uploaded model in the sandbox. Idempotent: a row another worker holds is skipped."""
    from celery.exceptions import SoftTimeLimitExceeded

    from exercises.submissions.services import (
        submission_fail_after_time_limit,
        submission_fail_grader_unavailable,
        submission_grade,
    )
    from workers.devices import sandbox_device
    from workers.sandbox import SandboxUnavailable, run_model_in_sandbox

    _sandbox_spares_for_queue()
    try:
        outcome = submission_grade(submission_id=submission_id, run_model=run_model_in_sandbox, device=sandbox_device())
    except SoftTimeLimitExceeded:
        submission_fail_after_time_limit(submission_id=submission_id)
        return {"submission_id": submission_id, "status": "failed", "reason": "time limit"}
    except SandboxUnavailable as exc:
        submission_fail_grader_unavailable(submission_id=submission_id, reason=str(exc))
        return {"submission_id": submission_id, "status": "failed", "reason": f"sandbox unavailable: {exc}"}
    return {"submission_id": submission_id, "status": str(outcome.status), "reason": outcome.reason}


def _sandbox_spares_for_queue() -> None:
    """As many warm sandbox children as submissions wait (this one included), up to
    STRIDE_SANDBOX_SPARES_MAX: back to back, each job then finds one ready (issue #17)."""
    from django.conf import settings

    from exercises.submissions.selectors import submission_queue_length
    from workers.sandbox import sandbox_keep_warm

    try:
        sandbox_keep_warm(min(max(1, settings.STRIDE_SANDBOX_SPARES_MAX), max(1, submission_queue_length())))
    except Exception:  # a spare is a speed-up: grading goes on without it
        log.exception("sandbox: could not size the spares from the queue")


@shared_task(name=SWEEP_SUBMISSIONS_TASK, **DEFAULT)
def sweep_submissions() -> dict:
    """Put stuck submissions back in the queue (Celery beat runs it every 30 s)."""
    from exercises.submissions.services import submissions_sweep

    return submissions_sweep()


@shared_task(name=GENERATE_TASK, **GPU)
def generate(generation_id: int) -> dict:
    """Run a batch of queued generations that starts with this one (``exercises.lab.services``),
    on this process's diffusion pipeline.

    At the soft time limit the batch's rows are failed with a clear message."""
    from celery.exceptions import SoftTimeLimitExceeded

    from exercises.lab.services import generations_run
    from grader.diffusion.pipeline import get_pipeline
    from workers.devices import backend_device, keras_backend

    try:
        pipeline = get_pipeline()
        return {"generation_id": generation_id, "backend": keras_backend(),
                **generations_run(generation_id=generation_id, pipeline=pipeline, device=backend_device())}
    except SoftTimeLimitExceeded:
        return {"generation_id": generation_id, "status": "failed", "reason": "time limit"}


@shared_task(name=SWEEP_GENERATIONS_TASK, **DEFAULT)
def sweep_generations() -> dict:
    """Put stuck generations back in the queue (Celery beat runs it every 30 s)."""
    from exercises.lab.services import generations_sweep

    return generations_sweep()


@shared_task(name=INTEGRITY_TASK, **DEFAULT)
def integrity_refresh(exercise_id: int) -> dict:
    """Recompute an exercise's integrity report (copied models, shared generation recipes)
    after a grading: on the default queue, never in the web process."""
    from exercises.submissions.integrity import exercise_integrity_refresh

    return exercise_integrity_refresh(exercise_id=exercise_id)


@shared_task(name="workers.tasks.lti_score_send", bind=True, max_retries=None, **DEFAULT)
def lti_score_send(self, sync_id: int) -> dict:
    """Send one student's score to an LMS (AGS). The LMS down or refusing: again later, after
    STRIDE_LTI_RETRY_SECONDS doubled at each try, up to STRIDE_LTI_MAX_TRIES, then the row is
    marked failed for the teacher to resend."""
    from django.conf import settings

    from lti.services import ScoreSendError, score_send, score_send_failed

    try:
        return {"sync_id": sync_id, "status": str(score_send(sync_id=sync_id))}
    except ScoreSendError as exc:
        if self.request.retries + 1 >= settings.STRIDE_LTI_MAX_TRIES:
            score_send_failed(sync_id=sync_id, reason=str(exc))
            return {"sync_id": sync_id, "status": "failed", "reason": str(exc)}
        countdown = min(3600.0, settings.STRIDE_LTI_RETRY_SECONDS * 2 ** self.request.retries)
        raise self.retry(exc=exc, countdown=countdown)


@shared_task(name="workers.tasks.lti_scores_sweep", **DEFAULT)
def lti_scores_sweep() -> dict:
    """Send the scores held until their release date once it has come (beat, every minute)."""
    from lti.services import scores_sweep

    return scores_sweep()


@shared_task(name="workers.tasks.lti_roster_sync", **DEFAULT)
def lti_roster_sync(link_id: int) -> dict:
    """Bring a course's enrolments in line with its LMS's roster (NRPS)."""
    from lti.services import ScoreSendError, roster_sync

    try:
        return roster_sync(link_id=link_id)
    except ScoreSendError as exc:
        return {"link_id": link_id, "status": "failed", "reason": str(exc)}


# The names of before the rename: a message already queued under one of them during an
# upgrade runs the same task. (New messages use the dotted paths above.)
LEGACY_NAMES = {
    "stride.ping": (ping, DEFAULT),
    "stride.models.grade_submission": (grade_submission, GPU),
    "stride.sweep_submissions": (sweep_submissions, DEFAULT),
    "stride.diffusion.generate": (generate, GPU),
    "stride.sweep_generations": (sweep_generations, DEFAULT),
}
for _old_name, (_task, _options) in LEGACY_NAMES.items():
    shared_task(name=_old_name, **_options)(_task.run)
