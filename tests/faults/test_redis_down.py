"""Redis, the broker, is down while students upload models (issue #7, "Redis down").

The site runs as a real gunicorn server and a real worker runs beside it, both on a Redis of
this test's own. The test stops that Redis for OUTAGE seconds while N submissions arrive
through the API, spread over the outage, with the status page and /healthz asked between them.

Asserted: the site keeps answering, no request takes more than MAX_REQUEST_SECONDS, every
upload is accepted (202) and stored ``queued``. Then Redis starts again (empty: no
persistence, like a crashed broker), the worker reconnects by itself, and the sweeper (called
every SWEEP_EVERY seconds, as Celery beat would) sends the rows again: every one is graded,
once.
"""
from __future__ import annotations

import time

import pytest
import requests
from django.core.management import call_command

from tests.factories import PASSWORD, student
from tests.faults.support import gunicorn_site, report, site_env, sized, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.keras]

OUTAGE = sized(8, 30)  # seconds
SUBMISSIONS = sized(10, 50)
MAX_REQUEST_SECONDS = 5.0
SWEEP_EVERY = 2.0


def _token(base: str, username: str) -> str:
    response = requests.post(f"{base}/api/v1/auth/token", json={"username": username, "password": PASSWORD}, timeout=30)
    response.raise_for_status()
    return response.json()["token"]


def test_uploads_are_accepted_while_redis_is_down_and_graded_after(own_redis, worker_factory, transactional_db,
                                                                     settings, model_files, tmp_path):
    from exercises.models import Attempt, Exercise, Submission
    from exercises.submissions.services import submissions_sweep
    from tests.conftest import database_url_of_test_db

    call_command("load_course", verbosity=0)
    exercise = Exercise.objects.get(slug="model-shapes-classifier")
    per_student = int(exercise.params["submissions_per_day"])
    # Within each student's daily quota: one upload before the outage, SUBMISSIONS during, one after.
    students = [student(exercise.course, username=f"upload{i}") for i in range(-(-(SUBMISSIONS + 2) // per_student))]
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

        # The path works before the fault: one model is graded.
        code, body, _ = upload(sessions[0])
        assert code == 202 and body["status"] == "queued", body
        first = body["submission_id"]
        wait_until(lambda: Submission.objects.get(pk=first).status == "done", timeout=120, interval=0.2,
                   what="the first model graded")

        own_redis.stop()
        down_at = time.monotonic()
        uploads, others = [], []
        for i in range(SUBMISSIONS):
            time.sleep(max(0.0, down_at + i * OUTAGE * 0.9 / SUBMISSIONS - time.monotonic()))
            code, body, seconds = upload(sessions[(i + 1) // per_student])
            uploads.append((code, body, seconds))
            # The rest of the site keeps answering too.
            for path in ("/healthz", f"/api/v1/submissions/{first}"):
                t0 = time.monotonic()
                status = sessions[0].get(f"{base}{path}", timeout=60).status_code
                others.append((path, status, time.monotonic() - t0))
        time.sleep(max(0.0, down_at + OUTAGE - time.monotonic()))
        outage = time.monotonic() - down_at
        own_redis.start()
        up_at = time.monotonic()

        slowest = max(seconds for *_, seconds in uploads)
        assert [code for code, *_ in uploads] == [202] * SUBMISSIONS, uploads
        assert {body["status"] for _, body, _ in uploads} == {"queued"}, uploads
        assert slowest < MAX_REQUEST_SECONDS, f"an upload took {slowest:.1f}s while Redis was down"
        assert all(status == 200 for _, status, _ in others), others
        assert max(seconds for *_, seconds in others) < MAX_REQUEST_SECONDS, others
        ids = [body["submission_id"] for _, body, _ in uploads]
        rows = Submission.objects.filter(pk__in=ids)
        assert rows.count() == SUBMISSIONS and set(rows.values_list("status", flat=True)) == {"queued"}
        # Not sent (the broker was down): the sweeper knows to send these.
        assert not rows.filter(enqueued_at__isnull=False).exists()

        # Redis is back, empty. The site sends new work at once, with no restart...
        code, body, seconds = upload(sessions[-1])
        assert code == 202 and seconds < MAX_REQUEST_SECONDS, (code, body, seconds)
        after = Submission.objects.get(pk=body["submission_id"])
        assert after.enqueued_at is not None, "the site did not reconnect to Redis by itself"
        ids = [*ids, after.pk]
        rows = Submission.objects.filter(pk__in=ids)
        # ...the sweeper sends the rest again, and the worker reconnects by itself.
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

        wait_until(all_done, timeout=120 + 2 * SUBMISSIONS, interval=SWEEP_EVERY,
                   what="the submissions graded after the outage")
        recovered = time.monotonic() - up_at

    assert worker.poll() is None, "the worker must survive the outage"
    assert rows.count() == SUBMISSIONS + 1 and set(rows.values_list("tries", flat=True)) == {1}
    for pk in ids:
        assert Attempt.objects.filter(exercise=exercise, answer={"submission_id": pk}).count() == 1, pk
    report(f"redis down {outage:.1f}s: {SUBMISSIONS} uploads, all 202 and queued, slowest upload {slowest:.2f}s, "
           f"mean {sum(s for *_, s in uploads) / SUBMISSIONS:.2f}s; {len(others)} other requests all 200, slowest "
           f"{max(s for *_, s in others):.2f}s; after restart: a new upload sent at once, and all {SUBMISSIONS + 1} "
           f"graded once in {recovered:.1f}s "
           f"({sweeps} sweeps)")
