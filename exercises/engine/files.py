"""Files through Django's storage API, whatever the store (DESIGN.md, "How data flows").

The default storage is the local filesystem under ``var/`` or an S3-compatible store
(``STRIDE_S3_*`` in ``config.settings.base``). No code path may assume that the web side and a
worker share a folder: what needs a real file on disk (the intake checks, the sandbox, NumPy's
loader) works on a local copy made here, in this process's own temporary folder.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.files.storage import Storage

CHUNK = 1 << 20


def _storage_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError]
    try:
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # the filesystem store alone: boto3 is not installed
        return tuple(errors)
    return (*errors, BotoCoreError, ClientError, Boto3Error)


# What a store raises when it is full, unreachable or refuses a request.
STORAGE_ERRORS = _storage_errors()


@contextlib.contextmanager
def storage_local_copy(*, storage: Storage, name: str, filename: str = "file") -> Iterator[Path]:
    """A private local copy of a stored file, removed on exit (a worker's scratch copy)."""
    with tempfile.TemporaryDirectory(prefix="stride-copy-") as folder:
        path = Path(folder) / filename
        with storage.open(name, "rb") as source, open(path, "wb") as target:
            shutil.copyfileobj(source, target, CHUNK)
        yield path


@contextlib.contextmanager
def upload_local_path(upload) -> Iterator[Path]:
    """A path on disk for an uploaded file: Django's own temporary file when it made one,
    else a copy of the in-memory upload, removed on exit."""
    temporary = getattr(upload, "temporary_file_path", None)
    if temporary is not None:
        yield Path(temporary())
        return
    fd, name = tempfile.mkstemp(prefix="stride-upload-")
    try:
        with os.fdopen(fd, "wb") as target:
            for chunk in upload.chunks():
                target.write(chunk)
        upload.seek(0)
        yield Path(name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def storage_cached_copy(*, storage: Storage, name: str, key: str) -> Path:
    """A local copy of a stored file that never changes under ``key`` (a content hash), kept
    in this host's cache folder so that a worker downloads a hidden test set once, not once
    per submission. The copy is atomic: readers never see half a file."""
    folder = Path(settings.VAR_DIR) / "cache" / "stored"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / key
    if path.is_file():
        return path
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".partial-")
    try:
        with os.fdopen(fd, "wb") as target, storage.open(name, "rb") as source:
            shutil.copyfileobj(source, target, CHUNK)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return path
