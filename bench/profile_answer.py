"""Where the web CPU of an instant answer goes: cProfile on the CPU clock over N answers, in process.

The answers go through the whole Django stack (django.test.Client with a Bearer token, every
middleware, ninja, the ORM, PostgreSQL when DATABASE_URL names it), as in ``bench.instant_answer``;
the report groups the CPU time by layer; ``--html`` adds pyinstrument's wall-clock tree.

    .venv/bin/python -m bench.profile_answer [--answers 300] [--html var/bench/profile.html]
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from pathlib import Path

# A frame's file tells its layer (first match wins, from the innermost frame out).
LAYERS = [
    ("database driver and SQL (psycopg, sqlite3)", ("psycopg", "sqlite3")),
    ("ORM: query compilation and model instances", ("django/db/",)),
    ("ninja: parsing, validation, response", ("ninja/", "pydantic")),
    ("grading and the variant (grader, exercises.types)", ("/grader/", "exercises/types/", "numpy")),
    ("Stride's own code (engine, accounts, courses)", ("exercises/", "accounts/", "courses/", "config/")),
    ("i18n (translation)", ("django/utils/translation", "gettext")),
    ("middleware, request and response (Django core)", ("django/",)),
    ("the test client", ("django/test/",)),
]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=300)
    parser.add_argument("--top", type=int, default=0, help="also print the N functions of most own CPU")
    parser.add_argument("--html", default=None, help="also write pyinstrument's HTML report there")
    args = parser.parse_args(argv)
    from bench.instant_answer import setup_django, student_client

    setup_django()
    from exercises.models import Exercise

    course, user, raw, client = student_client(f"profile-{time.time_ns()}")
    exercise = Exercise.objects.get(course=course, slug="quiz-parameters-location")
    Exercise.objects.filter(pk=exercise.pk).update(max_attempts=None)
    url = f"/api/v1/exercises/{exercise.pk}/attempts"

    def answer():
        response = client.post(url, {"answer": {"choices": ["b"]}}, content_type="application/json")
        assert response.status_code == 200, response.content

    for _ in range(20):
        answer()
    # cProfile on the process's CPU clock: what the web process spends, not the waits on
    # PostgreSQL or on the other processes of a busy machine.
    profile = cProfile.Profile(time.process_time)
    cpu = time.process_time()
    profile.enable()
    for _ in range(args.answers):
        answer()
    profile.disable()
    cpu = time.process_time() - cpu
    totals: dict[str, float] = dict.fromkeys([name for name, _ in LAYERS], 0.0)
    totals["other"] = 0.0

    def layer(path: str) -> str:
        return next((name for name, needles in LAYERS if any(n in path for n in needles)), "other")

    for (path, _line, _name), (_cc, _nc, own, _ct, callers) in pstats.Stats(profile).stats.items():
        if path != "~":
            totals[layer(path)] += own
        else:  # a built-in: its time counts for the Python functions that called it
            for (caller_path, _l, _n), caller in callers.items():
                totals[layer(caller_path)] += caller[2]
    whole = sum(totals.values()) or 1.0
    result = {"answers": args.answers, "process CPU per answer (ms)": 1000 * cpu / args.answers}
    print(f"{args.answers} answers, {1000 * cpu / args.answers:.2f} ms of process CPU each under cProfile "
          "(test client included; the profiler itself adds to every figure alike)")
    for name, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        share = seconds / whole
        result[f"share: {name}"] = share
        print(f"  {100 * share:5.1f} %  {name}")
    top = pstats.Stats(profile)
    top.sort_stats("tottime")
    if args.top:
        top.print_stats(args.top)
    if args.html:  # pyinstrument's wall-clock tree, to read by hand
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
        for _ in range(min(args.answers, 100)):
            answer()
        profiler.stop()
        Path(args.html).parent.mkdir(parents=True, exist_ok=True)
        Path(args.html).write_text(profiler.output_html())
    return result


if __name__ == "__main__":
    main()
