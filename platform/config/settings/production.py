"""Production: everything secret or host-specific must come from the environment, secrets preferably
as files (``DJANGO_SECRET_KEY_FILE=/run/secrets/django_secret_key``: base.py, docker-compose.yml)."""
from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Persistent database connections (health-checked, see base.py): measured +8 to +53 % on
# instant answers under load (docs/performance.md). Size max_connections for one per
# gunicorn worker and Celery process. DJANGO_CONN_MAX_AGE=0 turns it off.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)  # noqa: F405

# A real deployment never gets the demo accounts (known passwords), whatever the environment says.
STRIDE_DEMO_ACCOUNTS = False
