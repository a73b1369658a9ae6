"""The bugs the schema fuzzer (test_api_schema.py) found, pinned as plain examples.

- PostgreSQL refuses NUL characters in a query: a slug, a username, a password or a comment
  holding one was a 500;
- a UTC offset beyond ±15:59 (ISO 8601 allows up to ±23:59) was a 500 on extensions;
- a django-axes lockout answered the API with an HTML page;
- undeclared status codes: 401/429 on the token endpoint, 404 on a course's exercises.
"""
from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.services import api_token_create
from tests.factories import student, teacher

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]


@pytest.fixture
def course():
    call_command("load_course", verbosity=0)
    from courses.models import Course

    return Course.objects.get(slug="cnn-diffusion")


def bearer(user) -> Client:
    _token, raw = api_token_create(user=user, name="t")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def post(client, url, body):
    return client.post(url, body, content_type="application/json")


def assert_error(response, status):
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"].strip()


def test_a_nul_character_in_the_credentials_is_a_401_not_a_500():
    response = post(Client(), "/api/v1/auth/token", {"username": "\x05\x00K", "password": "x"})
    assert_error(response, 401)


@pytest.mark.parametrize("url", [
    "/api/v1/courses/%00/exercises", "/api/v1/courses/a%00b/generations", "/api/v1/courses/%00/gradebook",
    "/api/v1/courses/%00/gradebook.csv", "/api/v1/courses/%00/audit",
])
def test_a_nul_character_in_a_slug_is_a_404(course, url):
    assert_error(bearer(teacher(course, username="prof")).get(url), 404)


def test_a_nul_character_in_a_lab_slug_is_a_404(course):
    alice = student(course, username="alice")
    response = post(bearer(alice), "/api/v1/courses/%00/generations", {"prompt": "pomme rouge"})
    assert_error(response, 404)


@pytest.mark.parametrize("body", [
    {"username": "al\x00ice", "score": 0.5, "comment": "ok"},
    {"username": "alice", "score": 0.5, "comment": "o\x00k"},
])
def test_a_nul_character_in_an_override_is_a_400(course, body):
    student(course, username="alice")
    exercise = course.exercises.get(slug="output-size-formula")
    response = post(bearer(teacher(course, username="prof")), f"/api/v1/exercises/{exercise.pk}/overrides", body)
    assert_error(response, 400)


def test_a_nul_character_in_an_extension_username_is_a_400(course):
    exercise = course.exercises.get(slug="output-size-formula")
    response = post(bearer(teacher(course, username="prof")), f"/api/v1/exercises/{exercise.pk}/extensions",
                    {"username": "b\x00ob", "due_at": "2030-01-01T00:00:00Z"})
    assert_error(response, 400)


@pytest.mark.parametrize("due_at", ["0393-03-06T19:29:23+21:33", "2030-01-01T00:00:00+23:59", "0001-01-01T00:00:00+05:00",
                                    "9999-12-31T23:59:59-05:00"])
def test_an_extension_at_any_valid_datetime_is_not_a_500(course, due_at):
    student(course, username="bob")
    exercise = course.exercises.get(slug="output-size-formula")
    response = post(bearer(teacher(course, username="prof")), f"/api/v1/exercises/{exercise.pk}/extensions",
                    {"username": "bob", "due_at": due_at})
    assert response.status_code in (200, 400), (response.status_code, response.content[:300])
    if response.status_code == 400:
        assert_error(response, 400)


def test_a_nul_character_in_a_prompt_is_refused(course):
    alice = student(course, username="alice")
    response = post(bearer(alice), "/api/v1/courses/cnn-diffusion/generations", {"prompt": "pomme\x00 rouge"})
    assert response.status_code in (400, 422)


def test_a_nul_character_in_an_uploaded_file_name_is_not_a_500(course):
    from django.core.files.uploadedfile import SimpleUploadedFile

    alice = student(course, username="alice")
    exercise = course.exercises.filter(type="model").first()
    upload = SimpleUploadedFile("mo\x00del.keras", b"PK\x03\x04" + bytes(40))
    response = bearer(alice).post(f"/api/v1/exercises/{exercise.pk}/submissions", {"file": upload})
    assert response.status_code in (202, 400), (response.status_code, response.content[:300])


def test_a_lockout_on_the_token_endpoint_answers_json(course, settings):
    settings.AXES_FAILURE_LIMIT = 2
    student(course, username="alice")
    client = Client()
    for _ in range(3):
        response = post(client, "/api/v1/auth/token", {"username": "alice", "password": "wrong"})
    assert_error(response, 429)


def test_the_lockout_page_is_still_html_in_the_browser(course, settings):
    from django.urls import reverse

    settings.AXES_FAILURE_LIMIT = 1
    student(course, username="alice")
    client = Client()
    for _ in range(2):
        response = client.post(reverse("accounts:login"), {"username": "alice", "password": "wrong"})
    assert response.status_code == 429 and response["Content-Type"].startswith("text/html")


def test_a_course_that_does_not_exist_is_a_declared_404(course):
    response = bearer(student(course, username="alice")).get("/api/v1/courses/no-such-course/exercises")
    assert_error(response, 404)
    schema = Client().get("/api/v1/openapi.json").json()
    assert "404" in schema["paths"]["/api/v1/courses/{slug}/exercises"]["get"]["responses"]
    assert {"401", "429"} <= set(schema["paths"]["/api/v1/auth/token"]["post"]["responses"])


@pytest.mark.parametrize("due_at", ["2030-01-01T00:00:00+21:33", "2030-02-30T10:00", "0001-01-01T00:30", "9999-12-31T23:59"])
def test_the_extension_form_takes_any_date_without_a_500(course, due_at):
    from django.urls import reverse

    from tests.factories import logged_in

    bob = student(course, username="bob")
    exercise = course.exercises.get(slug="output-size-formula")
    url = reverse("gradebook:extension", args=[course.slug, bob.pk, exercise.pk])
    response = logged_in(teacher(course, username="prof")).post(url, {"due_at": due_at})
    assert response.status_code == 302, response.status_code
