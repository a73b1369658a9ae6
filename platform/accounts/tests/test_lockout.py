"""The login lockout keys on the client's address as the trusted proxies pass it, and also
limits failures per address over all usernames."""
from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.client_ip import client_ip_address
from tests.factories import PASSWORD, student

pytestmark = pytest.mark.django_db
LOGIN = reverse("accounts:login")
PROXY = "10.0.0.2"


def fail(client, username, client_address, *, proxy=PROXY):
    """A failed login through a proxy that appends the address it saw to X-Forwarded-For."""
    return client.post(LOGIN, {"username": username, "password": "wrong"}, REMOTE_ADDR=proxy,
                       HTTP_X_FORWARDED_FOR=client_address).status_code


@pytest.mark.parametrize("count, forwarded, expected", [
    (0, "203.0.113.9", "10.0.0.2"),  # no trusted proxy: the header is anyone's to write
    (1, "203.0.113.9", "203.0.113.9"),
    (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # a forged left-hand entry is ignored
    (2, "6.6.6.6, 203.0.113.9, 10.0.0.1", "203.0.113.9"),
    (2, "203.0.113.9", "10.0.0.2"),  # fewer entries than proxies: only the connection is known
    (1, "not-an-address", "10.0.0.2"),
])
def test_the_client_address_is_the_one_the_trusted_proxies_saw(settings, count, forwarded, expected):
    settings.STRIDE_TRUSTED_PROXY_COUNT = count
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip_address(request) == expected


def test_behind_the_proxy_one_students_lockout_does_not_lock_the_class(settings):
    settings.STRIDE_TRUSTED_PROXY_COUNT = 1
    alice, bob = student(username="alice"), student(username="bob")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        fail(client, "alice", "203.0.113.9")
    assert fail(client, "alice", "203.0.113.9") == 429
    # Alice from another address, and Bob through the same proxy, still log in.
    ok = client.post(LOGIN, {"username": "bob", "password": PASSWORD}, REMOTE_ADDR=PROXY,
                     HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert ok.status_code == 302, ok.content[:300]
    ok = Client().post(LOGIN, {"username": alice.username, "password": PASSWORD}, REMOTE_ADDR=PROXY,
                       HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert ok.status_code == 302
    assert bob.pk


def test_a_forged_header_does_not_escape_the_lockout(settings):
    settings.STRIDE_TRUSTED_PROXY_COUNT = 1
    student(username="carol")
    client = Client()
    statuses = [fail(client, "carol", f"1.2.3.{i}, 203.0.113.9") for i in range(settings.AXES_FAILURE_LIMIT + 1)]
    assert statuses[-1] == 429, statuses


def test_an_address_trying_many_usernames_is_locked(settings):
    settings.STRIDE_TRUSTED_PROXY_COUNT = 1
    settings.STRIDE_LOGIN_FAILURES_PER_ADDRESS = 8
    student(username="dave")
    client = Client()
    statuses = [fail(client, f"guess-{i}", "203.0.113.50") for i in range(8)]
    assert 429 not in statuses[:7], statuses  # under the pair limit for every username
    assert statuses[-1] == 429, statuses
    # Even a right password from that address waits; another address is not affected.
    locked = client.post(LOGIN, {"username": "dave", "password": PASSWORD}, REMOTE_ADDR=PROXY,
                         HTTP_X_FORWARDED_FOR="203.0.113.50")
    assert locked.status_code == 429
    ok = client.post(LOGIN, {"username": "dave", "password": PASSWORD}, REMOTE_ADDR=PROXY,
                     HTTP_X_FORWARDED_FOR="203.0.113.51")
    assert ok.status_code == 302
