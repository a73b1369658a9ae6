"""Gradebook cost as the class grows: N students × 40 exercises, N = 75, 150, 300, 600.

Times ``gradebook_rows`` and the whole gradebook page (django.test.Client as the teacher:
middleware, auth, template) on a temporary SQLite database unless DATABASE_URL names one,
and prints the time per student relative to N = 75: linear cost keeps the ratios near 1.

    .venv/bin/python -m bench.gradebook [--repeat 3] [--sizes 75 150 300 600]
"""
from __future__ import annotations

import argparse
import time

from bench.instant_answer import setup_django

EXERCISES = 40
ATTEMPTS = 2  # per student and exercise


def best_of(fn, repeat: int) -> float:
    fn()  # warm-up (template loading, caches)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def build(n: int):
    from django.contrib.auth import get_user_model

    from accounts.roles import Role
    from accounts.services import user_create
    from courses.models import Course, Enrollment
    from exercises.models import Attempt, Exercise

    course = Course.objects.create(slug=f"bench-{n}", title_i18n={"fr": f"Bench {n}", "en": f"Bench {n}"}, language="fr")
    exercises = Exercise.objects.bulk_create([
        Exercise(course=course, slug=f"e{i}", type="mcq", position=i, title_i18n={"fr": f"E{i}", "en": f"E{i}"}, params={})
        for i in range(EXERCISES)
    ])
    User = get_user_model()
    User.objects.bulk_create([User(username=f"b{n}-{i}", last_name=f"L{i:04d}") for i in range(n)])
    users = list(User.objects.filter(username__startswith=f"b{n}-"))
    Enrollment.objects.bulk_create([Enrollment(course=course, user=u, role=Enrollment.Role.STUDENT) for u in users])
    Attempt.objects.bulk_create(
        [
            Attempt(exercise=e, user=u, number=k, answer={"choices": ["a"]}, raw_score=(i + j + k) % 5 / 4,
                    score=(i + j + k) % 5 / 4, late=(i + j) % 17 == 0, feedback={"fr": "f", "en": "f"})
            for i, u in enumerate(users) for j, e in enumerate(exercises) for k in range(1, ATTEMPTS + 1)
        ],
        batch_size=2000,
    )
    teacher, _ = user_create(username=f"bench-teacher-{n}", role=Role.TEACHER, password="bench-password")
    Enrollment.objects.create(course=course, user=teacher, role=Enrollment.Role.TEACHER)
    return course, teacher


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[75, 150, 300, 600])
    args = parser.parse_args(argv)
    setup_django()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from gradebook.selectors import gradebook_rows

    results = []
    for n in args.sizes:
        course, teacher = build(n)
        client = Client()
        client.force_login(teacher)
        url = reverse("gradebook:course", args=[course.slug])

        def page():
            response = client.get(url)
            assert response.status_code == 200

        rows_s = best_of(lambda: gradebook_rows(course=course), args.repeat)
        page_s = best_of(page, args.repeat)
        with CaptureQueriesContext(connection) as ctx:
            page()
        results.append({"n": n, "rows_s": rows_s, "page_s": page_s, "queries": len(ctx.captured_queries)})

    base = results[0]
    print(f"{EXERCISES} exercises, {ATTEMPTS} attempts per cell, best of {args.repeat}; {connection.vendor}")
    print(f"{'N':>5} {'rows ms':>9} {'rows/student':>13} {'page ms':>9} {'page/student':>13} {'queries':>8}")
    for r in results:
        rows_ratio = (r["rows_s"] / r["n"]) / (base["rows_s"] / base["n"])
        page_ratio = (r["page_s"] / r["n"]) / (base["page_s"] / base["n"])
        print(f"{r['n']:>5} {r['rows_s'] * 1000:>9.1f} {rows_ratio:>12.2f}× {r['page_s'] * 1000:>9.1f} {page_ratio:>12.2f}× {r['queries']:>8}")
    return results


if __name__ == "__main__":
    main()
