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
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection, transaction
from django.db.models import F, Model, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

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


_SENDER: tuple[int, ThreadPoolExecutor] | None = None
_SENDER_LOCK = threading.Lock()


def _sender() -> ThreadPoolExecutor:
    """This process's few sending threads (made again after a fork: threads do not survive it)."""
    global _SENDER
    with _SENDER_LOCK:
        if _SENDER is None or _SENDER[0] != os.getpid():
            _SENDER = (os.getpid(), ThreadPoolExecutor(max_workers=4, thread_name_prefix="stride-send"))
        return _SENDER[1]


class QuotaBusy(Exception):
    """Another upload or generation of the same student held the lock for too long (SQLite's
    busy timeout ran out): a 409 "try again", never a 500, and nothing was recorded."""

    status = 409

    def __init__(self):
        self.message = _("Another request of yours was being recorded at the same moment. Please try again.")
        super().__init__(self.message)


@contextmanager
def quota_lock(*, user_id: int) -> Iterator[None]:
    """A transaction in which one student's daily count and the row it admits are serialised.

    Count the rows of the last 24 hours and create the new one inside it: two requests of the
    same student never both see "9 of 10 used". PostgreSQL: the user's row lock
    (``SELECT ... FOR UPDATE``), as ``attempt_submit`` locks the enrolment; other students are
    never blocked. SQLite has no row lock: the transaction's first statement is a write (an
    UPDATE that changes nothing), so it takes the database's write lock at once and a
    concurrent one waits for the busy timeout instead of reading a count that is about to be
    stale; a timeout that runs out is ``QuotaBusy``.
    """
    User = get_user_model()
    try:
        with transaction.atomic():
            if connection.vendor == "sqlite":
                pk = User._meta.pk.attname
                User.objects.filter(pk=user_id).update(**{pk: F(pk)})
            else:
                list(User.objects.select_for_update().filter(pk=user_id).values_list("pk", flat=True))
            yield
    except OperationalError as exc:
        if "locked" not in str(exc):
            raise
        raise QuotaBusy() from exc


def send_task(name: str, row_id: int, model: type[Model]) -> bool:
    """Send a worker task for a row. A broker that is down or frozen is not an error here: the
    row is stored, and the sweeper sends it again later.

    The send has a wall-clock deadline, ``STRIDE_BROKER_SEND_SECONDS``: the broker's socket
    timeouts bound each call, but the Redis client retries a timed-out command on its own
    (three times, with backoff), so a frozen Redis (SIGSTOP, dropped packets) could still hold
    a request for seconds (tests/faults/test_redis_frozen.py). The send runs in a sending
    thread; past the deadline the request goes on without it (a send that has not started yet
    is cancelled; one that completes late only duplicates a message, and a row is claimed once).
    """
    from celery import current_app  # Stride's app, made current by config's ready()

    app = current_app._get_current_object()  # the current app is per thread: resolve it here

    def publish() -> None:
        # ignore_result: the row holds the result. Without it Celery subscribes to the task's
        # result in Redis before publishing, and with Redis down that retried for ~20 s inside
        # the web request (tests/faults/test_redis_down.py). One try (retry=False): a row not
        # sent keeps enqueued_at empty, and the next sweep (every 30 s) sends it.
        app.send_task(name, args=[row_id], queue="gpu", ignore_result=True, retry=False)

    future = _sender().submit(publish)
    try:
        future.result(timeout=settings.STRIDE_BROKER_SEND_SECONDS)
    except FutureTimeout:
        future.cancel()
        log.warning("sending %s %s to the broker took over %ss; the sweeper will retry", model.__name__, row_id,
                    settings.STRIDE_BROKER_SEND_SECONDS)
        return False
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


# --- the per-student device budget ------------------------------------------------------------
@dataclass(frozen=True)
class DeviceBudget:
    """A student's worker time in one course over the last 24 hours (gradings and generations).

    ``limit`` 0 is no limit. ``estimated_wait_seconds`` is the work queued ahead of a new job
    (every queued submission and generation) times the mean device-seconds of recent ones."""

    limit: int
    used: float
    queued: int
    estimated_wait_seconds: float

    @property
    def left(self) -> float | None:
        return None if not self.limit else max(0.0, self.limit - self.used)

    @property
    def exhausted(self) -> bool:
        return bool(self.limit) and self.used >= self.limit


RECENT_JOBS = 50  # how many finished jobs of each kind the wait estimate averages


def _mean_device_seconds(model) -> float:
    recent = (model.objects.filter(status=model.Status.DONE, device_seconds__isnull=False)
              .order_by("-finished_at").values_list("device_seconds", flat=True)[:RECENT_JOBS])
    values = list(recent)
    return sum(values) / len(values) if values else 0.0


def device_budget_for(*, user, course, now: datetime | None = None) -> DeviceBudget:
    """The student's device budget in ``course`` now (a selector: it writes nothing)."""
    from exercises.models import Generation, Submission

    now = now or timezone.now()
    since = now - timedelta(days=1)
    limit = course.device_seconds_per_day
    if limit is None:
        limit = settings.STRIDE_DEVICE_SECONDS_PER_DAY
    used = 0.0
    for rows in (Submission.objects.filter(exercise__course=course, user=user, queued_at__gte=since),
                 Generation.objects.filter(course=course, user=user, queued_at__gte=since)):
        used += rows.aggregate(total=Sum("device_seconds"))["total"] or 0.0
    queued, wait = 0, 0.0
    for model in (Submission, Generation):
        count = model.objects.filter(status=model.Status.QUEUED).count()
        queued += count
        wait += count * _mean_device_seconds(model)
    return DeviceBudget(limit=int(limit or 0), used=round(used, 3), queued=queued, estimated_wait_seconds=round(wait, 1))


def device_budget_refusal(budget: DeviceBudget) -> str:
    """The 429's sentence when a student's device budget is spent."""
    from django.utils.translation import gettext as _

    return _("You have used your %(limit)s seconds of worker time of the last 24 hours in this course "
             "(gradings and generations). Try again later.") % {"limit": budget.limit}
