"""What every long-running Stride process sets up before it writes a file.

``private_files()``: files and folders Stride creates are its own (``umask 077``): the SQLite
database, uploads, generated pictures, cached hidden test sets, the secret key, beat's
schedule. Nothing it writes is readable by another local user, a model's jail included (which
runs under a uid of its own). Called by ``manage.py``, the WSGI/ASGI entry points and Celery's
worker and beat at start; the test process itself keeps the umask it was given.
"""
from __future__ import annotations

import os

PRIVATE_UMASK = 0o077


def private_files() -> int:
    """Make every file this process creates private from now on; returns the umask it replaced."""
    return os.umask(PRIVATE_UMASK)
