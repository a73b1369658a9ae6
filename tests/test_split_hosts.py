"""The web side and a GPU worker on different hosts (issue #13): nothing shared but PostgreSQL,
Redis and an S3 store.

The site runs as a real gunicorn server and the worker as a real Celery process, each with its
own working directory, its own ``var/`` and media folder and its own temporary folder, and a
Redis and a SeaweedFS of this test's own between them. A student uploads a model through the
API (graded against a teacher's hidden test set that only the store holds) and asks for a
generation; both finish ``done``; the pictures are served to their owner, to nobody else, and
never by the store itself (the bucket is private). Neither host keeps a file of its own.

The same test runs the worker on Keras' TensorFlow backend (the CPU default) and on JAX (the
GPU hosts' backend, on the CPU here): the GPU path is the tested path with another device.
"""
from __future__ import annotations

import io
import re
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from PIL import Image

from tests.factories import PASSWORD, student, teacher
from tests.faults.support import RedisServer, gunicorn_site, site_env

pytestmark = [pytest.mark.worker, pytest.mark.keras]


def _model_bytes(tmp_path: Path) -> bytes:
    import keras

    from grader.datasets import DATASETS

    spec = DATASETS["shapes32"]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(shape=tuple(spec.input_shape)),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(len(spec.class_names), activation="softmax"),
    ])
    path = tmp_path / "model.keras"
    model.save(path)
    return path.read_bytes()


def _api(base: str, username: str) -> requests.Session:
    session = requests.Session()
    token = session.post(f"{base}/api/v1/auth/token", json={"username": username, "password": PASSWORD}, timeout=30)
    token.raise_for_status()
    session.headers["Authorization"] = f"Bearer {token.json()['token']}"
    return session


def _browser(base: str, username: str) -> requests.Session:
    """A logged-in browser session (the picture views are pages, behind the login)."""
    session = requests.Session()
    page = session.get(f"{base}/accounts/login/", timeout=30)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    done = session.post(f"{base}/accounts/login/", data={"username": username, "password": PASSWORD,
                                                         "csrfmiddlewaretoken": csrf},
                        headers={"Referer": f"{base}/accounts/login/"}, timeout=30, allow_redirects=False)
    assert done.status_code == 302, done.text[:500]
    return session


def _finished(session: requests.Session, url: str, timeout: float) -> dict:
    deadline, body = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        body = session.get(url, timeout=30).json()
        if body["status"] not in ("queued", "running"):
            return body
        time.sleep(0.3)
    raise AssertionError(f"{url} not finished after {timeout}s: {body}")


def _png(response: requests.Response) -> np.ndarray:
    assert response.status_code == 200, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)))


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_web_and_worker_share_only_postgres_redis_and_s3(backend, s3_store, transactional_db, tmp_path):
    from exercises.models import Exercise, Generation, Submission
    from exercises.submissions.datasets import hidden_test_set_upload
    from grader.datasets import generate
    from tests.conftest import database_url_of_test_db
    from tests.procs import celery_worker

    if backend == "jax":
        pytest.importorskip("jax", reason="the ml extra installs jax; CI has it")
    call_command("load_course", verbosity=0)
    exercise = Exercise.objects.get(slug="model-shapes-classifier")
    course = exercise.course
    ana, prof = student(course, username="ana"), teacher(course, username="prof")
    student(course, username="bob")
    # The teacher's own hidden test set: stored in the bucket, so the worker can only fetch it from there.
    x, y = generate(exercise.params["dataset"], n=120, seed=4242)
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)
    hidden = hidden_test_set_upload(exercise=exercise, user=prof,
                                    upload=SimpleUploadedFile("hidden.npz", buffer.getvalue()))
    assert s3_store.keys("testsets/") == [hidden.file.name]

    web_host, worker_host = tmp_path / "web-host", tmp_path / "worker-host"
    for host in (web_host, worker_host):
        (host / "tmp").mkdir(parents=True)
    # The worker's sandbox scratch root lives under worker-host/tmp: the jail's unprivileged uid
    # must be able to traverse the folders above it (pytest makes them private), as it can /tmp.
    for folder in (*reversed(worker_host.parents[:len(worker_host.relative_to("/").parts) - 1]), worker_host,
                   worker_host / "tmp"):
        if folder.is_relative_to(tmp_path.parent.parent):
            folder.chmod(folder.stat().st_mode | 0o011)
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    database_url = database_url_of_test_db()
    try:
        with celery_worker(broker_url=redis.url, var_dir=worker_host / "var", database_url=database_url,
                           log=tmp_path / "worker.log", cwd=worker_host, queues="gpu",
                           DJANGO_MEDIA_ROOT=str(worker_host / "media"),
                           STRIDE_SANDBOX_DIR=str(worker_host / "tmp"), KERAS_BACKEND=backend, **s3_store.env()), \
                gunicorn_site(env=site_env(database_url=database_url, broker_url=redis.url,
                                           STRIDE_VAR_DIR=str(web_host / "var"),
                                           DJANGO_MEDIA_ROOT=str(web_host / "media"), TMPDIR=str(web_host / "tmp"),
                                           **s3_store.env()),
                              log=tmp_path / "site.log") as base:
            as_ana, as_bob = _api(base, "ana"), _api(base, "bob")
            upload = as_ana.post(f"{base}/api/v1/exercises/{exercise.pk}/submissions",
                                 files={"file": ("mine.keras", _model_bytes(tmp_path))}, timeout=60)
            assert upload.status_code == 202, upload.text
            generation = as_ana.post(f"{base}/api/v1/courses/{course.slug}/generations",
                                     json={"prompt": "banane verte", "steps": 10, "seed": 3, "guidance": 3}, timeout=60)
            assert generation.status_code == 202, generation.text
            submission_id, generation_id = upload.json()["submission_id"], generation.json()["generation_id"]

            graded = _finished(as_ana, f"{base}/api/v1/submissions/{submission_id}", timeout=300)
            made = _finished(as_ana, f"{base}/api/v1/generations/{generation_id}", timeout=300)
            worker_log = (tmp_path / "worker.log").read_text()[-4000:]
            assert graded["status"] == "done", (graded, worker_log)
            assert made["status"] == "done", (made, worker_log)
            # Graded on the teacher's set, which the worker could only have read from the store.
            assert graded["metrics"]["n_test"] == 120
            # The device and the time on it are recorded (the CPU here; gpu:0 on a GPU host), and
            # the batch ran on the backend the worker was given.
            assert graded["device"] == "cpu" and graded["device_seconds"] > 0, graded
            assert made["device"] == "cpu" and made["device_seconds"] > 0, made
            assert f"'backend': '{backend}'" in worker_log, worker_log

            # The pictures: to their owner, and to nobody else.
            ana_browser, bob_browser = _browser(base, "ana"), _browser(base, "bob")
            confusion = f"{base}/submissions/{submission_id}/confusion.png"
            assert _png(ana_browser.get(confusion, timeout=30)).ndim == 3
            assert bob_browser.get(confusion, timeout=30).status_code == 404
            image = _png(ana_browser.get(f"{base}{made['image_url']}", timeout=30))
            assert image.shape[:2] == (32, 32)
            frame = _png(ana_browser.get(f"{base}{made['trajectory_urls'][0]}", timeout=30))
            assert frame.shape[:2] == (32, 32)
            assert bob_browser.get(f"{base}{made['image_url']}", timeout=30).status_code == 404
            assert as_bob.get(f"{base}/api/v1/generations/{generation_id}", timeout=30).status_code == 404
            anonymous = requests.get(f"{base}{made['image_url']}", timeout=30, allow_redirects=False)
            assert anonymous.status_code in (302, 401, 403)
    finally:
        redis.stop()

    # Everything is in the bucket, under the student's folders...
    sub, gen = Submission.objects.get(pk=submission_id), Generation.objects.get(pk=generation_id)
    keys = s3_store.keys()
    assert sub.file.name in keys and sub.file.name.startswith(f"submissions/{ana.pk}/")
    assert sub.file.name.removesuffix(".keras") + "-confusion.png" in keys
    for name in (gen.image.name, gen.trajectory.name, gen.predictions.name):
        assert name in keys and name.startswith(f"generations/{ana.pk}/")
    # ...the bucket is private (no anonymous read of a picture)...
    assert requests.get(f"{s3_store.endpoint_url}/{s3_store.bucket}/{gen.image.name}", timeout=30).status_code == 403
    # ...and neither host kept a file of its own: no shared disk was ever needed.
    assert _files_under(web_host / "media") == [] and _files_under(worker_host / "media") == []
    for host in (web_host, worker_host):
        kept = [p for p in _files_under(host) if p.suffix in (".keras", ".png")]
        assert kept == [], kept
