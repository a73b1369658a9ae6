"""Tests: fast hashing, and whatever DATABASE_URL / CELERY_BROKER_URL the test command chose."""
from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": media_storage(),  # noqa: F405 (the filesystem, or the S3 store a test started)
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# A test database of this run's own, so two runs on one PostgreSQL never drop each other's.
import os  # noqa: E402

if DATABASES["default"]["ENGINE"].endswith("postgresql"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": f"test_stride_{os.getpid()}"}  # noqa: F405
else:
    # A file, not SQLite's in-memory default, so that a real worker process can share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}  # noqa: F405
