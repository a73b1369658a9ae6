"""The client's address, as the trusted proxies in front of Stride pass it.

Behind a reverse proxy every request comes from the proxy's address (``REMOTE_ADDR``): a login
lockout keyed on it would lock the whole school at once, or nobody. Each proxy appends the
address it received the request from to ``X-Forwarded-For``; the entries to the left of those
come from the client and can be anything. So with ``STRIDE_TRUSTED_PROXY_COUNT = N`` proxies the
client is the N-th entry from the right, and never one further left. With 0 (no proxy, the
default) the header is ignored: anyone could write it.
"""
from __future__ import annotations

import ipaddress

from django.conf import settings


def _valid(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


def client_ip_address(request) -> str | None:
    """The client's address for the lockout (django-axes' ``AXES_CLIENT_IP_CALLABLE``)."""
    remote = _valid(request.META.get("REMOTE_ADDR", ""))
    proxies = settings.STRIDE_TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [entry for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if entry.strip()]
    if len(forwarded) < proxies:
        return remote  # it did not come through every proxy: only the connection's address is known
    return _valid(forwarded[-proxies]) or remote
