"""Simulated students and a teacher for ``bench.load`` (locust).

The plan (accounts, each student's right and wrong answers, the submissions to poll) is a JSON
file that ``bench.load`` writes during its setup; its path comes in ``STRIDE_LOAD_PLAN``. With a
stack already running and a plan written, the locust command line works too:

    STRIDE_LOAD_PLAN=var/bench/load-plan.json .venv/bin/locust -f bench/locustfile.py \\
        --headless -u 101 -r 20 -t 60s --host http://127.0.0.1:8000

``bench.load`` drives it as a library instead (``python -m bench.locustfile --phase ...``), in a
process of its own because locust patches the standard library with gevent on import. Every
response is recorded (no locust rounding of the percentiles), and so is every 2xx attempt, per
(student, exercise), for the double-count check in the database.
"""
from __future__ import annotations

import itertools
import json
import os
import random
import time
from collections import Counter, defaultdict

import gevent
from locust import FastHttpUser, between, constant, events, task  # first: locust patches with gevent

PLAN: dict = {}
if os.environ.get("STRIDE_LOAD_PLAN"):
    with open(os.environ["STRIDE_LOAD_PLAN"]) as _plan_file:
        PLAN = json.load(_plan_file)

# Every response, by endpoint name: (seconds since start, milliseconds, status, ok)
SAMPLES: dict[str, list[tuple[float, float, int, bool]]] = defaultdict(list)
ERRORS: Counter = Counter()  # (endpoint, status or exception) -> count
ATTEMPTS_OK: Counter = Counter()  # (user id, exercise id) -> 2xx attempt responses
ATTEMPT_IDS: list[int] = []
_T0 = time.monotonic()


@events.request.add_listener
def _record(request_type, name, response_time, response_length, response=None, exception=None, **_kw):
    status = getattr(response, "status_code", 0) or 0
    ok = exception is None and 200 <= status < 300
    SAMPLES[name].append((time.monotonic() - _T0, float(response_time), status, ok))
    if not ok:
        ERRORS[(name, str(status) if status else type(exception).__name__)] += 1


@events.user_error.add_listener
def _user_error(user_instance, exception, tb, **_kw):
    """An exception in a simulated user's code is an error of the run too, not just a log line."""
    ERRORS[(f"{type(user_instance).__name__} raised", f"{type(exception).__name__}: {exception}")] += 1


@events.quitting.add_listener
def _dump(environment, **_kw):
    """In the command-line mode, leave the attempt counts where ``STRIDE_LOAD_COUNTS`` says."""
    if os.environ.get("STRIDE_LOAD_COUNTS"):
        write_counts(os.environ["STRIDE_LOAD_COUNTS"])


def write_counts(path: str) -> None:
    with open(path, "w") as out:
        json.dump({"attempts_ok": [[u, e, n] for (u, e), n in ATTEMPTS_OK.items()],
                   "attempt_ids": ATTEMPT_IDS}, out)


ATTEMPT_NAME = "POST /api/v1/exercises/[id]/attempts"
_student_numbers = itertools.count()


class _Student:
    """What one simulated student knows: their account, token, answers and progress."""

    def __init__(self, user, account: dict):
        self.user = user
        self.account = account
        self.auth: dict[str, str] = {}
        self.done: set[str] = set()  # exercises answered right or with no attempt left

    def login(self) -> None:
        with self.user.client.post("/api/v1/auth/token", name="POST /api/v1/auth/token", catch_response=True,
                                   json={"username": self.account["username"],
                                         "password": self.account["password"]}) as response:
            if response.status_code == 200:
                self.auth = {"Authorization": f"Bearer {response.json()['token']}"}
            else:
                response.failure(f"token: {response.status_code}")

    def answer(self, exercise_id: str, *, right: bool):
        """POST one answer; count it when the server says it was recorded."""
        answers = self.account["answers"][exercise_id]
        body = {"answer": answers["right"] if right or answers["wrong"] is None else answers["wrong"]}
        with self.user.client.post(f"/api/v1/exercises/{exercise_id}/attempts", json=body, headers=self.auth,
                                   name=ATTEMPT_NAME, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return None
            data = response.json()
            ATTEMPTS_OK[(self.account["id"], int(exercise_id))] += 1
            ATTEMPT_IDS.append(data["attempt_id"])
            return data


    def answer_minimal(self, exercise_id: str):
        """POST the same answer to the baseline view; its attempts are real ones, counted alike."""
        body = {"answer": self.account["answers"][exercise_id]["right"]}
        with self.user.client.post(f"/bench/minimal-answer/{exercise_id}", json=body, headers=self.auth,
                                   name=THROUGHPUT_NAMES["minimal"], catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return
            ATTEMPTS_OK[(self.account["id"], int(exercise_id))] += 1
            ATTEMPT_IDS.append(response.json()["attempt_id"])


class StudentUser(FastHttpUser):
    """A student: opens exercises, answers some right and some wrong, checks the course page,
    and polls their model submission while a worker grades it."""

    weight = 100
    wait_time = between(0.5, 2.0)

    def on_start(self):
        students = PLAN["students"]
        self.student = _Student(self, students[next(_student_numbers) % len(students)])
        self.student.login()

    @task(1)
    def course_page(self):
        self.client.get(f"/api/v1/courses/{PLAN['course']}/exercises", headers=self.student.auth,
                        name="GET /api/v1/courses/[slug]/exercises")

    @task(6)
    def open_and_answer(self):
        s = self.student
        todo = [e for e in s.account["answers"] if e not in s.done] or list(s.account["answers"])
        exercise_id = random.choice(todo)
        with self.client.get(f"/api/v1/exercises/{exercise_id}", headers=s.auth, name="GET /api/v1/exercises/[id]",
                             catch_response=True) as response:
            if response.status_code != 200:
                response.failure(str(response.status_code))
                return
            left = response.json()["attempts_left"]
        if left == 0:
            s.done.add(exercise_id)  # a student who has no attempt left reads and moves on
            return
        if random.random() < 0.2:
            return  # read, not answered (yet)
        gevent.sleep(random.uniform(0.2, 1.0))  # the student thinks before answering
        result = s.answer(exercise_id, right=random.random() < 0.6)
        if result and (result["correct"] or result["attempts_left"] == 0):
            s.done.add(exercise_id)

    @task(2)
    def poll_submission(self):
        submission = self.student.account.get("submission")
        if submission is None:
            return self.course_page()
        self.client.get(f"/api/v1/submissions/{submission}", headers=self.student.auth,
                        name="GET /api/v1/submissions/[id]")


class TeacherUser(FastHttpUser):
    """The teacher: logs in through the form, then reads the gradebook page and its JSON."""

    fixed_count = 1
    wait_time = between(2.0, 5.0)

    def on_start(self):
        teacher = PLAN["teacher"]
        self.client.get("/accounts/login/", name="GET /accounts/login/")
        csrf = next((c.value for c in self.client.cookiejar if c.name == "csrftoken"), "")
        self.client.post("/accounts/login/", name="POST /accounts/login/",
                         data={"username": teacher["username"], "password": teacher["password"],
                               "csrfmiddlewaretoken": csrf},
                         headers={"Referer": f"{self.host}/accounts/login/"})
        with self.client.post("/api/v1/auth/token", name="POST /api/v1/auth/token", catch_response=True,
                              json={"username": teacher["username"], "password": teacher["password"]}) as response:
            if response.status_code != 200:
                response.failure(f"token: {response.status_code}")
                return
            self.auth = {"Authorization": f"Bearer {response.json()['token']}"}

    @task(3)
    def gradebook_page(self):
        self.client.get(f"/teach/{PLAN['course']}/gradebook/", name="GET /teach/[slug]/gradebook/ (HTML)")

    @task(1)
    def gradebook_json(self):
        self.client.get(f"/api/v1/courses/{PLAN['course']}/gradebook", headers=self.auth,
                        name="GET /api/v1/courses/[slug]/gradebook")


THROUGHPUT_NAMES = {"bare": "GET /healthz", "minimal": "POST /bench/minimal-answer/[id]",
                    "read": "GET /api/v1/exercises/[id]", "answer": ATTEMPT_NAME}
THROUGHPUT_KINDS = ("bare", "minimal", "read", "answer")


def throughput_user(kind: str):
    """A closed-loop user (no think time) for one endpoint, for the side-by-side rounds of
    ``bench.load``: ``bare`` (GET /healthz, the bare JSON view), ``minimal`` (``bench.minimal``: the
    least an answer must do, one token query then a locked insert of the attempt), ``read`` (GET an exercise with
    a token) or ``answer`` (POST an attempt to one of the exercises left without an attempt
    limit). Built on demand so that the command line never runs it."""
    numbers = itertools.count()
    exercises = PLAN["throughput_exercises"]

    class Closed(FastHttpUser):
        wait_time = constant(0)

        def on_start(self):
            students = PLAN["throughput_students"]
            self.student = _Student(self, students[next(numbers) % len(students)])
            self.turn = itertools.cycle(exercises)
            if kind != "bare":
                self.student.login()

        @task
        def hit(self):
            if kind == "bare":
                self.client.get("/healthz", name=THROUGHPUT_NAMES["bare"])
            elif kind == "minimal":
                self.student.answer_minimal(str(next(self.turn)))
            elif kind == "read":
                self.client.get(f"/api/v1/exercises/{next(self.turn)}", headers=self.student.auth,
                                name=THROUGHPUT_NAMES["read"])
            else:
                self.student.answer(str(next(self.turn)), right=random.random() < 0.5)

    Closed.__name__ = f"Closed_{kind}"
    return Closed


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def summarise(samples, since: float, until: float) -> dict:
    """Per endpoint: requests, throughput, errors and exact percentiles over [since, until]."""
    out = {}
    for name, rows in sorted(samples.items()):
        rows = [r for r in rows if since <= r[0] <= until]
        if not rows:
            continue
        times = sorted(r[1] for r in rows)
        out[name] = {
            "requests": len(rows),
            "throughput_rps": len(rows) / (until - since),
            "errors": sum(1 for r in rows if not r[3]),
            "statuses": dict(Counter(str(r[2]) for r in rows)),
            "p50_ms": _percentile(times, 0.50),
            "p95_ms": _percentile(times, 0.95),
            "p99_ms": _percentile(times, 0.99),
            "max_ms": times[-1],
        }
    return out


def _cpu_seconds_of_sessions(sids: list[int]) -> float:
    """User + system CPU of every live process in these sessions (and of their reaped children)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) in sids:  # field 6 of stat: the session id
            total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / tick


def _machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick


def _run(user_classes, users: int, spawn_rate: float, seconds: float, host: str, warmup: float = 0.0,
         server_sids: list[int] | None = None) -> dict:
    """Run these users for ``seconds`` (after ``warmup``) and summarise what they saw."""
    from locust.env import Environment
    from locust.event import Events

    own_events = Events()  # a fresh set per run: listeners do not pile up over the rounds
    own_events.request.add_listener(_record)
    own_events.user_error.add_listener(_user_error)
    # A stopped user finishes the task it is in: an answer in flight is never cut off, so every
    # attempt the server records has its response counted here.
    env = Environment(user_classes=user_classes, host=host, events=own_events, stop_timeout=30)
    runner = env.create_local_runner()
    started = time.monotonic() - _T0
    runner.start(users, spawn_rate=spawn_rate)
    gevent.sleep(warmup)
    since = time.monotonic() - _T0
    cpu0 = _cpu_seconds_of_sessions(server_sids or [])
    mine0 = sum(os.times()[:2])
    busy0, total0 = _machine_busy_seconds()
    gevent.sleep(seconds)
    until = time.monotonic() - _T0
    cpu1 = _cpu_seconds_of_sessions(server_sids or [])
    mine1 = sum(os.times()[:2])
    busy1, total1 = _machine_busy_seconds()
    runner.stop()
    runner.quit()
    return {
        "seconds": until - since,
        "spawned_at_s": started,
        "users": users,
        "endpoints": summarise(SAMPLES, since, until),
        "server_cpu_s": cpu1 - cpu0,
        "client_cpu_s": mine1 - mine0,
        "machine_busy_fraction": (busy1 - busy0) / max(total1 - total0, 1e-9),
        "machine_busy_cpu_s": busy1 - busy0,
        "loadavg_after": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Drive the simulated users (used by bench.load).")
    parser.add_argument("--phase", choices=["mixed", "throughput"], required=True)
    parser.add_argument("--host", help="mixed: the server")
    parser.add_argument("--targets", help='throughput: {"label": [url, server session id], ...} (JSON)')
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--spawn-rate", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rounds", type=int, default=2, help="throughput: rounds of bare, minimal, read, answer")
    parser.add_argument("--concurrency", type=int, default=8, help="throughput: closed-loop users")
    parser.add_argument("--server-sids", type=int, nargs="*", default=[])
    parser.add_argument("--out", required=True)
    parser.add_argument("--counts", required=True)
    args = parser.parse_args(argv)

    if args.phase == "mixed":
        # The spawn takes users / rate seconds; the measured window starts once all are in.
        warmup = args.users / args.spawn_rate + 2
        result = _run([StudentUser, TeacherUser], args.users + 1, args.spawn_rate, args.seconds, args.host,
                      warmup=warmup, server_sids=args.server_sids)
        result["spawn_and_login"] = summarise(SAMPLES, 0, result["spawned_at_s"] + warmup)
    else:
        # Alternate the endpoints, so that the machine's changing load falls on each alike.
        result = {"rounds": []}
        targets = json.loads(args.targets)
        for number in range(args.rounds):
            for target, (url, sid) in targets.items():
                for kind in THROUGHPUT_KINDS:
                    SAMPLES.clear()
                    out = _run([throughput_user(kind)], args.concurrency, args.concurrency * 4, args.seconds,
                               url, warmup=1.0, server_sids=[sid])
                    out.update(kind=kind, round=number, target=target, endpoint=THROUGHPUT_NAMES[kind])
                    result["rounds"].append(out)
    result["errors"] = [[name, status, n] for (name, status), n in ERRORS.items()]
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    write_counts(args.counts)


if __name__ == "__main__":
    main()
