"""Throughput of the instant-answer endpoint against two baselines, side by side in one run.

Everything goes through the full Django stack in-process (django.test.Client: middleware, auth,
sessions), on the database the environment names:

- the **bare** JSON view (``GET /healthz``, no database);
- the **minimal** write view (``bench.minimal``, mounted by ``bench.settings`` only): a Bearer
  token checked with one indexed query, then the student's row locked and an attempt inserted
  in the real table, in one transaction: the least a correct answer must do;
- the **answer** (``POST /api/v1/exercises/{id}/attempts`` with a Bearer token) for one exercise
  of each instant type: access, variant, grading, policy, the attempt, the feedback.

For each type the three run one after the other (``--rounds`` times, alternated), and the
ratios answer/minimal and answer/bare are the medians of the rounds' ratios. The query counts
of each endpoint (steady state) are printed too: they do not depend on the machine's load.

    .venv/bin/python -m bench.instant_answer [--seconds 2 --rounds 3]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    for entry in (str(ROOT), str(ROOT / "platform")):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"  # the product's URLs and bench.minimal
    os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver,localhost,127.0.0.1"
    if "DATABASE_URL" not in os.environ:
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("load_course", verbosity=0)


def rate(fn, seconds: float) -> float:
    """Calls per second over a fixed duration (after a short warm-up)."""
    for _ in range(5):
        fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - start)


def queries_of(fn) -> int:
    """SQL statements of one call, BEGIN/COMMIT/SAVEPOINT left out."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        fn()
    return sum(1 for q in ctx.captured_queries
               if q["sql"].split()[0].upper() not in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))


def student_client(username: str):
    """A new student of the built-in course, their raw API token and a test client that sends
    it: (course, user, token, client). Django must be set up."""
    from django.test import Client

    from accounts.roles import Role
    from accounts.services import api_token_create, user_create
    from courses.models import Course
    from courses.services import enrollment_add

    course = Course.objects.get(slug="cnn-diffusion")
    user, _ = user_create(username=username, role=Role.STUDENT, password="bench-password")
    enrollment_add(course=course, user=user, role=Role.STUDENT)
    _token, raw = api_token_create(user=user, name="bench")
    return course, user, raw, Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def main(argv: list[str] | None = None) -> dict:
    import statistics

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per endpoint and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    setup_django()
    from bench.minimal import MINIMAL_URL
    from exercises.models import Exercise

    course, user, raw, client = student_client(f"bench-{os.getpid()}")

    def bare():
        assert client.get("/healthz").status_code == 200

    results: dict = {}
    queries = {"GET /healthz": queries_of(bare)}
    for slug, answer in [
        ("output-size-224-chain", {"shape": [13, 13, 64]}),
        ("param-count-12mpx-dense", {"value": 3_600_000_100}),
        ("kernel-reconstruct-blur", {"kernel": [[0.1] * 3] * 3}),
        ("quiz-parameters-location", {"choices": ["b"]}),
    ]:
        exercise = Exercise.objects.get(course=course, slug=slug)
        exercise.max_attempts = None  # unlimited, so the benchmark never hits the policy
        exercise.save()
        url = f"/api/v1/exercises/{exercise.pk}/attempts"
        minimal_url = "/" + MINIMAL_URL.format(exercise_id=exercise.pk)
        body = {"answer": answer}

        def post():
            response = client.post(url, body, content_type="application/json")
            assert response.status_code == 200, response.content

        def minimal():
            response = client.post(minimal_url, body, content_type="application/json")
            assert response.status_code == 200, response.content

        def read():
            assert client.get(f"/api/v1/exercises/{exercise.pk}").status_code == 200

        for name, fn in (("minimal write view", minimal), (f"{exercise.type} answer", post),
                         (f"{exercise.type} exercise read", read)):
            fn()
            queries[name] = queries_of(fn)
        rounds = []
        for _ in range(args.rounds):
            rounds.append({"bare": rate(bare, args.seconds), "minimal": rate(minimal, args.seconds),
                           "answer": rate(post, args.seconds)})
        results[f"{exercise.type}: answer / minimal (ratio, goal ≥ 0.5)"] = statistics.median(r["answer"] / r["minimal"] for r in rounds)
        results[f"{exercise.type}: answer / bare (ratio; its goal is on gunicorn: bench.load)"] = statistics.median(r["answer"] / r["bare"] for r in rounds)
        results[f"{exercise.type}: minimal / bare (ratio)"] = statistics.median(r["minimal"] / r["bare"] for r in rounds)
        results[f"{exercise.type}: answer (req/s)"] = statistics.median(r["answer"] for r in rounds)
        results[f"{exercise.type}: minimal (req/s)"] = statistics.median(r["minimal"] for r in rounds)
        results[f"{exercise.type}: bare (req/s)"] = statistics.median(r["bare"] for r in rounds)
    for name, value in results.items():
        print(f"{name:45s} {value:10.3f}")
    print("\nSQL queries per request (steady state, BEGIN/COMMIT left out):")
    for name, n in queries.items():
        print(f"  {name:43s} {n:3d}")
        results[f"queries: {name}"] = n
    return results


if __name__ == "__main__":
    main()
