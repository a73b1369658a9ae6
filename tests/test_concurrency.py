"""Concurrent double-submits never spend one allowance twice.

Eight threads, each with its own database connection, submit at the same moment (a
barrier). Whatever database DATABASE_URL names (PostgreSQL in CI), exactly as many attempts
as the allowance are recorded, and every other submit is refused cleanly (403 or 409).
"""
from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from django.test import Client

from exercises.models import Attempt, Exercise
from exercises.services import AttemptRefused, attempt_submit
from tests.factories import PASSWORD, CourseFactory, student

N_THREADS = 8
QUIZ = {
    "multiple": False,
    "choices": [
        {"id": "a", "text": {"fr": "Oui", "en": "Yes"}, "correct": True},
        {"id": "b", "text": {"fr": "Non", "en": "No"}, "correct": False},
    ],
}


def make_exercise(max_attempts: int) -> Exercise:
    course = CourseFactory(slug="race-course")
    return Exercise.objects.create(course=course, slug="race", type="mcq", title_i18n={"fr": "Course", "en": "Race"},
                                   params=QUIZ, max_attempts=max_attempts)


def run_together(task, n=N_THREADS) -> list:
    """Run ``task(i)`` in n threads released at the same moment; each closes its connection."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def body(i):
        try:
            barrier.wait(timeout=30)
            results[i] = task(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertions below
            results[i] = ("crash", repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=body, args=(i,), name=f"submit-{i}") for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a submit thread hung"
    return results


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("max_attempts", [1, 3])
def test_concurrent_service_submits_never_exceed_the_allowance(max_attempts):
    exercise = make_exercise(max_attempts)
    user = student(exercise.course, username="racer")

    def submit(i):
        fresh = Exercise.objects.select_related("course").get(pk=exercise.pk)
        try:
            attempt = attempt_submit(exercise=fresh, user=user, answer={"choices": ["a" if i % 2 else "b"]})
        except AttemptRefused as refused:
            return ("refused", refused.status, refused.message)
        return ("ok", attempt.number)

    results = run_together(submit)

    assert not [r for r in results if r[0] == "crash"], results
    recorded = list(Attempt.objects.filter(exercise=exercise, user=user).order_by("number"))
    assert len(recorded) == max_attempts, results
    assert [a.number for a in recorded] == list(range(1, max_attempts + 1))
    accepted = sorted(r[1] for r in results if r[0] == "ok")
    assert accepted == list(range(1, max_attempts + 1)), results
    refused = [r for r in results if r[0] == "refused"]
    assert len(refused) == N_THREADS - max_attempts, results
    assert all(status in (403, 409) and message for _kind, status, message in refused), refused


@pytest.mark.django_db(transaction=True)
def test_concurrent_api_posts_record_one_attempt_out_of_one_allowance():
    exercise = make_exercise(1)
    user = student(exercise.course, username="api-racer")
    # One Bearer token per client, obtained before the race.
    clients = []
    for _ in range(N_THREADS):
        client = Client()
        token = client.post("/api/v1/auth/token", {"username": user.username, "password": PASSWORD},
                            content_type="application/json").json()["token"]
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        clients.append(client)
    body = json.dumps({"answer": {"choices": ["a"]}})

    def post(i):
        response = clients[i].post(f"/api/v1/exercises/{exercise.pk}/attempts", data=body,
                                   content_type="application/json")
        return ("http", response.status_code, response.json())

    results = run_together(post)

    assert not [r for r in results if r[0] == "crash"], results
    statuses = sorted(r[1] for r in results)
    assert statuses.count(200) == 1, results
    assert all(status in (403, 409) for status in statuses if status != 200), results
    assert all(set(r[2]) == {"detail"} and r[2]["detail"] for r in results if r[1] != 200), results
    assert Attempt.objects.filter(exercise=exercise, user=user).count() == 1
    winner = next(r[2] for r in results if r[1] == 200)
    assert winner["attempts_left"] == 0 and winner["correct"] is True
