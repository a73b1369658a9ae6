"""pylti1p3's launch data (OIDC state, nonces, validated launches) in Stride's database.

django-lti keeps them in Django's cache, which Stride leaves per process (LocMemCache): the OIDC
login and the launch that follows may reach two different gunicorn processes, and a nonce must
be refused the second time whichever process sees it. A row per key, with an expiry; checking a
nonce deletes it in the same statement, so a replayed launch finds it gone.
"""
from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from .models import LaunchValue
from .tool import DjangoCacheDataStorage


class DatabaseLaunchDataStorage(DjangoCacheDataStorage):
    def __init__(self, *args, **kwargs) -> None:  # no Django cache behind it
        self._cache = None

    def get_value(self, key):
        key = self._prepare_key(key)
        row = LaunchValue.objects.filter(key=key, expires_at__gt=timezone.now()).values_list("value", flat=True).first()
        return row

    def set_value(self, key: str, value, exp: int | None = None) -> None:
        key = self._prepare_key(key)
        expires = timezone.now() + timedelta(seconds=exp or 86400)
        LaunchValue.objects.update_or_create(key=key, defaults={"value": value, "expires_at": expires})

    def check_value(self, key: str) -> bool:
        """pylti1p3 asks this of nonces only: one DELETE, so two launches with the same nonce
        (a replay, or the same form posted twice) cannot both find it."""
        key = self._prepare_key(key)
        deleted, _ = LaunchValue.objects.filter(key=key, expires_at__gt=timezone.now()).delete()
        return deleted > 0


def launch_values_purge() -> int:
    deleted, _ = LaunchValue.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
