"""A worker killed with SIGKILL in the middle of grading loses nothing: the sweeper puts the
row back, another worker grades it once, and tries are capped."""
from __future__ import annotations

import os
import signal
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from tests.factories import student
from tests.test_model_submissions import trained_model

pytestmark = [pytest.mark.worker, pytest.mark.keras]


def _status(pk):
    from exercises.models import Submission

    return Submission.objects.get(pk=pk)


def test_kill_9_mid_grade_then_the_sweeper_recovers(live_worker, settings, tmp_path):
    import numpy as np

    from exercises.models import Attempt, Exercise
    from exercises.submissions import MAX_TRIES, submission_create, submissions_sweep, training_set_path
    from tests.procs import celery_worker, stop
    from tests.conftest import database_url_of_test_db

    call_command("load_course", verbosity=0)
    exercise = Exercise.objects.get(slug="model-shapes-classifier")
    with np.load(training_set_path(exercise=exercise), allow_pickle=False) as data:
        model_path = trained_model(tmp_path, data["x"][:600], data["y"][:600], num_classes=int(data["y"].max()) + 1)
    user = student(exercise.course, username="killed")

    killed = None
    for trial in range(5):  # grading is quick: catch one in the act
        sub = submission_create(exercise=exercise, user=user, upload=SimpleUploadedFile("m.keras", model_path.read_bytes()))
        deadline = time.monotonic() + 60
        while _status(sub.pk).status == "queued" and time.monotonic() < deadline:
            time.sleep(0.01)
        if _status(sub.pk).status == "running":
            os.killpg(live_worker.pid, signal.SIGKILL)
            live_worker.wait(10)
            if _status(sub.pk).status == "running":
                killed = sub
                break
        if live_worker.poll() is not None:
            pytest.fail("the worker died before a grade could be interrupted")
    assert killed is not None, "never caught a submission while it was running"

    # The row is stuck in running, with one try counted; nothing else will pick it up...
    assert _status(killed.pk).tries == 1
    # ...until the sweeper sees it is stale and sends it again, to a new worker.
    settings.STRIDE_SUBMISSION_STALE_SECONDS = 0
    counts = submissions_sweep()
    assert counts["requeued"] == 1
    with celery_worker(broker_url=settings.CELERY_BROKER_URL, var_dir=settings.VAR_DIR,
                       database_url=database_url_of_test_db(), log=tmp_path / "worker2.log",
                       DJANGO_MEDIA_ROOT=str(settings.MEDIA_ROOT)) as second:
        deadline = time.monotonic() + 90
        while _status(killed.pk).status in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.1)
        final = _status(killed.pk)
        assert final.status == "done", (tmp_path / "worker2.log").read_text()[-3000:]
        assert final.tries == 2
        # Graded once: one attempt for this submission, however many messages were sent.
        assert Attempt.objects.filter(exercise=exercise, user=user, answer={"submission_id": killed.pk}).count() == 1
        stop(second)

    # Tries are capped: a row that keeps losing its worker ends failed, with a clear reason.
    from exercises.models import Submission

    Submission.objects.filter(pk=killed.pk).update(status="running", tries=MAX_TRIES, claim_token=None)
    submissions_sweep()
    capped = _status(killed.pk)
    assert capped.status == "failed"
    assert "interrupted" in capped.feedback["en"]
