"""Thin tasks: they take ids, fetch rows and call services."""
from __future__ import annotations

import os
import platform
import socket

from celery import shared_task


@shared_task(name="stride.ping", queue="default")
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


@shared_task(name="stride.models.grade_submission", queue="gpu", acks_late=True, reject_on_worker_lost=True)
def grade_submission(submission_id: int) -> dict:
    """Grade one uploaded model. Idempotent: a row another worker holds is skipped."""
    from celery.exceptions import SoftTimeLimitExceeded

    from exercises.submissions import submission_fail_after_time_limit, submission_grade

    try:
        outcome = submission_grade(submission_id=submission_id)
    except SoftTimeLimitExceeded:
        submission_fail_after_time_limit(submission_id=submission_id)
        return {"submission_id": submission_id, "status": "failed", "reason": "time limit"}
    return {"submission_id": submission_id, "status": str(outcome.status), "reason": outcome.reason}


@shared_task(name="stride.sweep_submissions", queue="default")
def sweep_submissions() -> dict:
    """Put stuck submissions back in the queue (Celery beat runs it every 30 s)."""
    from exercises.submissions import submissions_sweep

    return submissions_sweep()


@shared_task(name="stride.diffusion.generate", queue="gpu", acks_late=True, reject_on_worker_lost=True)
def generate(generation_id: int) -> dict:
    """Run a batch of queued generations that starts with this one (see exercises.generations).

    At the soft time limit the batch's rows are failed with a clear message (``_give_back``)."""
    from celery.exceptions import SoftTimeLimitExceeded

    from exercises.generations import generations_run

    try:
        return {"generation_id": generation_id, **generations_run(generation_id=generation_id)}
    except SoftTimeLimitExceeded:
        return {"generation_id": generation_id, "status": "failed", "reason": "time limit"}


@shared_task(name="stride.sweep_generations", queue="default")
def sweep_generations() -> dict:
    """Put stuck generations back in the queue (Celery beat runs it every 30 s)."""
    from exercises.generations import generations_sweep

    return generations_sweep()
