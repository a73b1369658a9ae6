"""Daily limits hold under concurrency, against a live server.

25 uploads of one student are released at the same moment (a barrier) against a limit of 10:
each is a real HTTP request to a threaded live server, each request thread has its own
database connection, and the slow part of an upload (storing, hashing, the intake checks) runs
in parallel. Exactly 10 are accepted, the 15 others are a clear 429, and no refused file is
left on disk. The same for diffusion generations. Before the lock, 25 uploads got 13 accepted.
"""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection

from exercises.models import Exercise, Generation, Submission
from tests.factories import PASSWORD, CourseFactory, student

N_REQUESTS = 25
LIMIT = 10


def race(task, n: int = N_REQUESTS) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def body(i):
        try:
            barrier.wait(timeout=30)
            results[i] = task(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertions
            results[i] = ("crash", repr(exc))

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    return results


def bearer(live_server, user) -> dict:
    token = requests.post(f"{live_server.url}/api/v1/auth/token", json={"username": user.username, "password": PASSWORD},
                          timeout=30).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def settle(results, retry):
    """A 409 means "try again" (SQLite's busy timeout ran out): retried one at a time, as a client would."""
    settled = []
    for i, result in enumerate(results):
        while result[0] == 409:
            result = retry(i)
        settled.append(result)
    return settled


@pytest.fixture
def racer(transactional_db):
    course = CourseFactory(slug="quota-race")
    return course, student(course, username="racer")


def test_25_parallel_uploads_against_a_limit_of_10_accept_exactly_10(live_server, racer, tmp_path):
    from grader.tests.test_intake import write_archive

    course, user = racer
    exercise = Exercise.objects.create(course=course, slug="race-model", type="model", title_i18n={"fr": "M", "en": "M"},
                                       params={"dataset": "shapes32", "submissions_per_day": LIMIT})
    model = write_archive(tmp_path / "model.keras").read_bytes()
    headers = bearer(live_server, user)
    url = f"{live_server.url}/api/v1/exercises/{exercise.pk}/submissions"

    def upload(i):
        response = requests.post(url, headers=headers, files={"file": (f"model-{i}.keras", model)}, timeout=120)
        return response.status_code, response.json()

    results = settle(race(upload), upload)

    assert not [r for r in results if r[0] == "crash"], results
    statuses = sorted(status for status, _body in results)
    assert statuses.count(202) == LIMIT and statuses.count(429) == N_REQUESTS - LIMIT, results
    assert all(body["status"] == "queued" for status, body in results if status == 202), results
    assert all("10" in body["detail"] for status, body in results if status == 429), results
    accepted = Submission.objects.filter(exercise=exercise, user=user)
    assert accepted.count() == LIMIT and set(accepted.values_list("status", flat=True)) == {"queued"}
    # Every refused upload was removed: only the accepted files are in the student's folder.
    folder = Path(settings.MEDIA_ROOT) / "submissions" / str(user.pk)
    assert {p.name for p in folder.iterdir()} == {Path(s.file.name).name for s in accepted}
    # The 11th, sent alone once the race is over, is still refused.
    status, body = upload(99)
    assert status == 429, body


def test_25_parallel_generations_against_a_limit_of_10_accept_exactly_10(live_server, racer):
    course, user = racer
    exercise = Exercise.objects.create(course=course, slug="race-gen", type="diffusion", title_i18n={"fr": "G", "en": "G"},
                                       params={"mode": "target", "targets": ["banane verte"],
                                               "generations_per_day": LIMIT})
    headers = bearer(live_server, user)
    url = f"{live_server.url}/api/v1/exercises/{exercise.pk}/generations"

    def generate(i):
        response = requests.post(url, headers=headers, timeout=60,
                                 json={"prompt": "banane verte", "steps": 10, "seed": i, "guidance": 3.0})
        return response.status_code, response.json()

    results = settle(race(generate), generate)

    assert not [r for r in results if r[0] == "crash"], results
    statuses = sorted(status for status, _body in results)
    assert statuses.count(202) == LIMIT and statuses.count(429) == N_REQUESTS - LIMIT, results
    assert Generation.objects.filter(exercise=exercise, user=user).count() == LIMIT
    if connection.vendor == "postgresql":
        assert 409 not in statuses  # the row lock waits: nobody is told to try again
