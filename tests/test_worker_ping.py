"""The ping round trip through a real worker process, on both brokers, by the task's name and by
the name it had before the rename (a message queued by the older release during an upgrade)."""
from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from tests.procs import celery_worker, client_app

pytestmark = pytest.mark.worker
STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()


def _round_trip(broker_url: str, var_dir: Path, monkeypatch) -> None:
    # Celery lets the CELERY_BROKER_URL variable override any configured broker: point it here.
    monkeypatch.setenv("CELERY_BROKER_URL", broker_url)
    monkeypatch.delenv("CELERY_RESULT_BACKEND", raising=False)
    with celery_worker(broker_url=broker_url, var_dir=var_dir, queues="default"):
        client = client_app(broker_url, var_dir)
        result = client.send_task("workers.tasks.ping", args=["hello"], queue="default").get(timeout=30)
        legacy = client.send_task("stride.ping", args=["from before"], queue="default").get(timeout=30)
    assert result["pong"] == "hello" and legacy["pong"] == "from before"
    # The worker imports Django and the apps: platform must still be the standard library there.
    assert Path(result["platform_module"]).resolve().parent == STDLIB


def test_ping_through_a_worker_on_the_filesystem_broker(tmp_path, monkeypatch):
    _round_trip("filesystem://", tmp_path / "var", monkeypatch)


def test_ping_through_a_worker_on_redis(redis_broker_url, tmp_path, monkeypatch):
    _round_trip(redis_broker_url, tmp_path / "var", monkeypatch)


def test_the_two_queues_never_share_a_binding():
    from workers import app

    bindings = {(q.exchange.name, q.routing_key) for q in app.conf.task_queues}
    assert len(bindings) == len(app.conf.task_queues) == 2
    assert app.amqp.router.route({}, "workers.tasks.ping")["queue"].name == "default"
