"""A worker whose ack meets a frozen Redis keeps consuming (workers/broker.py).

Celery acks a task late, with a prefetch of 1. With kombu's stock Redis transport, an ack that
times out (Redis frozen by SIGSTOP at that moment) leaves the delivery counted as unacked, and
the worker never fetches another task (celery/celery#2415): every later submission stayed
``queued`` in tests/faults/test_redis_frozen.py. The stock transport is the control here: the
same steps wedge it, and Stride's transport frees the slot.
"""
from __future__ import annotations

import logging
import os
import signal

import pytest
from kombu import Connection, Queue

from tests.faults.support import RedisServer

pytestmark = [pytest.mark.faults]


@pytest.mark.parametrize(("transport", "consumes_after"), [("redis", False), ("workers.broker:Transport", True)],
                         ids=["kombu-stock-control", "stride"])
def test_an_ack_that_times_out_frees_the_prefetch_slot(tmp_path, transport, consumes_after):
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    try:
        options = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
        with Connection(redis.url, transport=transport, transport_options=options) as conn:
            queue = Queue("acks", routing_key="acks")
            with conn.Producer() as producer:
                producer.publish({"n": 1}, routing_key="acks", declare=[queue])
            channel = conn.channel()
            channel.basic_qos(0, 1, False)  # a prefetch of 1, as the workers run
            received = []
            with conn.Consumer(queue, channel=channel, callbacks=[lambda body, message: received.append(message)]):
                conn.drain_events(timeout=5)
                assert len(received) == 1
                assert not channel.qos.can_consume(), "one task held: the slot is taken"
                os.kill(redis.proc.pid, signal.SIGSTOP)
                try:
                    # What Celery's request does on success (logs, never raises).
                    received[0].ack_log_error(logging.getLogger("test"), (Exception,))
                finally:
                    os.kill(redis.proc.pid, signal.SIGCONT)
                assert channel.qos.can_consume() is consumes_after
    finally:
        redis.stop()
