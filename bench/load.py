"""Load: about 100 simulated students and a teacher against a real stack, for 60 s (locust).

``bench.load`` starts its own stack on loopback and stops every process it started:

- a PostgreSQL database of its own (``stride_load``, dropped and created again; SQLite in a
  temporary folder when PostgreSQL does not answer), migrated, with the built-in course, 100
  students and a teacher;
- Redis database 7 as the broker (emptied first; the filesystem broker when Redis is down);
- gunicorn, 2 sync workers (the machine has 2 cores), ``config.settings.test`` (MD5 password
  hashing: logins do not dominate), the default ``CONN_MAX_AGE`` (0);
- a second gunicorn, identical but for ``DJANGO_CONN_MAX_AGE=60`` (persistent database
  connections), used only in the side-by-side rounds below;
- a real Celery worker (``-Q default,gpu --concurrency 1``) that grades the model submissions
  a few students uploaded (a tiny untrained CNN) while they poll them.

Then, measured in the same run:

1. **side by side** (closed loop, 8 users with no think time, rounds alternated so that the
   machine's changing load falls on each alike): the bare JSON view (``GET /healthz``), an
   exercise read with a token (``GET /api/v1/exercises/{id}``) and an instant answer
   (``POST /api/v1/exercises/{id}/attempts``), on each server; every figure is a throughput ratio
   to the bare view on the same server (the goal of issue #7 is ≥ 0.5 for the answer);
2. **mixed traffic**: 100 students log in for a token (``POST /api/v1/auth/token``), open
   exercises, answer them (60 % right; a student moves on after a right answer or the last
   attempt, as the seeded policies allow), open the course's list, poll their submission; the
   teacher logs in through the form and reads the gradebook (HTML and JSON). Think times of
   0.5–2 s between tasks. Per endpoint: requests, throughput, errors, p50/p95/p99.

Afterwards it checks in the database: **no error, and no attempt counted twice**: attempt
numbers are 1..n per (exercise, student), and the attempts recorded equal the 2xx attempt
responses locust saw, pair by pair, with the same attempt ids.

    .venv/bin/python -m bench.load            # 100 students for 60 s (about 4 minutes in all)
    .venv/bin/python -m bench.load --quick    # 20 students for 15 s
    .venv/bin/python -m bench.load --embedded # make run's stack (bin/run itself), 30 students for 60 s

``--embedded`` measures what ``make run`` serves (issue #19): it starts ``bin/run`` itself in a
folder of its own (SQLite in WAL mode, the filesystem broker, ``config.settings.embedded`` with
its real password hashing, gunicorn as ``bin/run`` sizes it, a Celery worker with beat), 30
students and a teacher do the mixed traffic below while the worker grades uploads, then Ctrl-C
(SIGINT) stops it. It passes with 0 errors, no attempt counted twice or lost, every upload
graded, no "database is locked" anywhere in the stack's output, and a clean stop; figures go to
``var/bench/load-embedded.json``.

Figures go to ``var/bench/load.json`` (``var/`` is git-ignored).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "var" / "bench"
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
# Both can be moved where parallel runs on one machine need it (another database, Redis number).
DATABASE = os.environ.get("STRIDE_LOAD_DATABASE", "stride_load")
REDIS_URL = os.environ.get("STRIDE_LOAD_REDIS_URL", "redis://127.0.0.1:6379/7")
COURSE = "cnn-diffusion"
PASSWORD = "load-test-password-7"
# One exercise of each instant type, as in bench.instant_answer: their attempt limit is lifted
# (in this benchmark's own database) so that the side-by-side rounds can answer again and again.
THROUGHPUT_SLUGS = ["output-size-224-chain", "param-count-12mpx-dense", "kernel-reconstruct-blur",
                    "quiz-parameters-location"]


# --- the parts that run inside Django (subprocesses: this process never imports Django) -----

def _django() -> None:
    for entry in (str(ROOT), str(ROOT / "platform")):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    import django

    django.setup()


def _wrong_candidates(kind: str, right: dict) -> list[dict]:
    """Answers that parse but should score below 1; the setup keeps the first that does."""
    if kind == "output_size":
        return [{"shape": [d + 1 for d in right["shape"]]}]
    if kind in ("param_count", "numeric"):
        return [{"value": right["value"] + 1}, {"value": right["value"] * 2 + 7}]
    if kind == "kernel" and "kernel" in right:
        return [{"kernel": [[0.0] * len(row) for row in right["kernel"]]}]
    if kind == "kernel":
        return [{"choice": c} for c in ("laplacian", "sobel_h", "sobel_v", "sharpen", "blur", "identity",
                                        "emboss", "edges") if c != right.get("choice")]
    if kind == "mcq":
        letters = "abcdefgh"
        chosen = set(right["choices"])
        return ([{"choices": sorted(chosen)[:-1]}] if len(chosen) > 1 else []) + \
            [{"choices": [c]} for c in letters if c not in chosen]
    return []


def _answers_for(user_id: int, exercises) -> dict:
    from exercises.engine.services import jsonable
    from exercises.engine.variants import variant_generate
    from exercises.types import get_type
    from grader.result import AnswerError

    answers = {}
    for exercise in exercises:
        kind = get_type(exercise.type)
        variant = variant_generate(exercise=exercise, user_id=user_id)
        right = jsonable(kind.solve(variant))
        wrong = None
        for candidate in _wrong_candidates(exercise.type, right):
            try:
                if kind.grade_answer(variant, candidate).score < 0.999:
                    wrong = candidate
                    break
            except AnswerError:
                continue
        answers[str(exercise.pk)] = {"right": right, "wrong": wrong}
    return answers


def internal_setup(plan_path: str, students: int, throughput_students: int) -> None:
    """Migrate, load the course, create the accounts, work out every answer; write the plan."""
    _django()
    from django.core.management import call_command

    from accounts.roles import Role
    from accounts.services import user_create
    from courses.models import Course
    from courses.services import enrollment_add
    from exercises.models import Exercise
    from exercises.types import get_type

    call_command("migrate", verbosity=0)
    call_command("load_course", verbosity=0)
    course = Course.objects.get(slug=COURSE)
    instant = [e for e in Exercise.objects.filter(course=course, published=True).order_by("position")
               if get_type(e.type).instant]
    fast = [e for e in instant if e.slug in THROUGHPUT_SLUGS]
    Exercise.objects.filter(pk__in=[e.pk for e in fast]).update(max_attempts=None)
    model = Exercise.objects.get(course=course, slug="model-shapes-classifier")

    def account(username: str, exercises) -> dict:
        user, _ = user_create(username=username, role=Role.STUDENT, password=PASSWORD)
        user.last_name = username
        user.save(update_fields=["last_name"])
        enrollment_add(course=course, user=user, role=Role.STUDENT)
        return {"id": user.pk, "username": username, "password": PASSWORD,
                "answers": _answers_for(user.pk, exercises)}

    teacher, _ = user_create(username="load-teacher", role=Role.TEACHER, password=PASSWORD)
    enrollment_add(course=course, user=teacher, role=Role.TEACHER)
    plan = {
        "course": COURSE,
        "students": [account(f"load-s{i:03d}", instant) for i in range(students)],
        "throughput_students": [account(f"load-t{i:02d}", fast) for i in range(throughput_students)],
        "throughput_exercises": [e.pk for e in fast],
        "instant_exercises": [e.pk for e in instant],
        "model_exercise": model.pk,
        "teacher": {"username": "load-teacher", "password": PASSWORD},
    }
    Path(plan_path).write_text(json.dumps(plan))
    wrong_missing = sorted({e for s in plan["students"] for e, a in s["answers"].items() if a["wrong"] is None})
    print(json.dumps({"students": students, "instant exercises": len(instant),
                      "exercises without a wrong answer": wrong_missing}))


def internal_check(plan_path: str, counts_paths: list[str], submissions: list[int], out_path: str) -> None:
    """The database after the run: attempt numbering, and attempts against 2xx responses."""
    _django()
    from collections import Counter

    from django.db.models import Count, Max, Min

    from exercises.models import Attempt, Submission

    plan = json.loads(Path(plan_path).read_text())
    seen: Counter = Counter()
    seen_ids: list[int] = []
    for path in counts_paths:
        counts = json.loads(Path(path).read_text())
        for user, exercise, n in counts["attempts_ok"]:
            seen[(user, exercise)] += n
        seen_ids += counts["attempt_ids"]
    instant = set(plan["instant_exercises"])
    groups = list(Attempt.objects.values("exercise_id", "user_id")
                  .annotate(n=Count("id"), first=Min("number"), last=Max("number")))
    not_contiguous = [g for g in groups if g["first"] != 1 or g["last"] != g["n"]]
    in_db = {(g["user_id"], g["exercise_id"]): g["n"] for g in groups if g["exercise_id"] in instant}
    pairs = set(in_db) | set(seen)
    more_in_db = {f"{u}:{e}": [in_db.get((u, e), 0), seen[(u, e)]] for u, e in pairs
                  if in_db.get((u, e), 0) > seen[(u, e)]}
    fewer_in_db = {f"{u}:{e}": [in_db.get((u, e), 0), seen[(u, e)]] for u, e in pairs
                   if in_db.get((u, e), 0) < seen[(u, e)]}
    db_ids = set(Attempt.objects.filter(exercise_id__in=instant).values_list("pk", flat=True))
    statuses = Counter(Submission.objects.filter(pk__in=submissions).values_list("status", flat=True))
    result = {
        "attempts in the database (instant exercises)": sum(in_db.values()),
        "2xx attempt responses seen by locust": sum(seen.values()),
        "(exercise, student) pairs": len(pairs),
        "pairs whose numbers are not 1..n": len(not_contiguous),
        "pairs with more attempts than 2xx responses (double counts)": len(more_in_db),
        "pairs with fewer attempts than 2xx responses (lost)": len(fewer_in_db),
        "attempt ids answered twice": len(seen_ids) - len(set(seen_ids)),
        "attempt ids answered but not in the database": len(set(seen_ids) - db_ids),
        "attempts in the database never answered": len(db_ids - set(seen_ids)),
        "examples": {"more": dict(list(more_in_db.items())[:5]), "fewer": dict(list(fewer_in_db.items())[:5]),
                     "not contiguous": not_contiguous[:5]},
        "submissions": dict(statuses),
    }
    result["queries per request"] = _query_counts(plan)
    Path(out_path).write_text(json.dumps(result))


def _query_counts(plan: dict) -> dict:
    """The SQL statements of each endpoint, in steady state (the second of two requests), through
    the test client: what a request costs the database whatever the machine's load."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.services import api_token_create

    users = get_user_model().objects
    student = plan["throughput_students"][0]
    _token, raw = api_token_create(user=users.get(pk=student["id"]), name="query count")
    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {raw}")
    teacher = Client(HTTP_HOST="localhost")
    teacher.force_login(users.get(username=plan["teacher"]["username"]))
    exercise = str(plan["throughput_exercises"][0])
    answer = {"answer": student["answers"][exercise]["wrong"] or student["answers"][exercise]["right"]}
    probes = {
        "GET /healthz": lambda: client.get("/healthz"),
        "GET /api/v1/exercises/[id]": lambda: client.get(f"/api/v1/exercises/{exercise}"),
        "POST /bench/minimal-answer/[id] (baseline)": lambda: client.post(
            f"/bench/minimal-answer/{exercise}", answer, content_type="application/json"),
        "POST /api/v1/exercises/[id]/attempts": lambda: client.post(
            f"/api/v1/exercises/{exercise}/attempts", answer, content_type="application/json"),
        "GET /api/v1/courses/[slug]/exercises": lambda: client.get(f"/api/v1/courses/{plan['course']}/exercises"),
        "GET /teach/[slug]/gradebook/ (HTML, session)": lambda: teacher.get(f"/teach/{plan['course']}/gradebook/"),
    }
    out = {}
    for name, probe in probes.items():
        probe()
        with CaptureQueriesContext(connection) as ctx:
            status = probe().status_code
        sql = [q["sql"] for q in ctx.captured_queries]
        out[name] = {"status": status, "statements": len(sql),
                     "queries": sum(1 for q in sql if q.split()[0] not in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")),
                     "sql": [q[:160] for q in sql]}
    return out


# --- the stack --------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def _database(var_dir: Path) -> str:
    """A fresh database of this benchmark's own."""
    if not _port_open("127.0.0.1", 5432):
        print("PostgreSQL does not answer on 127.0.0.1:5432: SQLite instead (expect lock contention)")
        return f"sqlite:///{var_dir / 'load.sqlite3'}"
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    return f"postgres://postgres@127.0.0.1:5432/{DATABASE}"


def _drop_database(url: str) -> None:
    if url.startswith("postgres"):
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def _broker() -> str:
    if not _port_open("127.0.0.1", 6379):
        return "filesystem://"
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()  # our own database number only
    return REDIS_URL


def _env(database_url: str, broker_url: str, var_dir: Path, **extra: str) -> dict:
    # bench.settings: the test settings with bench.minimal mounted (the fair baseline of the answer).
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", "DATABASE_URL": database_url,
           "CELERY_BROKER_URL": broker_url, "STRIDE_VAR_DIR": str(var_dir), "DJANGO_LOG_LEVEL": "WARNING",
           "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1", **extra}
    if not broker_url.startswith("filesystem://"):
        env["CELERY_RESULT_BACKEND"] = broker_url
    if "DJANGO_CONN_MAX_AGE" not in extra:
        env.pop("DJANGO_CONN_MAX_AGE", None)  # the default, whatever this shell says
    return env


@contextlib.contextmanager
def gunicorn(env: dict, log: Path, workers: int = 2):
    """gunicorn on a free loopback port; yields (url, process). Stopped on exit."""
    from tests.procs import stop

    port = _free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [GUNICORN, "config.wsgi:application", "--chdir", "platform", "--bind", f"127.0.0.1:{port}",
             "--workers", str(workers), "--timeout", "60", "--graceful-timeout", "5"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        import requests

        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"gunicorn not ready after 60 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url, proc
    finally:
        stop(proc)


def _tiny_model(folder: Path) -> Path:
    """An untrained small CNN for the shapes exercise (32x32x3 -> 6), built in a subprocess."""
    path = folder / "tiny.keras"
    code = f"""
import keras
keras.utils.set_random_seed(0)
m = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Rescaling(1 / 255),
    keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.MaxPooling2D(),
    keras.layers.Flatten(), keras.layers.Dense(6, activation="softmax")])
m.save({str(path)!r})
"""
    done = subprocess.run([PYTHON, "-c", code], env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"could not build the model:\n{done.stderr[-3000:]}")
    return path


def _upload(url: str, plan: dict, model: Path, count: int) -> list[int]:
    """``count`` students upload the model through the API, as the starter notebook does."""
    import requests

    ids = []
    for account in plan["students"][:count]:
        token = requests.post(f"{url}/api/v1/auth/token", timeout=30,
                              json={"username": account["username"], "password": account["password"]}).json()["token"]
        with open(model, "rb") as f:
            response = requests.post(f"{url}/api/v1/exercises/{plan['model_exercise']}/submissions", timeout=60,
                                     headers={"Authorization": f"Bearer {token}"}, files={"file": ("model.keras", f)})
        if response.status_code != 202:
            raise RuntimeError(f"upload refused: {response.status_code} {response.text[:300]}")
        account["submission"] = response.json()["submission_id"]
        ids.append(account["submission"])
    return ids


def _locust(args: list[str], env: dict, timeout: float) -> None:
    done = subprocess.run([PYTHON, "-m", "bench.locustfile", *args], cwd=ROOT, env=env, timeout=timeout,
                          capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
        raise RuntimeError("the locust driver failed")


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def _memory_gib() -> float:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return int(line.split()[1]) / 2**20
    return float("nan")


def machine() -> dict:
    return {"nproc": os.cpu_count(), "cpu": _cpu_model(), "ram_gib": round(_memory_gib(), 1),
            "loadavg": [round(x, 2) for x in os.getloadavg()]}


# --- the run ---------------------------------------------------------------------------------

def _ratios(rounds: list[dict]) -> dict:
    """Throughput of each endpoint against the bare view of the same server, per round, then
    the median; and the web processes' CPU per request."""
    import statistics

    by = {}
    for r in rounds:
        stats = r["endpoints"][r["endpoint"]]
        by.setdefault(r["target"], {}).setdefault(r["round"], {})[r["kind"]] = {
            "rps": stats["requests"] / r["seconds"], "errors": stats["errors"], "p50_ms": stats["p50_ms"],
            "cpu_ms_per_request": 1000 * r["server_cpu_s"] / max(stats["requests"], 1),
            "client_cpu_share": r["client_cpu_s"] / max(r["machine_busy_cpu_s"], 1e-9),
            "machine_busy": r["machine_busy_fraction"]}
    out = {}
    for target, rounds_of in by.items():
        fig = {}
        for kind in ("bare", "minimal", "read", "answer"):
            values = [rd[kind] for rd in rounds_of.values() if kind in rd]
            fig[f"{kind} (req/s)"] = statistics.median(v["rps"] for v in values)
            fig[f"{kind} p50 (ms)"] = statistics.median(v["p50_ms"] for v in values)
            fig[f"{kind} web CPU per request (ms)"] = statistics.median(v["cpu_ms_per_request"] for v in values)
            fig[f"{kind} errors"] = sum(v["errors"] for v in values)
            fig[f"{kind} locust share of the machine's busy CPU"] = statistics.median(
                v["client_cpu_share"] for v in values)
            fig[f"{kind} machine busy"] = statistics.median(v["machine_busy"] for v in values)
            if kind == "answer":
                fig["answer / minimal throughput (ratio)"] = statistics.median(
                    rd["answer"]["rps"] / rd["minimal"]["rps"] for rd in rounds_of.values()
                    if "answer" in rd and "minimal" in rd)
            if kind != "bare":
                fig[f"{kind} / bare throughput (ratio)"] = statistics.median(
                    rd[kind]["rps"] / rd["bare"]["rps"] for rd in rounds_of.values() if kind in rd and "bare" in rd)
                fig[f"{kind} / bare web CPU per request (ratio)"] = statistics.median(
                    rd[kind]["cpu_ms_per_request"] / rd["bare"]["cpu_ms_per_request"]
                    for rd in rounds_of.values() if kind in rd and "bare" in rd)
        out[target] = fig
    return out


def run(args) -> dict:
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.time()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="stride-load-") as folder:
        var_dir = Path(folder)
        plan_path = var_dir / "plan.json"
        database_url = _database(var_dir)
        broker_url = _broker()
        env = _env(database_url, broker_url, var_dir)
        try:
            t = time.perf_counter()
            setup = subprocess.run([PYTHON, "-m", "bench.load", "--internal-setup", str(plan_path),
                                    "--users", str(args.users), "--concurrency", str(args.concurrency)],
                                   cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
            if setup.returncode != 0:
                print(setup.stdout[-3000:], setup.stderr[-3000:], file=sys.stderr)
                raise RuntimeError("setup failed")
            print("setup:", setup.stdout.strip().splitlines()[-1], f"({time.perf_counter() - t:.0f} s)", flush=True)
            model = _tiny_model(var_dir)
            from tests.procs import celery_worker

            persistent_env = _env(database_url, broker_url, var_dir, DJANGO_CONN_MAX_AGE="60")
            with gunicorn(env, var_dir / "gunicorn.log") as (url, web), \
                    gunicorn(persistent_env, var_dir / "gunicorn-persistent.log") as (url_p, web_p), \
                    celery_worker(broker_url=broker_url, var_dir=var_dir, queues="default,gpu",
                                  database_url=database_url, log=var_dir / "worker.log") as worker:
                print(f"stack up: gunicorn {url} (+ {url_p} with persistent connections), "
                      f"worker pid {worker.pid}", flush=True)
                # 1. side by side, before any submission: the worker is idle.
                targets = json.dumps({"CONN_MAX_AGE=0 (default)": [url, web.pid],
                                      "CONN_MAX_AGE=60": [url_p, web_p.pid]})
                _locust(["--phase", "throughput", "--targets", targets, "--seconds", str(args.round_seconds),
                         "--rounds", str(args.rounds), "--concurrency", str(args.concurrency),
                         "--out", str(var_dir / "throughput.json"), "--counts", str(var_dir / "counts-1.json")],
                        {**os.environ, "STRIDE_LOAD_PLAN": str(plan_path)}, timeout=900)
                print("side-by-side rounds done", flush=True)
                # 2. mixed traffic, while the worker grades the uploads.
                plan = json.loads(plan_path.read_text())
                submissions = _upload(url, plan, model, args.submissions)
                plan_path.write_text(json.dumps(plan))
                _locust(["--phase", "mixed", "--host", url, "--users", str(args.users), "--spawn-rate",
                         str(args.spawn_rate), "--seconds", str(args.seconds),
                         "--server-sids", str(web.pid), str(worker.pid),
                         "--out", str(var_dir / "mixed.json"), "--counts", str(var_dir / "counts-2.json")],
                        {**os.environ, "STRIDE_LOAD_PLAN": str(plan_path)}, timeout=args.seconds + 600)
                print("mixed traffic done", flush=True)
                gunicorn_errors = [line for line in (var_dir / "gunicorn.log").read_text().splitlines()
                                   if "Traceback" in line or "[ERROR]" in line or "[CRITICAL]" in line]
            check = subprocess.run([PYTHON, "-m", "bench.load", "--internal-check", str(plan_path),
                                    "--counts", str(var_dir / "counts-1.json"), str(var_dir / "counts-2.json"),
                                    "--submission-ids", *map(str, submissions), "--out", str(var_dir / "check.json")],
                                   cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
            if check.returncode != 0:
                print(check.stdout[-3000:], check.stderr[-3000:], file=sys.stderr)
                raise RuntimeError("the database check failed")
            throughput = json.loads((var_dir / "throughput.json").read_text())
            mixed = json.loads((var_dir / "mixed.json").read_text())
            integrity = json.loads((var_dir / "check.json").read_text())
        finally:
            if not args.keep_database:
                _drop_database(database_url)

    endpoints = mixed["endpoints"]
    total_requests = sum(e["requests"] for e in endpoints.values())
    user_exceptions = sum(n for name, _status, n in mixed["errors"] if name.endswith(" raised"))
    total_errors = sum(e["errors"] for e in endpoints.values()) + \
        sum(e["errors"] for e in mixed["spawn_and_login"].values()) + user_exceptions
    double = integrity["pairs with more attempts than 2xx responses (double counts)"] + \
        integrity["attempt ids answered twice"] + integrity["pairs whose numbers are not 1..n"]
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M", time.localtime(started)),
        "machine": {**machine(), "loadavg_before": [round(x, 2) for x in load_before]},
        "database": database_url.split(":")[0], "broker": broker_url.split(":")[0],
        "settings": {"users": args.users, "seconds": args.seconds, "spawn_rate": args.spawn_rate,
                     "gunicorn_workers": 2, "side_by_side_users": args.concurrency,
                     "side_by_side_rounds": args.rounds, "round_seconds": args.round_seconds,
                     "submissions": args.submissions},
        "side_by_side": _ratios(throughput["rounds"]),
        "mixed": {
            "endpoints": endpoints,
            "spawn_and_login": mixed["spawn_and_login"],
            "requests": total_requests,
            "throughput_rps": total_requests / mixed["seconds"],
            "errors": total_errors,
            "user_exceptions": user_exceptions,
            "error_list": mixed["errors"] + throughput["errors"],
            "web_and_worker_cpu_s": mixed["server_cpu_s"],
            "locust_cpu_s": mixed["client_cpu_s"],
            "machine_busy_fraction": mixed["machine_busy_fraction"],
            "machine_busy_cpu_s": mixed["machine_busy_cpu_s"],
            "other_processes_cpu_s": mixed["machine_busy_cpu_s"] - mixed["server_cpu_s"] - mixed["client_cpu_s"],
            "seconds": mixed["seconds"],
        },
        "integrity": {**integrity, "double counts": double},
        "gunicorn_error_lines": gunicorn_errors[:20],
    }
    result["ok"] = (total_errors == 0 and double == 0 and not throughput["errors"]
                    and integrity["pairs with fewer attempts than 2xx responses (lost)"] == 0
                    and integrity["attempt ids answered but not in the database"] == 0
                    and integrity["attempts in the database never answered"] == 0)
    return result


def _embedded_env(var_dir: Path, port: int) -> dict:
    """The environment of a teacher's shell: nothing of this run's DATABASE_URL, broker or settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "DATABASE_URL", "STRIDE_"))}
    return {**env, "STRIDE_VAR_DIR": str(var_dir), "PORT": str(port), "PYTHONUNBUFFERED": "1",
            "STRIDE_SKIP_BOOTSTRAP": "1"}  # this virtualenv is installed already


def _submission_statuses(database: Path, ids: list[int]) -> dict:
    import sqlite3
    from collections import Counter

    with contextlib.closing(sqlite3.connect(database, timeout=30)) as db:
        rows = db.execute(f"SELECT status FROM exercises_submission WHERE id IN ({','.join('?' * len(ids))})",
                          ids).fetchall()
    return dict(Counter(status for (status,) in rows))


def run_embedded(args) -> dict:
    """``make run``'s stack under 30 students: bin/run itself, started and stopped as a teacher does."""
    import signal

    started = time.time()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="stride-load-embedded-") as folder:
        folder = Path(folder)
        var_dir = folder / "var"
        var_dir.mkdir()
        plan_path = folder / "plan.json"
        port = _free_port()
        env = _embedded_env(var_dir, port)
        t = time.perf_counter()
        # The accounts first (bin/run's own migrate is then a no-op), with the real password hashing.
        setup = subprocess.run([PYTHON, "-m", "bench.load", "--internal-setup", str(plan_path), "--users",
                                str(args.users), "--concurrency", "1"], cwd=ROOT, capture_output=True, text=True,
                               env={**env, "DJANGO_SETTINGS_MODULE": "config.settings.embedded"}, timeout=900)
        if setup.returncode != 0:
            print(setup.stdout[-3000:], setup.stderr[-3000:], file=sys.stderr)
            raise RuntimeError("setup failed")
        print("setup:", setup.stdout.strip().splitlines()[-1], f"({time.perf_counter() - t:.0f} s)", flush=True)
        model = _tiny_model(folder)
        log = folder / "make-run.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(["bin/run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True,
                                    preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        url = f"http://127.0.0.1:{port}"
        stop_status = stop_seconds = None
        try:
            deadline = time.monotonic() + 300
            while "Ctrl-C stops everything" not in log.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"bin/run did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
            sids = [int(x) for x in (var_dir / "run.pids").read_text().split()]
            print(f"make run's stack up on {url} (sessions {sids})", flush=True)
            plan = json.loads(plan_path.read_text())
            submissions = _upload(url, plan, model, args.submissions)
            plan_path.write_text(json.dumps(plan))
            _locust(["--phase", "mixed", "--host", url, "--users", str(args.users), "--spawn-rate",
                     str(args.spawn_rate), "--seconds", str(args.seconds), "--server-sids", *map(str, sids),
                     "--out", str(folder / "mixed.json"), "--counts", str(folder / "counts.json")],
                    {**os.environ, "STRIDE_LOAD_PLAN": str(plan_path)}, timeout=args.seconds + 900)
            print("mixed traffic done", flush=True)
            # Every upload graded: the worker wrote its results while the web wrote attempts.
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                statuses = _submission_statuses(var_dir / "stride.sqlite3", submissions)
                if not set(statuses) & {"queued", "running"}:
                    break
                time.sleep(1)
        finally:
            t = time.perf_counter()
            proc.send_signal(signal.SIGINT)  # Ctrl-C
            try:
                stop_status = proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
            stop_seconds = time.perf_counter() - t
            for pgid in [int(x) for x in (var_dir / "run.pids").read_text().split()] \
                    if (var_dir / "run.pids").exists() else []:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
        check = subprocess.run([PYTHON, "-m", "bench.load", "--internal-check", str(plan_path),
                                "--counts", str(folder / "counts.json"),
                                "--submission-ids", *map(str, submissions), "--out", str(folder / "check.json")],
                               cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "config.settings.embedded"},
                               capture_output=True, text=True, timeout=300)
        if check.returncode != 0:
            print(check.stdout[-3000:], check.stderr[-3000:], file=sys.stderr)
            raise RuntimeError("the database check failed")
        mixed = json.loads((folder / "mixed.json").read_text())
        integrity = json.loads((folder / "check.json").read_text())
        output = log.read_text(errors="replace")
        access_lines = len((var_dir / "log" / "access.log").read_text().splitlines())
        first_screen = output[output.find("Stride is running"):output.find("Ctrl-C stops everything")]

    endpoints = mixed["endpoints"]
    total_requests = sum(e["requests"] for e in endpoints.values())
    user_exceptions = sum(n for name, _status, n in mixed["errors"] if name.endswith(" raised"))
    total_errors = sum(e["errors"] for e in endpoints.values()) + \
        sum(e["errors"] for e in mixed["spawn_and_login"].values()) + user_exceptions
    double = integrity["pairs with more attempts than 2xx responses (double counts)"] + \
        integrity["attempt ids answered twice"] + integrity["pairs whose numbers are not 1..n"]
    locked = output.lower().count("database is locked")
    error_lines = [line for line in output.splitlines()
                   if "Traceback" in line or " ERROR " in line or "CRITICAL" in line or "ERROR/" in line]
    gunicorn_line = next((line.strip() for line in first_screen.splitlines() if "gunicorn" in line), "")
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M", time.localtime(started)),
        "machine": {**machine(), "loadavg_before": [round(x, 2) for x in load_before]},
        "database": "sqlite (WAL)", "broker": "filesystem",
        "stack": f"bin/run (make run): {gunicorn_line}",
        "settings": {"users": args.users, "seconds": args.seconds, "spawn_rate": args.spawn_rate,
                     "submissions": args.submissions},
        "mixed": {
            "endpoints": endpoints,
            "spawn_and_login": mixed["spawn_and_login"],
            "requests": total_requests,
            "throughput_rps": total_requests / mixed["seconds"],
            "errors": total_errors,
            "user_exceptions": user_exceptions,
            "error_list": mixed["errors"],
            "web_and_worker_cpu_s": mixed["server_cpu_s"],
            "locust_cpu_s": mixed["client_cpu_s"],
            "machine_busy_fraction": mixed["machine_busy_fraction"],
            "seconds": mixed["seconds"],
        },
        "integrity": {**integrity, "double counts": double},
        "database is locked": locked,
        "error lines in the stack's output": error_lines[:20],
        "access log lines": access_lines,
        "stop": {"status": stop_status, "seconds": stop_seconds},
    }
    graded = integrity["submissions"]
    result["ok"] = (total_errors == 0 and double == 0 and locked == 0 and not error_lines
                    and integrity["pairs with fewer attempts than 2xx responses (lost)"] == 0
                    and integrity["attempt ids answered but not in the database"] == 0
                    and integrity["attempts in the database never answered"] == 0
                    and set(graded) <= {"done"} and sum(graded.values()) == len(submissions)
                    and stop_status == 0)
    return result


def report_embedded(result: dict) -> None:
    m = result["machine"]
    mixed = result["mixed"]
    print(f"\n{result['when']}  {m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB; load average "
          f"{m['loadavg_before'][0]:.2f} before, {m['loadavg'][0]:.2f} after; {result['stack']}")
    print(f"\nmixed traffic: {result['settings']['users']} students + 1 teacher, {mixed['seconds']:.0f} s measured "
          f"after the spawn: {mixed['requests']} requests, {mixed['throughput_rps']:.1f} req/s, "
          f"{mixed['errors']} errors; machine {100 * mixed['machine_busy_fraction']:.0f} % busy")
    print(f"  {'endpoint':45s} {'requests':>8s} {'req/s':>7s} {'errors':>6s} {'p50':>7s} {'p95':>7s} {'p99':>7s} ms")
    for name, e in sorted({**mixed["spawn_and_login"], **mixed["endpoints"]}.items(), key=lambda kv: -kv[1]["requests"]):
        print(f"  {name:45s} {e['requests']:8d} {e['throughput_rps']:7.1f} {e['errors']:6d} "
              f"{e['p50_ms']:7.1f} {e['p95_ms']:7.1f} {e['p99_ms']:7.1f}")
    i = result["integrity"]
    print(f"\nintegrity: {i['2xx attempt responses seen by locust']} 2xx attempt responses, "
          f"{i['attempts in the database (instant exercises)']} attempts in the database; double counts "
          f"{i['double counts']}, lost {i['pairs with fewer attempts than 2xx responses (lost)']}; "
          f"submissions {i['submissions']}")
    errors = result["error lines in the stack's output"]
    print(f"'database is locked': {result['database is locked']}; error lines in the stack's output: "
          f"{len(errors)}; Ctrl-C: status {result['stop']['status']} "
          f"in {result['stop']['seconds']:.1f} s")
    print("OK: 0 errors, nothing double-counted or lost, no 'database is locked'" if result["ok"]
          else "NOT OK: see var/bench/load-embedded.json")


def report(result: dict) -> None:
    m = result["machine"]
    print(f"\n{result['when']}  {m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB; load average "
          f"{m['loadavg_before'][0]:.2f} before, {m['loadavg'][0]:.2f} after; {result['database']}, {result['broker']}")
    print("\nside by side, closed loop, throughput against the bare JSON view of the same server")
    for target, fig in result["side_by_side"].items():
        print(f"  {target}")
        print(f"    {'endpoint':28s} {'req/s':>8s} {'ratio':>7s} {'p50 ms':>8s} {'web CPU ms/req':>15s} {'CPU ratio':>10s}")
        for kind, label in (("bare", "GET /healthz (bare)"), ("minimal", "POST minimal write view"),
                            ("read", "GET exercise"), ("answer", "POST attempt")):
            ratio = 1.0 if kind == "bare" else fig[f"{kind} / bare throughput (ratio)"]
            cpu_ratio = 1.0 if kind == "bare" else fig[f"{kind} / bare web CPU per request (ratio)"]
            print(f"    {label:28s} {fig[f'{kind} (req/s)']:8.1f} {ratio:7.3f} {fig[f'{kind} p50 (ms)']:8.1f} "
                  f"{fig[f'{kind} web CPU per request (ms)']:15.2f} {cpu_ratio:10.2f}")
        print(f"    answer / minimal write view: {fig['answer / minimal throughput (ratio)']:.3f} (goal >= 0.5); "
              f"answer / bare: {fig['answer / bare throughput (ratio)']:.3f} (goal >= 0.15); web CPU per answer "
              f"{fig['answer web CPU per request (ms)']:.2f} ms (goal <= 4)")
    mixed = result["mixed"]
    print(f"\nmixed traffic: {result['settings']['users']} students + 1 teacher, {mixed['seconds']:.0f} s measured "
          f"after the spawn: {mixed['requests']} requests, {mixed['throughput_rps']:.1f} req/s, "
          f"{mixed['errors']} errors; machine {100 * mixed['machine_busy_fraction']:.0f} % busy")
    print(f"  {'endpoint':45s} {'requests':>8s} {'req/s':>7s} {'errors':>6s} {'p50':>7s} {'p95':>7s} {'p99':>7s} ms")
    for name, e in sorted(mixed["endpoints"].items(), key=lambda kv: -kv[1]["requests"]):
        print(f"  {name:45s} {e['requests']:8d} {e['throughput_rps']:7.1f} {e['errors']:6d} "
              f"{e['p50_ms']:7.1f} {e['p95_ms']:7.1f} {e['p99_ms']:7.1f}")
    i = result["integrity"]
    print(f"\nintegrity: {i['2xx attempt responses seen by locust']} 2xx attempt responses, "
          f"{i['attempts in the database (instant exercises)']} attempts in the database; "
          f"double counts {i['double counts']}, lost "
          f"{i['pairs with fewer attempts than 2xx responses (lost)']}; submissions {i['submissions']}")
    print("\nSQL per request (steady state, test client):")
    for name, q in i.get("queries per request", {}).items():
        print(f"  {name:45s} {q['queries']:3d} queries ({q['statements']} statements with BEGIN/COMMIT), "
              f"status {q['status']}")
    print("OK: 0 errors, 0 double-counted attempts" if result["ok"] else "NOT OK: see var/bench/load.json")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 students for 15 s, one short round each")
    parser.add_argument("--embedded", action="store_true",
                        help="make run's stack (bin/run: SQLite, filesystem broker), 30 students for 60 s")
    parser.add_argument("--users", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--spawn-rate", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=None, help="side-by-side rounds")
    parser.add_argument("--round-seconds", type=float, default=None)
    parser.add_argument("--concurrency", type=int, default=8, help="closed-loop users in the side-by-side rounds")
    parser.add_argument("--submissions", type=int, default=None, help="students who upload a model")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--out", default=None, help="var/bench/load.json (load-embedded.json with --embedded)")
    parser.add_argument("--internal-setup", help=argparse.SUPPRESS)
    parser.add_argument("--internal-check", help=argparse.SUPPRESS)
    parser.add_argument("--counts", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--submission-ids", type=int, nargs="*", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick
    args.out = args.out or str(RESULTS / ("load-embedded.json" if args.embedded else "load.json"))
    args.users = args.users or (20 if quick else 30 if args.embedded else 100)
    args.seconds = args.seconds or (15 if quick else 60)
    args.rounds = args.rounds or (1 if quick else 3)
    args.round_seconds = args.round_seconds or (3 if quick else 5)
    args.submissions = args.submissions if args.submissions is not None else (3 if quick else 10)
    if args.internal_setup:
        internal_setup(args.internal_setup, args.users, args.concurrency)
        return {}
    if args.internal_check:
        internal_check(args.internal_check, args.counts, args.submission_ids, args.out)
        return {}
    result = run_embedded(args) if args.embedded else run(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    (report_embedded if args.embedded else report)(result)
    print(f"written to {args.out}")
    if not result["ok"]:
        failure = SystemExit(1)
        failure.figures = result  # bench.run_all still collects them
        raise failure
    return result


if __name__ == "__main__":
    main()
