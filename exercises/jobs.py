"""What model submissions and diffusion generations share: rows that a worker grades.

Such a row moves through ``queued → running → done | failed`` and carries ``tries``,
``claim_token``, ``enqueued_at`` and ``started_at``. Here: sending its task (by the task's
name: ``exercises`` never imports ``workers``), its place in the queue, saving a result only
while the claim holds, and the sweeper, which is what makes "nothing accepted is lost" true
when the broker loses a message or a worker dies.

The timings are settings of ``config.settings.base``: ``STRIDE_JOB_STALE_SECONDS`` and
``STRIDE_JOB_RESEND_SECONDS``.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Model, Q
from django.utils import timezone

log = logging.getLogger(__name__)

# A row's work is tried this many times (a worker killed, a lost message) before it fails.
MAX_TRIES = 3

# The tasks, by name: the name of each task is its dotted path in ``workers.tasks``, written
# here once (the tasks are declared with these constants).
GRADE_SUBMISSION_TASK = "workers.tasks.grade_submission"
GENERATE_TASK = "workers.tasks.generate"
SWEEP_SUBMISSIONS_TASK = "workers.tasks.sweep_submissions"
SWEEP_GENERATIONS_TASK = "workers.tasks.sweep_generations"
PING_TASK = "workers.tasks.ping"
INTEGRITY_TASK = "workers.tasks.integrity_refresh"


def stale_after() -> timedelta:
    """A running row older than this has lost its worker (the task's hard time limit, and a margin)."""
    return timedelta(seconds=settings.STRIDE_JOB_STALE_SECONDS)


def resend_after() -> timedelta:
    """A queued row whose message was sent this long ago may have lost it (a broker restart).
    Long enough that a busy but healthy queue is not flooded with duplicates; a duplicate is
    harmless anyway, since only one worker can claim a row."""
    return timedelta(seconds=settings.STRIDE_JOB_RESEND_SECONDS)


def send_task(name: str, row_id: int, model: type[Model]) -> bool:
    """Send a worker task for a row. A broker that is down is not an error here: the row is
    stored, and the sweeper sends it again later."""
    from celery import current_app  # Stride's app, made current by config's ready()

    try:
        # ignore_result: the row holds the result. Without it Celery subscribes to the task's
        # result in Redis before publishing, and with Redis down that retried for ~20 s inside
        # the web request (tests/faults/test_redis_down.py).
        current_app.send_task(name, args=[row_id], queue="gpu", ignore_result=True, retry=True,
                              retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2,
                                            "interval_max": 0.5})
    except Exception:
        log.warning("could not send %s %s to the broker; the sweeper will retry", model.__name__, row_id, exc_info=True)
        return False
    model.objects.filter(pk=row_id).update(enqueued_at=timezone.now())
    return True


def send_light_task(name: str, *args) -> bool:
    """Send a task of the ``default`` queue (light work, never the web side's): a broker that is
    down only delays it, like any report that the next grading recomputes."""
    from celery import current_app

    try:
        current_app.send_task(name, args=list(args), queue="default", ignore_result=True, retry=True,
                              retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2,
                                            "interval_max": 0.5})
    except Exception:
        log.warning("could not send %s%s to the broker", name, args, exc_info=True)
        return False
    return True


def queue_position(row) -> int | None:
    """1 for the next row of its kind to run; None once it has left the queue."""
    model = type(row)
    if row.status != model.Status.QUEUED:
        return None
    return model.objects.filter(status=model.Status.QUEUED).filter(
        Q(queued_at__lt=row.queued_at) | Q(queued_at=row.queued_at, pk__lt=row.pk)
    ).count() + 1


def finish(row, token: uuid.UUID, *, on_done: Callable[[], None] | None = None, **fields) -> bool:
    """Save a result only if this worker still holds the claim (never grade twice); ``on_done``
    runs in the same transaction once it is saved (recording the attempt)."""
    fields.setdefault("finished_at", timezone.now())
    fields.setdefault("progress", 100)
    with transaction.atomic():
        saved = type(row).objects.filter(pk=row.pk, claim_token=token).update(**fields)
        if saved and on_done is not None:
            on_done()
    return bool(saved)


def sweep(*, model: type[Model], enqueue: Callable[[int], bool], exhausted: dict,
          now: datetime | None = None) -> dict[str, int]:
    """Put stuck rows back in the queue, and fail those out of tries with ``exhausted``.

    - ``running`` for longer than the hard time limit: its worker died. Back to ``queued``
      (the claim token is cleared, so the dead worker could not save a result any more), or
      ``failed`` once it has used ``MAX_TRIES``.
    - ``queued`` and never sent, or sent long ago: the message may be lost; send it again.
    """
    now = now or timezone.now()
    Status = model.Status
    counts = {"resent": 0, "requeued": 0, "failed": 0}
    for row in model.objects.filter(status=Status.RUNNING, started_at__lt=now - stale_after()):
        held = model.objects.filter(pk=row.pk, status=Status.RUNNING, claim_token=row.claim_token)
        if row.tries >= MAX_TRIES:
            counts["failed"] += held.update(status=Status.FAILED, finished_at=now, progress=100, feedback=exhausted,
                                            claim_token=None)
        elif held.update(status=Status.QUEUED, claim_token=None, progress=0):
            counts["requeued"] += 1
            enqueue(row.pk)
    lost = model.objects.filter(status=Status.QUEUED).filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - resend_after()))
    for row_id in lost.values_list("pk", flat=True):
        if enqueue(row_id):
            counts["resent"] += 1
    return counts


def tries_exhausted(what_fr: str, what_en: str) -> dict:
    return {
        "fr": f"Le travail a été interrompu {MAX_TRIES} fois (par exemple, un worker arrêté) : {what_fr} est marquée en "
              "échec. Recommencez ou prévenez votre enseignant.",
        "en": f"The work was interrupted {MAX_TRIES} times (for example, a worker was stopped): {what_en} is marked as "
              "failed. Try again or tell your teacher.",
    }
