"""A database that drops for a moment is a 503 with Retry-After, never a 500 (issue #18).

The views below raise the errors a PostgreSQL restart gives (``OperationalError`` on a broken
or refused connection, ``InterfaceError`` on a closed one); the real restart is in
``tests/faults/test_postgres_restart.py``.
"""
from __future__ import annotations

import pytest
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.test import Client
from django.urls import path

CALLS: list[str] = []


def flaky(request):
    """Fails on its first call, as a request that meets a connection the restart broke."""
    CALLS.append(request.method)
    if len(CALLS) == 1:
        raise OperationalError("server closed the connection unexpectedly")
    return HttpResponse("ok")


def down(request):
    CALLS.append(request.method)
    raise InterfaceError("connection already closed")


def fine(request):
    return HttpResponse("fine")


class RaisesOnTheWayOut:
    """A middleware whose own query fails (a session saved after the view), outside any view."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path == "/outside/":
            raise OperationalError("the database system is shutting down")
        return response


def bug(request):
    raise ValueError("a real bug")


urlpatterns = [path("flaky/", flaky), path("down/", down), path("api/v1/down", down), path("outside/", fine),
               path("bug/", bug)]
handler500 = "config.views.server_error"


@pytest.fixture
def client(settings):
    CALLS.clear()
    settings.ROOT_URLCONF = __name__
    return Client(raise_request_exception=False)


def test_a_read_that_meets_a_broken_connection_is_tried_once_more_and_succeeds(client):
    response = client.get("/flaky/")
    assert response.status_code == 200 and response.content == b"ok"
    assert CALLS == ["GET", "GET"]


def test_a_database_still_down_is_a_503_page_with_retry_after(client):
    response = client.get("/down/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "text/html" in response["Content-Type"]
    assert "base de données".encode() in response.content  # French, the site's language
    assert CALLS == ["GET", "GET"]


def test_a_write_is_never_replayed_the_client_is_told_to_send_it_again(client):
    response = client.post("/flaky/")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert CALLS == ["POST"]


def test_the_api_answers_its_own_json_error(client):
    response = client.get("/api/v1/down")
    assert response.status_code == 503
    assert response.json()["detail"]
    assert response["Retry-After"] == "5"


def test_an_error_outside_a_view_is_a_503_too(client, settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.RaisesOnTheWayOut"]
    response = client.get("/outside/")
    assert response.status_code == 503 and response["Retry-After"] == "5"


def test_other_errors_stay_500(client):
    assert client.get("/bug/").status_code == 500
