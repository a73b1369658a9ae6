"""``make run``: production mode on the embedded defaults, for one machine serving a class.

SQLite, the filesystem broker and local files (base.py), with ``DEBUG`` off, gunicorn, static
files through whitenoise, and the security settings that make sense on plain HTTP on a LAN:

- no HTTPS redirect, no HSTS and no ``Secure`` cookies: there is no certificate, and a browser
  would drop a ``Secure`` cookie sent over HTTP (nobody could log in). Django's four HTTPS
  deploy checks are silenced for that reason only (below); every other one still applies;
- HttpOnly session cookie, ``SameSite=Lax`` cookies, ``X-Frame-Options: DENY``, ``nosniff``,
  ``Referrer-Policy: same-origin`` (base.py);
- a secret key generated once into ``var/secret_key`` (mode 0600, never committed: ``var/`` is
  git-ignored), unless ``DJANGO_SECRET_KEY`` gives one;
- ``ALLOWED_HOSTS`` from ``DJANGO_ALLOWED_HOSTS``; by default this machine's loopback names, and
  when ``make run`` listens on the network (``STRIDE_BIND=0.0.0.0``) also its host name and
  addresses, so that students can type the URL the first screen prints.

The demo accounts are allowed here (``make run`` prints how to remove them); the production
settings of a real deployment (``production.py``) refuse them.
"""
from __future__ import annotations

import os
import secrets
import socket

from .base import *  # noqa: F403
from .base import LOGGING, STORAGES, VAR_DIR, env

DEBUG = False

SECRET_KEY_FILE = VAR_DIR / "secret_key"


def secret_key_load_or_create(path=SECRET_KEY_FILE) -> str:
    """The key in ``path``, written there once (0600) if missing.

    gunicorn's workers and the Celery worker import the settings at the same moment on a first
    run: the key is written to a private temporary file, then linked into place, which fails for
    all but the first; the others read the winner's key. Nobody ever reads a half-written file.
    """
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    if key:
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(50) + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)
    return path.read_text().strip()


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or secret_key_load_or_create()

BIND = env.str("STRIDE_BIND", default="127.0.0.1")
LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]"]


def lan_hosts() -> list[str]:
    """This machine's names and IPv4 addresses, as a student's browser would send them."""
    names = {socket.gethostname()}
    names.add(f"{socket.gethostname().split('.')[0]}.local")  # mDNS (Avahi, Bonjour)
    try:
        names.update(socket.gethostbyname_ex(socket.gethostname())[2])
    except OSError:
        pass
    # The address of the interface that routes out; a UDP "connection" sends no packet.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            names.add(probe.getsockname()[0])
        except OSError:
            pass
    return sorted(name for name in names if name and not name.startswith("127."))


if BIND in ("127.0.0.1", "localhost", "::1"):
    _default_hosts = LOOPBACK_HOSTS
else:
    _default_hosts = LOOPBACK_HOSTS + lan_hosts()
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=_default_hosts)

# Plain HTTP on a LAN: see the docstring. Put Stride behind HTTPS with production.py instead.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SILENCED_SYSTEM_CHECKS = [
    "security.W004",  # SECURE_HSTS_SECONDS: HSTS is for HTTPS sites
    "security.W008",  # SECURE_SSL_REDIRECT: there is no HTTPS to redirect to
    "security.W012",  # SESSION_COOKIE_SECURE: a Secure cookie is never sent back over HTTP
    "security.W016",  # CSRF_COOKIE_SECURE: likewise
]
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# A class's session: a student stays logged in for the day, not for two weeks on a shared PC.
SESSION_COOKIE_AGE = env.int("DJANGO_SESSION_COOKIE_AGE", default=12 * 3600)

# Static files are collected by `make run` (collectstatic) and served by whitenoise with
# content-hashed names and far-future cache headers.
WHITENOISE_USE_FINDERS = False
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}

# The terminal shows what a teacher can act on: warnings and errors.
# A 404 is a student's typo, not something to act on: django.request logs errors (500s) only.
LOGGING = {
    **LOGGING,
    "root": {**LOGGING["root"], "level": env.str("DJANGO_LOG_LEVEL", default="WARNING")},
    "loggers": {**LOGGING["loggers"], "django.request": {"level": "ERROR"}},
}

# Demo accounts are allowed in this mode: `make run` creates them on a first run and says how
# to remove them.
STRIDE_DEMO_ACCOUNTS = True

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # BEGIN IMMEDIATE: a transaction takes SQLite's write lock when it starts, so a concurrent
    # writer waits for the busy timeout. With the default (deferred) a transaction that read
    # first and then writes fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT: the
    # timeout does not apply), which the attempt service turns into a 409: 17 % of the answers
    # of 30 students were refused that way before this (docs/performance.md).
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"  # noqa: F405
