"""The per-student device budget of a course (issue #13): worker time (device-seconds) that
gradings and generations used in the last 24 hours. Over budget is a clear 429 that queues
nothing; the page and the API show what is left and the estimated wait."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from exercises.jobs import device_budget_for
from exercises.models import Exercise, Generation, Submission
from tests.factories import logged_in, student

pytestmark = pytest.mark.django_db
GEN = {"prompt": "banane verte", "steps": 20, "seed": 7, "guidance": 3.0}


@pytest.fixture
def course():
    call_command("load_course", verbosity=0)
    return Exercise.objects.get(slug="model-shapes-classifier").course


def _done_generation(course, user, seconds: float, *, hours_ago: float = 1) -> Generation:
    at = timezone.now() - timedelta(hours=hours_ago)
    return Generation.objects.create(course=course, user=user, prompt="pomme rouge", steps=10, seed=1, guidance=3,
                                     status=Generation.Status.DONE, queued_at=at, finished_at=at, device="gpu:0",
                                     device_seconds=seconds)


def _post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_over_budget_is_a_clear_429_for_generations_and_models_and_nothing_is_queued(course, settings):
    ana = student(course, username="ana")
    client = logged_in(ana)
    course.device_seconds_per_day = 60
    course.save()
    _done_generation(course, ana, 45.0)
    _done_generation(course, ana, 20.0)
    _done_generation(course, ana, 500.0, hours_ago=30)  # out of the 24-hour window: not counted

    budget = client.get(f"/api/v1/courses/{course.slug}/device-budget").json()
    assert budget["device_seconds_per_day"] == 60 and budget["used"] == 65.0 and budget["left"] == 0

    before = (Generation.objects.count(), Submission.objects.count())
    refused = _post(client, f"/api/v1/courses/{course.slug}/generations", GEN)
    assert refused.status_code == 429 and "60" in refused.json()["detail"], refused.content
    model = Exercise.objects.get(slug="model-shapes-classifier")
    upload = client.post(f"/api/v1/exercises/{model.pk}/submissions",
                         {"file": SimpleUploadedFile("m.keras", b"PK\x03\x04 not a model")})
    assert upload.status_code == 429 and "60" in upload.json()["detail"], upload.content
    assert (Generation.objects.count(), Submission.objects.count()) == before

    # Another student of the same course has their own budget.
    bob = logged_in(student(course, username="bob"))
    assert _post(bob, f"/api/v1/courses/{course.slug}/generations", GEN).status_code == 202

    # The page says so before the student tries.
    page = client.get(f"/courses/{course.slug}/lab/").content.decode()
    assert 'id="device-budget"' in page and "60" in page


def test_no_limit_by_default_and_the_site_default_applies_when_the_course_sets_none(course, settings):
    ana = student(course, username="ana")
    _done_generation(course, ana, 1000.0)
    client = logged_in(ana)
    assert course.device_seconds_per_day is None and settings.STRIDE_DEVICE_SECONDS_PER_DAY == 0
    body = client.get(f"/api/v1/courses/{course.slug}/device-budget").json()
    assert body["device_seconds_per_day"] == 0 and body["left"] is None and body["used"] == 1000.0
    assert _post(client, f"/api/v1/courses/{course.slug}/generations", GEN).status_code == 202

    settings.STRIDE_DEVICE_SECONDS_PER_DAY = 900
    assert device_budget_for(user=ana, course=course).exhausted
    assert _post(client, f"/api/v1/courses/{course.slug}/generations", GEN).status_code == 429
    course.device_seconds_per_day = 0  # the course lifts the site's limit
    course.save()
    assert _post(client, f"/api/v1/courses/{course.slug}/generations", GEN).status_code == 202


def test_the_estimated_wait_is_the_queue_times_the_measured_job_times(course):
    ana = student(course, username="ana")
    for seconds in (1.0, 2.0, 3.0):
        _done_generation(course, ana, seconds)
    for seed in range(4):
        Generation.objects.create(course=course, user=ana, prompt="pomme rouge", steps=10, seed=seed, guidance=3)
    budget = device_budget_for(user=ana, course=course)
    assert budget.queued == 4 and budget.estimated_wait_seconds == pytest.approx(4 * 2.0)


def test_a_course_folder_carries_its_budget_and_refuses_a_bad_one(course, tmp_path):
    from exercises.authoring.course_files import CourseFileError, course_export, course_load

    course.device_seconds_per_day = 1800
    course.save()
    course_export(course=course, path=tmp_path / "c")
    course.device_seconds_per_day = None
    course.save()
    course_load(path=tmp_path / "c")
    course.refresh_from_db()
    assert course.device_seconds_per_day == 1800
    meta = (tmp_path / "c" / "course.yaml").read_text().replace("device_seconds_per_day: 1800", "device_seconds_per_day: -5")
    (tmp_path / "c" / "course.yaml").write_text(meta)
    with pytest.raises(CourseFileError, match="device_seconds_per_day"):
        course_load(path=tmp_path / "c")
    course.refresh_from_db()
    assert course.device_seconds_per_day == 1800
