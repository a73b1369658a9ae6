import os
from pathlib import Path

import pytest
from django.core.servers.basehttp import ThreadedWSGIServer

# Django's live server listens with a backlog of 10: the race tests open 25 connections at the
# same instant, and on a busy machine the kernel reset the ones the full accept queue could not
# hold ("Connection reset by peer", never reaching Stride). gunicorn's backlog is 2048.
ThreadedWSGIServer.request_queue_size = 128


def redis_url() -> str | None:
    """The Redis the test command found; required in CI."""
    url = os.environ.get("STRIDE_TEST_REDIS_URL")
    if not url and os.environ.get("CI") == "true":
        pytest.fail("CI=true but no Redis URL: run the tests through bin/test or .ci/run")
    return url


@pytest.fixture
def redis_broker_url():
    url = redis_url()
    if not url:
        pytest.skip("Redis is not running here; CI runs this test against it")
    return url


def database_url_of_test_db() -> str:
    """The URL of the database pytest-django created, for a worker process to share it."""
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or "postgres"
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


@pytest.fixture
def live_worker(transactional_db, settings, tmp_path):
    """A real Celery worker (both queues) on the test database, broker and media folder."""
    from tests.procs import celery_worker

    with celery_worker(
        broker_url=settings.CELERY_BROKER_URL,
        var_dir=Path(settings.VAR_DIR),
        database_url=database_url_of_test_db(),
        log=tmp_path / "worker.log",
        DJANGO_MEDIA_ROOT=str(settings.MEDIA_ROOT),
    ) as proc:
        proc.log_path = tmp_path / "worker.log"
        yield proc


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """One SeaweedFS S3 server for the session (about 5 s to start); required with CI=true."""
    from tests.s3 import seaweedfs

    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as store:
        yield store


@pytest.fixture
def s3_store(s3_server, settings):
    """A fresh private bucket, made this process's default storage (the STORAGES the settings
    build from STRIDE_S3_*); the variables to give a web or worker process are ``.env()``."""
    from tests.s3 import new_bucket

    store = new_bucket(s3_server)
    settings.STORAGES = {**settings.STORAGES, "default": store.storage_options()}
    return store
