"""Start real processes for integration tests: a Celery worker, and the web server.

They listen on loopback only, and every wait is bounded.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from celery import Celery

ROOT = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).with_name("celery"))


def broker_options(broker_url: str, var_dir: Path) -> dict:
    """The Celery settings a client needs to talk to the same broker as a worker."""
    if broker_url.startswith("filesystem://"):
        queue = var_dir / "broker" / "queue"
        processed = var_dir / "broker" / "processed"
        for folder in (queue, processed, var_dir / "celery-results"):
            folder.mkdir(parents=True, exist_ok=True)
        return {
            "broker_url": broker_url,
            "broker_transport_options": {
                "data_folder_in": str(queue),
                "data_folder_out": str(queue),
                "processed_folder": str(processed),
                "control_folder": str(var_dir / "broker" / "control"),
                "store_processed": False,
                "polling_interval": 0.05,
            },
            "result_backend": f"file://{var_dir / 'celery-results'}",
        }
    return {"broker_url": broker_url, "result_backend": broker_url}


def client_app(broker_url: str, var_dir: Path) -> Celery:
    app = Celery("stride-test-client", set_as_current=False)
    app.conf.update(broker_options(broker_url, var_dir), task_serializer="json", accept_content=["json"])
    return app


def worker_env(*, broker_url: str, var_dir: Path, database_url: str | None = None, **extra: str) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "CELERY_BROKER_URL": broker_url,
        "STRIDE_VAR_DIR": str(var_dir),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    if database_url:
        env["DATABASE_URL"] = database_url
    if not broker_url.startswith("filesystem://"):
        env["CELERY_RESULT_BACKEND"] = broker_url
    else:
        env.pop("CELERY_RESULT_BACKEND", None)
    return env


@contextlib.contextmanager
def celery_worker(*, broker_url: str, var_dir: Path, queues: str = "default,gpu", database_url: str | None = None,
                  log: Path | None = None, ready_timeout: float = 60, cwd: Path | None = None, **extra: str):
    """A real ``celery -A workers worker`` process, stopped (then killed) on exit.

    ``cwd``: run it from another folder than the checkout (a worker "on another host"); the
    code is then found through PYTHONPATH, as an installed worker would find it."""
    var_dir.mkdir(parents=True, exist_ok=True)
    log = log or var_dir / "worker.log"
    env = worker_env(broker_url=broker_url, var_dir=var_dir, database_url=database_url, **extra)
    if cwd is not None:
        cwd.mkdir(parents=True, exist_ok=True)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "platform")])
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [CELERY, "-A", "workers", "worker", "-Q", queues, "--concurrency", "1", "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"test-{os.getpid()}-{time.time_ns()}@%h"],
            cwd=cwd or ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            if b"ready." in log.read_bytes():
                break
            time.sleep(0.2)
        else:
            raise TimeoutError(f"worker not ready after {ready_timeout}s:\n{log.read_text()[-3000:]}")
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen, grace: float = 10) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def wait_until_finished(client, url: str, *, timeout: float) -> dict:
    """Poll an API status URL (a submission, a generation) until it leaves queued/running; the
    body, with ``seen``: every status it went through."""
    seen, deadline = set(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(url).json()
        seen.add(body["status"])
        if body["status"] not in ("queued", "running"):
            body["seen"] = seen
            return body
        time.sleep(0.1)
    raise AssertionError(f"{url} not finished in {timeout}s (seen {seen})")
