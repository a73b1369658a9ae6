"""Throughput of the instant-answer endpoint against a bare Django JSON view, in one run.

Both go through the full Django stack in-process (django.test.Client: middleware, auth,
sessions), on the database the environment names, so the ratio shows what grading an
answer and recording the attempt cost on top of Django itself.

    .venv/bin/python -m bench.instant_answer [--seconds 5]
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
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
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


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    setup_django()
    from django.test import Client

    from accounts.roles import Role
    from accounts.services import user_create
    from courses.models import Course
    from courses.services import enrollment_add
    from exercises.models import Exercise

    course = Course.objects.get(slug="cnn-diffusion")
    user, _ = user_create(username=f"bench-{os.getpid()}", role=Role.STUDENT, password="bench-password")
    enrollment_add(course=course, user=user, role=Role.STUDENT)
    client = Client()
    client.force_login(user)
    results = {}
    baseline = rate(lambda: client.get("/healthz"), args.seconds)
    results["bare JSON view (req/s)"] = baseline
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
        body = {"answer": answer}

        def post():
            response = client.post(url, body, content_type="application/json")
            assert response.status_code == 200, response.content

        results[f"{exercise.type} attempt (ratio to bare view)"] = rate(post, args.seconds) / baseline
    for name, value in results.items():
        print(f"{name:45s} {value:10.3f}")
    return results


if __name__ == "__main__":
    main()
