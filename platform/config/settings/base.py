"""Settings shared by every environment, all read from the environment (django-environ).

Any variable ``X`` may instead be given as ``X_FILE``, the path of a file that holds its value
(Docker/compose secrets: ``DJANGO_SECRET_KEY_FILE=/run/secrets/django_secret_key``); the file
wins over ``X``, and its trailing newline is dropped. Secrets then never sit in a process's
environment (``/proc/PID/environ``), where anything running as the same user could read them.

The defaults are embedded so that a fresh checkout runs with no server to install:
SQLite under ``var/`` and a kombu ``filesystem://`` broker under ``var/broker``.
"""
from __future__ import annotations

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from environ.fileaware_mapping import FileAwareMapping

PLATFORM_DIR = Path(__file__).resolve().parents[2]
ROOT_DIR = PLATFORM_DIR.parent


class SecretFilesEnviron(FileAwareMapping):
    """django-environ's ``X_FILE`` lookup, with the file's trailing newline dropped (``echo`` and
    editors add one, and a URL or a password must not end with it) and an error that names the
    variable when the file cannot be read. Never cached: tests change the environment."""

    def __init__(self) -> None:
        super().__init__(cache=False)

    def __getitem__(self, key):
        path = self.env.get(key + "_FILE")
        if not path:
            return self.env[key]
        try:
            return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise ImproperlyConfigured(
                f"{key}_FILE={path}: the file that holds {key} cannot be read "
                f"({getattr(exc, 'strerror', None) or exc})") from exc


class SecretFilesEnv(environ.Env):
    ENVIRON = SecretFilesEnviron()


env = SecretFilesEnv()
environ.Env.read_env(ROOT_DIR / ".env", overwrite=False) if (ROOT_DIR / ".env").exists() else None

VAR_DIR = Path(env.str("STRIDE_VAR_DIR", default=str(ROOT_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="insecure-dev-key-change-me-in-production-0123456789")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "ninja",  # serves the API docs' Swagger UI from its own static files, not a CDN
    "config",
    "accounts",
    "courses",
    "gradebook",
    "exercises",
    "lti_tool",  # django-lti: LMS registrations, deployments, keys, LTI users, contexts, line items
    "lti",
]

MIDDLEWARE = [
    "config.middleware.RequestSizeLimitMiddleware",
    # Outermost but one: a database that drops for a moment is a 503 with Retry-After.
    "config.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.middleware.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Before X-Frame-Options in the list, so after it on the way out: an LTI-launched session's
    # pages may be framed by its LMS (frame-ancestors) instead of DENY.
    "lti.middleware.LtiFrameMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns lockouts into a clear 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PLATFORM_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "accounts.context_processors.roles",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'stride.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# The password apart from the URL, so that one secret file serves PostgreSQL
# (POSTGRES_PASSWORD_FILE) and Stride (DATABASE_PASSWORD_FILE): docker-compose.yml.
if env.str("DATABASE_PASSWORD", default=""):
    DATABASES["default"]["PASSWORD"] = env.str("DATABASE_PASSWORD")
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DJANGO_CONN_MAX_AGE", default=0))
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL and a busy timeout let the web process and the worker share the file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "courses:list"
LOGOUT_REDIRECT_URL = "accounts:login"

# django-axes: lock a username+IP pair after repeated failures, and an address after many
# failures over all usernames (accounts.lockout). The address is the client's as the trusted
# proxies pass it (accounts.client_ip): set STRIDE_TRUSTED_PROXY_COUNT to the number of reverse
# proxies in front of gunicorn (0: none, X-Forwarded-For is ignored).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "accounts.lockout.StrideAxesHandler"
AXES_CLIENT_IP_CALLABLE = "accounts.client_ip.client_ip_address"
STRIDE_TRUSTED_PROXY_COUNT = env.int("STRIDE_TRUSTED_PROXY_COUNT", default=0)
STRIDE_LOGIN_FAILURES_PER_ADDRESS = env.int("STRIDE_LOGIN_FAILURES_PER_ADDRESS", default=100)
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/lockout.html"
# JSON under /api/, the template elsewhere.
AXES_LOCKOUT_CALLABLE = "accounts.views.lockout_response"

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("Français")), ("en", _("English"))]
LOCALE_PATHS = [PLATFORM_DIR / "translations"]  # not "locale": a stdlib name
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="Europe/Paris")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STATICFILES_DIRS = [PLATFORM_DIR / "static"]
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Serve straight from the app folders when collectstatic has not run (a fresh checkout).
WHITENOISE_USE_FINDERS = True
# Uploads are private: they are served only through authenticated views, never MEDIA_URL.
MEDIA_ROOT = Path(env.str("DJANGO_MEDIA_ROOT", default=str(VAR_DIR / "media")))
# Every file Stride keeps (uploads, hidden test sets, pictures, generations) goes through the
# default storage: the local filesystem under MEDIA_ROOT by default, or any S3-compatible store
# (django-storages on boto3) when STRIDE_S3_ENDPOINT_URL and STRIDE_S3_BUCKET are set. Then the
# web side and the workers share nothing but PostgreSQL, Redis and that store (README, "Workers
# on other hosts"). The bucket stays private: pictures are still served by Stride's
# authenticated views, which read them through the storage API.
STRIDE_S3_ENDPOINT_URL = env.str("STRIDE_S3_ENDPOINT_URL", default="")
STRIDE_S3_BUCKET = env.str("STRIDE_S3_BUCKET", default="")
STRIDE_S3_ACCESS_KEY = env.str("STRIDE_S3_ACCESS_KEY", default="")
STRIDE_S3_SECRET_KEY = env.str("STRIDE_S3_SECRET_KEY", default="")
STRIDE_S3_REGION = env.str("STRIDE_S3_REGION", default="us-east-1")
# Seconds a store request may take before it fails (connect, then each read).
STRIDE_S3_TIMEOUT = env.float("STRIDE_S3_TIMEOUT", default=10.0)


def media_storage() -> dict:
    """The default storage: S3 when a bucket is configured, the filesystem otherwise."""
    if not (STRIDE_S3_ENDPOINT_URL or STRIDE_S3_BUCKET):
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    if not STRIDE_S3_BUCKET:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("STRIDE_S3_ENDPOINT_URL is set but STRIDE_S3_BUCKET is not: name the bucket.")
    from botocore.config import Config

    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": STRIDE_S3_BUCKET,
            "endpoint_url": STRIDE_S3_ENDPOINT_URL or None,
            "access_key": STRIDE_S3_ACCESS_KEY or None,
            "secret_key": STRIDE_S3_SECRET_KEY or None,
            "region_name": STRIDE_S3_REGION or None,
            "default_acl": None,  # objects inherit the bucket's (private) policy, never public-read
            "querystring_auth": True,  # url() is a short-lived signed URL, if anything ever asks for one
            "querystring_expire": 300,
            "file_overwrite": False,  # a name already taken gets a suffix, as on the filesystem
            "addressing_style": "path",  # MinIO, SeaweedFS and most self-hosted stores
            "signature_version": "s3v4",
            "client_config": Config(connect_timeout=STRIDE_S3_TIMEOUT, read_timeout=STRIDE_S3_TIMEOUT,
                                    retries={"max_attempts": 3, "mode": "standard"},
                                    signature_version="s3v4", s3={"addressing_style": "path"}),
        },
    }


STORAGES = {
    "default": media_storage(),
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# The hard ceiling of any request body (model uploads included); exercises set lower limits.
STRIDE_MAX_REQUEST_BYTES = env.int("STRIDE_MAX_REQUEST_BYTES", default=110 * 2**20)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Uploads (models, hidden test sets) and the pictures Stride stores are private to its user: a
# model's jail runs under another uid, and nobody else on the host reads them.
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # HTMX reads it to send X-CSRFToken.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- Celery (the app lives in workers/, configured from these) ---------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
# Seconds one broker call (connect, or a command's answer) may take; a healthy Redis answers in
# milliseconds. The web side sends each task once within this (exercises.jobs.send_task).
STRIDE_BROKER_SOCKET_TIMEOUT = env.float("STRIDE_BROKER_SOCKET_TIMEOUT", default=0.5)
# The most seconds a web request waits for one task to be sent, whatever the broker's client
# retries on its own; past it the row stays queued for the sweeper (exercises.jobs.send_task).
STRIDE_BROKER_SEND_SECONDS = env.float("STRIDE_BROKER_SEND_SECONDS", default=1.0)
BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),  # else kombu writes ./control in the cwd
        "store_processed": False,
        # Without a short interval every task waits about a second (DESIGN.md).
        "polling_interval": 0.05,
    }
    CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=f"file://{VAR_DIR / 'celery-results'}")
else:
    # A broker that is frozen (SIGSTOP, dropped packets) rather than down accepts the TCP
    # connection and never answers: without socket timeouts every send waited forever, and one
    # sick Redis froze uploads (docs/faults.md). Every broker and result call now gives up
    # after these, the row stays ``queued`` and the sweeper sends it again.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 3600,
        "socket_timeout": STRIDE_BROKER_SOCKET_TIMEOUT,
        "socket_connect_timeout": STRIDE_BROKER_SOCKET_TIMEOUT,
        "socket_keepalive": True,
        "health_check_interval": 25,
    }
    CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL)
    CELERY_REDIS_SOCKET_TIMEOUT = STRIDE_BROKER_SOCKET_TIMEOUT
    CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = STRIDE_BROKER_SOCKET_TIMEOUT
    CELERY_REDIS_SOCKET_KEEPALIVE = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A web request must never hang on a broker that is down: fail fast, the sweeper re-sends.
CELERY_BROKER_CONNECTION_TIMEOUT = STRIDE_BROKER_SOCKET_TIMEOUT
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2, "interval_max": 0.5}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# --- Stride's own settings: every STRIDE_* setting is declared here, read from the environment.
# Jobs are the rows a worker grades (model submissions, diffusion generations; exercises.jobs).
# A running job older than this has lost its worker: the sweeper puts it back in the queue.
STRIDE_JOB_STALE_SECONDS = env.int("STRIDE_JOB_STALE_SECONDS", default=CELERY_TASK_TIME_LIMIT + 30)
# A queued job whose message was sent this long ago may have lost it: the sweeper sends it again.
STRIDE_JOB_RESEND_SECONDS = env.int("STRIDE_JOB_RESEND_SECONDS", default=600)
# The most diffusion generations (of the same step count) that a worker runs as one batch.
STRIDE_DIFFUSION_BATCH = env.int("STRIDE_DIFFUSION_BATCH", default=16)
# Warm sandbox children a model worker keeps while submissions are queued (a deadline rush):
# as many as the queue, up to this; each holds about 0.2 GB once warm. 1 = one spare, as before.
# The extra ones warm up on cores the running job does not use: on 2 cores they slowed a rush
# down (docs/performance.md, "A deadline rush"), so the default keeps one spare there.
STRIDE_SANDBOX_SPARES_MAX = env.int("STRIDE_SANDBOX_SPARES_MAX",
                                    default=1 if (os.cpu_count() or 1) <= 2 else min(3, (os.cpu_count() or 1) // 2))
# Worker device-seconds (GPU or CPU) per student, course and 24 hours, for gradings and
# generations together, when a course sets none of its own; 0 is no limit (exercises.jobs).
STRIDE_DEVICE_SECONDS_PER_DAY = env.int("STRIDE_DEVICE_SECONDS_PER_DAY", default=0)
# Free (ungraded) lab generations per student and 24 hours; exercises set their own limit.
STRIDE_LAB_GENERATIONS_PER_DAY = env.int("STRIDE_LAB_GENERATIONS_PER_DAY", default=200)
# Model files the intake refuses, per student, exercise and 24 hours. A refused file is deleted at
# once (the row keeps the reason) and does not use a submission; past this many, uploads wait.
STRIDE_REJECTED_UPLOADS_PER_DAY = env.int("STRIDE_REJECTED_UPLOADS_PER_DAY", default=20)
# The key of the hidden test sets: each generated set's seed (and every split seed) is an HMAC of
# the course's public numbers under this key, so nobody can rebuild the labels from the public
# generator and the course YAML. Empty: derived from SECRET_KEY (exercises.submissions.datasets).
# Changing it changes the generated hidden sets (regrade the model exercises afterwards).
STRIDE_HIDDEN_SET_KEY = env.str("STRIDE_HIDDEN_SET_KEY", default="")
# Whether `manage.py seed_demo` may create the demo accounts (known passwords): yes on a laptop
# and for `make run`; production.py turns it off for good.
STRIDE_DEMO_ACCOUNTS = env.bool("STRIDE_DEMO_ACCOUNTS", default=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The filesystem broker has no host by design: kombu's "No hostname was supplied" is noise.
    LOGGING["loggers"]["kombu.connection"] = {"level": "ERROR"}

# Stride's public address, as an LMS reaches it: the LTI URLs `lti_add_platform` prints.
STRIDE_PUBLIC_URL = env.str("STRIDE_PUBLIC_URL", default="http://127.0.0.1:8000")
# Seconds before a score the LMS did not take is sent again; doubled at each try (lti tasks).
STRIDE_LTI_RETRY_SECONDS = env.float("STRIDE_LTI_RETRY_SECONDS", default=10.0)
STRIDE_LTI_MAX_TRIES = env.int("STRIDE_LTI_MAX_TRIES", default=6)

STRIDE_SEED_DIR = ROOT_DIR / "exercises" / "seed"
