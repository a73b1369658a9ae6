"""The login lockout: django-axes' database handler, plus a limit per client address.

Axes locks a username + address pair after ``AXES_FAILURE_LIMIT`` failures. Someone trying
many usernames from one address would never trip that, so an address is also locked once its
failures over all usernames reach ``STRIDE_LOGIN_FAILURES_PER_ADDRESS`` within the cool-off
time (high enough for a class behind one school router). The address is the one the trusted
proxies pass (``accounts.client_ip``).
"""
from __future__ import annotations

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.utils import timezone


class StrideAxesHandler(AxesDatabaseHandler):
    def get_failures(self, request, credentials: dict | None = None) -> int:
        pair = super().get_failures(request, credentials)
        address = getattr(request, "axes_ip_address", None)
        if not address:
            return pair
        attempts = AccessAttempt.objects.filter(ip_address=address)
        cool_off = get_cool_off(request)
        if cool_off is not None:
            attempts = attempts.filter(attempt_time__gte=timezone.now() - cool_off)
        per_address = attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
        if per_address >= settings.STRIDE_LOGIN_FAILURES_PER_ADDRESS:
            return max(pair, get_failure_limit(request, credentials))
        return pair
