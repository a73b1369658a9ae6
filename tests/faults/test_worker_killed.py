"""Workers killed with SIGKILL in the middle of grading a model (issue #7, "Worker killed").

Each trial uploads a model whose prediction takes a couple of seconds, waits until the
sandbox child holds it, and kills one of:

- the **pool process** that runs the task: Celery replaces it and redelivers the message
  (``reject_on_worker_lost``), which finds the row claimed and skips it; the row stays
  ``running`` until the sweeper sees it stale and puts it back; the new pool process grades it;
- the worker's **main process**: its pool process dies with it (Celery gives it a parent-death
  signal), and so do the forkserver and the sandbox child; the message stays unacknowledged in
  Redis until the visibility timeout (an hour). A new worker is started and the sweeper puts
  the row back; the claim token would keep any late survivor from saving a second grade;
- the **sandbox child** only: the worker survives and reports the model as killed (a
  SIGKILL there is what the kernel's OOM killer does), a terminal ``failed`` with that reason.

Results asserted over all trials: no submission lost (each ends ``done``, or ``failed`` with a
reason), none graded twice (exactly one Attempt per ``done`` row), and tries capped:
``test_tries_are_capped`` kills the same submission's worker MAX_TRIES times and the sweeper
then fails it with a clear message, after which nothing picks it up again.
"""
from __future__ import annotations

import os
import random
import re
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from tests.factories import student
from tests.faults.support import alive, report, sized, stop_group, wait_until, worker_tree

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.keras]

TRIALS = sized(3, 20)  # per kind of kill
KINDS = ("pool", "main", "sandbox")
TERMINAL = ("done", "failed", "rejected")


@pytest.fixture
def grading(transactional_db, settings):
    from exercises.models import Exercise

    call_command("load_course", verbosity=0)
    exercise = Exercise.objects.get(slug="model-shapes-classifier")
    # Many trials by one student: lift the daily quota, not the point here.
    exercise.params = {**exercise.params, "submissions_per_day": 1000}
    exercise.save(update_fields=["params"])
    settings.STRIDE_JOB_STALE_SECONDS = 3600  # only the test decides when a row is stale
    return exercise, student(exercise.course, username="killed")


def _row(pk):
    from exercises.models import Submission

    return Submission.objects.get(pk=pk)


def _submit(exercise, user, path: Path):
    from exercises.submissions.services import submission_create

    sub = submission_create(exercise=exercise, user=user, upload=SimpleUploadedFile("model.keras", path.read_bytes()))
    assert sub.status == "queued", sub.feedback
    return sub


def _in_sandbox(proc, pk, timeout: float = 120):
    """Wait until the sandbox child is predicting this submission; its worker's process tree."""
    def busy():
        row = _row(pk)
        if row.status in TERMINAL:
            raise AssertionError(f"submission {pk} finished ({row.status}) before it could be interrupted: "
                                 f"{row.feedback}\n{proc.log_path.read_text()[-2000:]}")
        if proc.poll() is not None:
            raise AssertionError(f"the worker died on its own:\n{proc.log_path.read_text()[-3000:]}")
        tree = worker_tree(proc.pid)
        return tree if row.status == "running" and tree.sandbox else None

    try:
        return wait_until(busy, timeout=timeout, interval=0.02, what=f"submission {pk} in the sandbox")
    except TimeoutError:
        row = _row(pk)
        raise AssertionError(f"submission {pk} never reached the sandbox: {row.status}, tries {row.tries}, "
                             f"progress {row.progress}; {worker_tree(proc.pid)}\n"
                             f"{proc.log_path.read_text()[-3000:]}") from None


def _terminal(pk, timeout: float = 120, logs=()):
    def done():
        row = _row(pk)
        return row if row.status in TERMINAL else None

    try:
        return wait_until(done, timeout=timeout, interval=0.1, what=f"submission {pk} graded")
    except TimeoutError:
        tails = "\n".join(Path(p).read_text()[-2000:] for p in logs)
        raise AssertionError(f"submission {pk} stuck as {_row(pk).status}\n{tails}") from None


def _sweep_stale(settings) -> dict:
    """One sweep that treats every running row as stale (its worker was just killed)."""
    from exercises.submissions.services import submissions_sweep

    settings.STRIDE_JOB_STALE_SECONDS = 0
    try:
        return submissions_sweep()
    finally:
        settings.STRIDE_JOB_STALE_SECONDS = 3600


def _gone(*pids: int, timeout: float = 15) -> None:
    wait_until(lambda: not any(alive(pid) for pid in pids), timeout=timeout,
               what=f"processes {pids} gone with their parent")


def _new_pool(proc, old_pool: int, timeout: float = 60) -> int:
    return wait_until(lambda: (p := worker_tree(proc.pid).pool) not in (None, old_pool) and p,
                      timeout=timeout, what="the worker's replacement pool process")


def _attempts(exercise, user, pk) -> int:
    from exercises.models import Attempt

    return Attempt.objects.filter(exercise=exercise, user=user, answer={"submission_id": pk}).count()


def test_kill_9_in_the_middle_of_grading(own_redis, worker_factory, grading, model_files, settings):
    exercise, user = grading
    rng = random.Random(7)
    worker = worker_factory(own_redis.url)
    orphans = []  # groups of killed main processes, stopped for good at the end of the trial
    outcomes: dict[str, Counter] = {kind: Counter() for kind in KINDS}
    timings: dict[str, list[float]] = {kind: [] for kind in KINDS}
    subs: dict[int, str] = {}
    started = time.monotonic()

    for _trial in range(TRIALS):
        for kind in KINDS:
            t0 = time.monotonic()
            sub = _submit(exercise, user, model_files["slow"])
            subs[sub.pk] = kind
            tree = _in_sandbox(worker, sub.pk)
            time.sleep(rng.uniform(0, 0.3))  # anywhere in the first part of the prediction
            if kind == "pool":
                os.kill(tree.pool, signal.SIGKILL)
                _gone(tree.pool, tree.sandbox)
                row = _row(sub.pk)
                assert (row.status, row.tries) == ("running", 1), "the killed grade must not be saved"
                _new_pool(worker, tree.pool)
                assert _sweep_stale(settings)["requeued"] == 1
            elif kind == "main":
                os.kill(worker.pid, signal.SIGKILL)
                worker.wait(10)
                _gone(tree.pool, tree.sandbox)  # nothing keeps grading behind the dead worker
                orphans.append(worker)
                worker = worker_factory(own_redis.url)
                assert (_row(sub.pk).status, _row(sub.pk).tries) == ("running", 1)
                assert _sweep_stale(settings)["requeued"] == 1
            else:
                os.kill(tree.sandbox, signal.SIGKILL)
            row = _terminal(sub.pk, logs=[p.log_path for p in worker_factory.started])
            for orphan in orphans:
                stop_group(orphan)
            orphans.clear()
            outcomes[kind][f"{row.status} after {row.tries} tr{'y' if row.tries == 1 else 'ies'}"] += 1
            timings[kind].append(time.monotonic() - t0)
            if kind == "sandbox":
                # The worker survives, and says what happened to the model.
                assert worker.poll() is None and alive(tree.pool)
                assert (row.status, row.tries) == ("failed", 1), row.feedback
                assert "killed" in row.feedback["en"], row.feedback
                assert _attempts(exercise, user, sub.pk) == 0
            else:
                assert row.status == "done", (kind, row.feedback)
                assert row.tries == 2, (kind, row.tries)  # the killed try, then the one that graded
                assert _attempts(exercise, user, sub.pk) == 1, f"{kind}: graded more than once"

    # Over all trials: nothing lost, nothing graded twice.
    from exercises.models import Attempt, Submission

    rows = Submission.objects.filter(pk__in=subs)
    assert rows.count() == len(subs) == TRIALS * len(KINDS)
    assert not rows.exclude(status__in=TERMINAL).exists(), "a submission was lost"
    done = rows.filter(status="done")
    assert Attempt.objects.filter(exercise=exercise, user=user).count() == done.count()
    graded = sorted(done.values_list("attempt__answer__submission_id", flat=True))
    assert graded == sorted(done.values_list("pk", flat=True))
    received = Counter()
    for proc in worker_factory.started:
        for match in re.finditer(r"stride\.models\.grade_submission\[[^\]]+\] received", proc.log_path.read_text()):
            received[match.group(0)] += 1
    messages = sum(received.values())
    # At most: the upload's message, Celery's redelivery when the pool died, the sweeper's.
    assert messages <= 3 * len(subs), messages
    for kind in KINDS:
        report(f"worker killed ({kind}): {TRIALS} trials, outcomes {dict(outcomes[kind])}, "
               f"seconds per trial min/mean/max {min(timings[kind]):.1f}/{sum(timings[kind]) / TRIALS:.1f}/"
               f"{max(timings[kind]):.1f}")
    report(f"worker killed: {len(subs)} submissions, 0 lost, {done.count()} graded once each, "
           f"{messages} task deliveries, {len(worker_factory.started)} workers started, "
           f"{time.monotonic() - started:.0f}s")


def test_tries_are_capped(own_redis, worker_factory, grading, model_files, settings):
    """The same submission loses its worker MAX_TRIES times: it then fails, with a clear message,
    and is never sent again."""
    from exercises.jobs import MAX_TRIES
    from exercises.submissions.services import submissions_sweep

    exercise, user = grading
    worker = worker_factory(own_redis.url)
    sub = _submit(exercise, user, model_files["slow"])
    for k in range(1, MAX_TRIES + 1):
        tree = _in_sandbox(worker, sub.pk)
        os.kill(tree.pool, signal.SIGKILL)
        _gone(tree.pool, tree.sandbox)
        assert (_row(sub.pk).status, _row(sub.pk).tries) == ("running", k)
        _new_pool(worker, tree.pool)
        counts = _sweep_stale(settings)
        assert counts == ({"resent": 0, "requeued": 1, "failed": 0} if k < MAX_TRIES
                          else {"resent": 0, "requeued": 0, "failed": 1}), (k, counts)
    row = _row(sub.pk)
    assert (row.status, row.tries) == ("failed", MAX_TRIES)
    assert f"interrupted {MAX_TRIES} times" in row.feedback["en"] and row.feedback["fr"]
    # Nothing brings it back: Celery's own redelivery of the last message finds it failed.
    time.sleep(sized(2, 10))
    assert (_row(sub.pk).status, _row(sub.pk).tries) == ("failed", MAX_TRIES)
    settings.STRIDE_JOB_STALE_SECONDS = 0
    assert submissions_sweep() == {"resent": 0, "requeued": 0, "failed": 0}
    assert _attempts(exercise, user, sub.pk) == 0
    report(f"tries capped: {MAX_TRIES} kills of the same grade, then failed: {row.feedback['en']!r}")
