"""The wait a student reads while a model submission queues (issue #17): the queue ahead of it
and itself times the mean service time of the last gradings; nothing made up before any grading
was timed, nothing once it is graded."""
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from exercises.models import Exercise, Submission
from exercises.submissions.selectors import submission_queue_length, submission_wait_estimate
from tests.factories import student

pytestmark = pytest.mark.django_db


@pytest.fixture
def exercise():
    call_command("load_course", verbosity=0)
    return Exercise.objects.get(slug="model-shapes-classifier")


def _row(exercise, user, status, *, queued_ago=0.0, ran=None, ago=0.0):
    now = timezone.now()
    started = now - timedelta(seconds=ago + (ran or 0)) if ran is not None else None
    return Submission.objects.create(
        exercise=exercise, user=user, file="submissions/x.keras", original_name="m.keras", status=status,
        queued_at=now - timedelta(seconds=queued_ago), started_at=started,
        finished_at=now - timedelta(seconds=ago) if status == "done" else None)


def test_the_estimate_is_the_queue_ahead_times_the_mean_grading(exercise):
    user = student(exercise.course, username="waiting")
    first = _row(exercise, user, "queued", queued_ago=10)
    assert submission_wait_estimate(submission=first, position=1) is None  # no grading timed yet
    _row(exercise, user, "done", ran=2.0, ago=30)
    _row(exercise, user, "done", ran=4.0, ago=20)  # mean 3 s
    second = _row(exercise, user, "queued", queued_ago=5)
    assert submission_queue_length() == 2
    assert submission_wait_estimate(submission=first, position=1) == pytest.approx(3.0)
    assert submission_wait_estimate(submission=second, position=2) == pytest.approx(6.0)
    running = _row(exercise, user, "running", ran=1.0)
    assert submission_wait_estimate(submission=running, position=None) == pytest.approx(2.0, abs=0.2)
    done = Submission.objects.filter(status="done").first()
    assert submission_wait_estimate(submission=done, position=None) is None

    client = Client()
    client.force_login(user)
    data = client.get(f"/api/v1/submissions/{second.pk}").json()
    assert data["position"] == 2 and data["estimated_wait_seconds"] == pytest.approx(6.0)
