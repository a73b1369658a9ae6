"""Redis, the broker, is frozen (SIGSTOP) while students upload models (issue #13).

A frozen Redis is worse than a stopped one: the kernel still accepts TCP connections, and a
command simply never gets an answer. Without socket timeouts every send waited forever, and
one sick broker froze uploads on the web side. Now every broker call has connect and socket
timeouts (``STRIDE_BROKER_SOCKET_TIMEOUT``) and the web side sends each task once.

The site runs as a real gunicorn server and a real worker beside it, on a Redis of this test's
own. The test freezes that Redis while N submissions arrive through the API. Asserted: every
upload is answered (202, ``queued``) within MAX_REQUEST_SECONDS (the issue's goal, on a quiet
machine), the rows are stored, and after SIGCONT the sweeper (called as Celery beat would) sends what was not sent and every
submission is graded, once.
"""
from __future__ import annotations

import os
import signal
import time

import pytest
import requests
from django.core.management import call_command

from tests.factories import PASSWORD, student
from tests.faults.support import gunicorn_site, report, site_env, sized, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.keras]

SUBMISSIONS = sized(12, 50)
MAX_REQUEST_SECONDS = 2.0
HEALTHY_UPLOADS = 3
SWEEP_EVERY = 2.0


def _token(base: str, username: str) -> str:
    response = requests.post(f"{base}/api/v1/auth/token", json={"username": username, "password": PASSWORD}, timeout=30)
    response.raise_for_status()
    return response.json()["token"]


def test_uploads_are_answered_at_once_while_redis_is_frozen(own_redis, worker_factory, transactional_db, settings,
                                                            model_files, tmp_path):
    from exercises.models import Attempt, Exercise, Submission
    from exercises.submissions.services import submissions_sweep
    from tests.conftest import database_url_of_test_db

    call_command("load_course", verbosity=0)
    exercise = Exercise.objects.get(slug="model-shapes-classifier")
    per_student = int(exercise.params["submissions_per_day"])
    total = 1 + HEALTHY_UPLOADS + SUBMISSIONS
    students = [student(exercise.course, username=f"frozen{i}") for i in range(-(-total // per_student))]
    worker = worker_factory(own_redis.url)
    env = site_env(database_url=database_url_of_test_db(), broker_url=own_redis.url,
                   STRIDE_VAR_DIR=str(settings.VAR_DIR), DJANGO_MEDIA_ROOT=str(settings.MEDIA_ROOT))
    model = model_files["small"].read_bytes()

    with gunicorn_site(env=env, log=tmp_path / "site.log") as base:
        sessions = []
        for user in students:
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {_token(base, user.username)}"
            sessions.append(session)
        upload_url = f"{base}/api/v1/exercises/{exercise.pk}/submissions"

        def upload(session) -> tuple[int, dict, float]:
            t0 = time.monotonic()
            response = session.post(upload_url, files={"file": ("model.keras", model)}, timeout=60)
            return response.status_code, response.json(), time.monotonic() - t0

        # The path works before the fault (and the site's connections to Redis are open).
        code, body, _ = upload(sessions[0])
        assert code == 202, body
        first = body["submission_id"]
        wait_until(lambda: Submission.objects.get(pk=first).status == "done", timeout=120, interval=0.2,
                   what="the first model graded")
        # The same uploads with Redis healthy, in the same run: on a loaded machine (CI beside
        # other work) an upload can take over a second by itself, and a frozen broker may only
        # add the send's deadline to it, never hang the request.
        healthy = [upload(sessions[(1 + i) // per_student]) for i in range(HEALTHY_UPLOADS)]
        assert [code for code, *_ in healthy] == [202] * HEALTHY_UPLOADS, healthy
        bound = max(MAX_REQUEST_SECONDS,
                    max(seconds for *_, seconds in healthy) + settings.STRIDE_BROKER_SEND_SECONDS + 0.5)

        os.kill(own_redis.proc.pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        try:
            uploads = [upload(sessions[(i + 1 + HEALTHY_UPLOADS) // per_student]) for i in range(SUBMISSIONS)]
            healthz = sessions[0].get(f"{base}/healthz", timeout=60).status_code
        finally:
            frozen = time.monotonic() - frozen_at
            os.kill(own_redis.proc.pid, signal.SIGCONT)
        thawed_at = time.monotonic()

        slowest = max(seconds for *_, seconds in uploads)
        assert [code for code, *_ in uploads] == [202] * SUBMISSIONS, uploads
        assert {body["status"] for _, body, _ in uploads} == {"queued"}, uploads
        assert slowest < bound, (f"an upload took {slowest:.2f}s while Redis was frozen (bound {bound:.2f}s; healthy: "
                                 f"{[round(s, 2) for *_, s in healthy]}): {[round(s, 2) for *_, s in uploads]}")
        assert healthz == 200
        ids = [first] + [body["submission_id"] for _, body, _ in healthy + uploads]
        rows = Submission.objects.filter(pk__in=ids)
        sweeps = 0

        def all_done():
            nonlocal sweeps
            left = rows.exclude(status="done")
            if not left.exists():
                return True
            if left.filter(status__in=("failed", "rejected")).exists():
                raise AssertionError(list(left.values("pk", "status", "feedback")))
            submissions_sweep()
            sweeps += 1
            return False

        try:
            wait_until(all_done, timeout=120 + 3 * SUBMISSIONS, interval=SWEEP_EVERY,
                       what="the submissions graded after SIGCONT")
        except TimeoutError as exc:
            left = list(rows.exclude(status="done").values_list("pk", "status", "enqueued_at", "tries"))
            raise AssertionError(f"{exc}; {sweeps} sweeps; not done (pk, status, enqueued_at, tries): {left}; "
                                 f"worker alive: {worker.poll() is None}; worker log:\n"
                                 f"{worker.log_path.read_text(errors='replace')[-6000:]}") from exc
        recovered = time.monotonic() - thawed_at

    assert worker.poll() is None, "the worker must survive a frozen broker"
    assert rows.count() == len(ids)
    for pk in ids:
        assert Attempt.objects.filter(exercise=exercise, answer={"submission_id": pk}).count() == 1, pk
    report(f"redis frozen (SIGSTOP) {frozen:.1f}s: {SUBMISSIONS} uploads, all 202 and queued, slowest "
           f"{slowest:.2f}s, mean {sum(s for *_, s in uploads) / SUBMISSIONS:.2f}s; after SIGCONT all "
           f"{len(ids)} graded once in {recovered:.1f}s ({sweeps} sweeps)")
