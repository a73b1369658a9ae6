from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken
from tests.factories import PASSWORD, CourseFactory, student

pytestmark = pytest.mark.django_db


def test_login_enforces_csrf():
    user = student()
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("accounts:login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 403
    # With the token from the form, the same login works.
    page = client.get(reverse("accounts:login"))
    token = page.cookies["csrftoken"].value
    response = client.post(
        reverse("accounts:login"), {"username": user.username, "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("courses:list")


def test_axes_locks_out_after_repeated_failures(settings):
    user = student()
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(reverse("accounts:login"), {"username": user.username, "password": "wrong"})
        assert response.status_code == 200  # the form again, with an error
    assert client.post(reverse("accounts:login"), {"username": user.username, "password": "wrong"}).status_code == 429
    # Now even the right password is refused.
    response = client.post(reverse("accounts:login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 429
    assert "Trop de tentatives de connexion" in response.content.decode()
    # The API's token endpoint is locked for the same user too.
    response = client.post("/api/v1/auth/token", {"username": user.username, "password": PASSWORD}, content_type="application/json")
    assert response.status_code in (403, 429)


def test_logout_is_a_post():
    user = student()
    client = Client()
    client.force_login(user)
    assert client.get(reverse("accounts:logout")).status_code == 405
    assert client.post(reverse("accounts:logout")).status_code == 302
    assert client.get(reverse("accounts:profile")).status_code == 302  # back to login


def test_token_endpoint_and_bearer_auth():
    course = CourseFactory(slug="c1")
    user = student(course)
    client = Client()
    bad = client.post("/api/v1/auth/token", {"username": user.username, "password": "nope"}, content_type="application/json")
    assert bad.status_code == 401
    assert bad.json() == {"detail": "Wrong username or password."}
    response = client.post("/api/v1/auth/token", {"username": user.username, "password": PASSWORD}, content_type="application/json")
    assert response.status_code == 200
    token = response.json()["token"]
    assert not ApiToken.objects.filter(digest=token).exists()  # only the digest is stored
    courses = client.get("/api/v1/courses", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert courses.status_code == 200
    assert courses.json() == [{"slug": "c1", "title": "Cours c1"}]
    assert client.get("/api/v1/courses").status_code == 401
    assert client.get("/api/v1/courses", HTTP_AUTHORIZATION="Bearer strd_forged").status_code == 401


def test_token_endpoint_rejects_malformed_bodies_with_a_sentence():
    response = Client().post("/api/v1/auth/token", "not json", content_type="application/json")
    assert response.status_code == 400
    assert isinstance(response.json()["detail"], str)
    response = Client().post("/api/v1/auth/token", {"username": "x"}, content_type="application/json")
    assert response.status_code == 400
    assert "password" in response.json()["detail"]


def test_profile_creates_shows_once_and_revokes_tokens():
    user = student()
    client = Client()
    client.force_login(user)
    client.post(reverse("accounts:token_create"), {"name": "notebook"})
    page = client.get(reverse("accounts:profile")).content.decode()
    token = ApiToken.objects.get(user=user)
    raw = page.split('id="new-token">')[1].split("<")[0]
    assert raw.startswith("strd_") and token.hint in raw
    assert "strd_" not in client.get(reverse("accounts:profile")).content.decode().split("<tbody>")[0]  # shown once
    assert Client().get("/api/v1/courses", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    client.post(reverse("accounts:token_revoke", args=[token.pk]))
    assert Client().get("/api/v1/courses", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401


def test_a_user_cannot_revoke_another_users_token():
    owner, other = student(), student()
    from accounts.services import api_token_create

    token, raw = api_token_create(user=owner, name="t")
    client = Client()
    client.force_login(other)
    client.post(reverse("accounts:token_revoke", args=[token.pk]))
    token.refresh_from_db()
    assert token.is_active


def test_session_api_calls_need_csrf():
    course = CourseFactory(slug="c2")
    user = student(course)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get("/api/v1/courses").status_code == 200  # safe method
    response = client.post("/api/v1/exercises/1/attempts", {"answer": {}}, content_type="application/json")
    assert response.status_code in (401, 403)
