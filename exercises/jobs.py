"""What model submissions and diffusion generations share: rows that a worker grades.

Such a row moves through ``queued → running → done | failed`` and carries ``tries``,
``claim_token``, ``enqueued_at`` and ``started_at``. The sweeper below is what makes
"nothing accepted is lost" true when the broker loses a message or a worker dies.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Model, Q
from django.utils import timezone

log = logging.getLogger(__name__)


def stale_after() -> timedelta:
    # A running row older than the task's hard time limit has lost its worker.
    return timedelta(seconds=getattr(settings, "STRIDE_SUBMISSION_STALE_SECONDS", settings.CELERY_TASK_TIME_LIMIT + 30))


def resend_after() -> timedelta:
    # A queued row whose message was sent this long ago may have lost it (a broker restart).
    # Long enough that a busy but healthy queue is not flooded with duplicates; a duplicate
    # is harmless anyway, since only one worker can claim a row.
    return timedelta(seconds=getattr(settings, "STRIDE_SUBMISSION_RESEND_SECONDS", 600))


def send_task(name: str, row_id: int, model: type[Model]) -> bool:
    """Send a worker task for a row. A broker that is down is not an error here: the row is
    stored, and the sweeper sends it again later."""
    from workers.celery import app

    try:
        # ignore_result: the row holds the result. Without it Celery subscribes to the task's
        # result in Redis before publishing, and with Redis down that retried for ~20 s inside
        # the web request (tests/faults/test_redis_down.py).
        app.send_task(name, args=[row_id], queue="gpu", ignore_result=True, retry=True,
                      retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2, "interval_max": 0.5})
    except Exception:  # noqa: BLE001 — any broker failure; the sweeper covers it
        log.warning("could not send %s %s to the broker; the sweeper will retry", model.__name__, row_id, exc_info=True)
        return False
    model.objects.filter(pk=row_id).update(enqueued_at=timezone.now())
    return True


def sweep(*, model: type[Model], enqueue: Callable[[int], bool], max_tries: int, exhausted: dict,
          now: datetime | None = None) -> dict[str, int]:
    """Put stuck rows back in the queue, and fail those out of tries with ``exhausted``.

    - ``running`` for longer than the hard time limit: its worker died. Back to ``queued``
      (the claim token is cleared, so the dead worker could not save a result any more), or
      ``failed`` once it has used ``max_tries``.
    - ``queued`` and never sent, or sent long ago: the message may be lost; send it again.
    """
    now = now or timezone.now()
    Status = model.Status
    counts = {"resent": 0, "requeued": 0, "failed": 0}
    for row in model.objects.filter(status=Status.RUNNING, started_at__lt=now - stale_after()):
        held = model.objects.filter(pk=row.pk, status=Status.RUNNING, claim_token=row.claim_token)
        if row.tries >= max_tries:
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


def tries_exhausted(max_tries: int, what_fr: str, what_en: str) -> dict:
    return {
        "fr": f"Le travail a été interrompu {max_tries} fois (par exemple, un worker arrêté) : {what_fr} est marquée en "
              "échec. Recommencez ou prévenez votre enseignant.",
        "en": f"The work was interrupted {max_tries} times (for example, a worker was stopped): {what_en} is marked as "
              "failed. Try again or tell your teacher.",
    }
