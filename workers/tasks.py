"""Thin tasks: they take ids, fetch rows and call services."""
from __future__ import annotations

import os
import platform
import socket

from celery import shared_task


@shared_task(name="stride.ping", queue="default")
def ping(payload: str = "ping") -> dict:
    """The round trip through the broker and a real worker; also reports the worker's view of
    ``platform`` so a test can prove it is the standard library there too."""
    return {
        "pong": payload,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "platform_module": getattr(platform, "__file__", ""),
        "python": platform.python_version(),
    }
