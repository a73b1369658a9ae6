"""The Redis transport, with an acknowledgement that cannot wedge the worker.

A worker acks each task late, with a prefetch of 1. kombu's Redis ``QoS.ack`` first removes the
message from Redis's ``unacked`` index and only then forgets the delivery; when Redis is frozen
(SIGSTOP, dropped packets) at that moment, the removal times out, the delivery is never
forgotten, and the worker believes it still holds a task: with a prefetch of 1 it never asks
for another one. Nothing was logged after ``Couldn't ack`` and every later submission stayed
``queued`` (tests/faults/test_redis_frozen.py; celery/celery#2415).

Here the delivery is forgotten whatever Redis answered. The message left in the ``unacked``
index comes back after the visibility timeout, and its task finds its row already claimed and
finished (a row is graded once), so the cost is one empty redelivery.

Selected in ``workers/celery.py`` for ``redis://`` brokers (``broker_transport``).
"""
from __future__ import annotations

import logging

from kombu.transport import redis, virtual

log = logging.getLogger(__name__)


class QoS(redis.QoS):
    def ack(self, delivery_tag):
        try:
            self._remove_from_indices(delivery_tag).execute()
        except Exception:  # any broker error: the delivery is forgotten all the same
            log.warning("could not remove task %s from the broker's unacked index; it comes back after the "
                        "visibility timeout and finds its row done", delivery_tag, exc_info=True)
        virtual.QoS.ack(self, delivery_tag)


class Channel(redis.Channel):
    QoS = QoS


class Transport(redis.Transport):
    Channel = Channel
