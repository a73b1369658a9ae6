"""Stride as an LTI 1.3 tool, against a real LTI platform (lti1p3platform) in its own process,
through real HTTP: registration, launches as a learner and an instructor, refused messages,
grade passback by a real Celery worker, roster sync, deep linking."""
from __future__ import annotations

import html

import pytest
import requests
from django.core.management import call_command

from tests.lti import error_text, launch, lti_platform

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def course(transactional_db):
    call_command("load_course", verbosity=0)
    from courses.models import Course

    return Course.objects.get(slug="cnn-diffusion")


@pytest.fixture
def platform(live_server, tmp_path, course):
    with lti_platform(live_server.url, tmp_path) as platform:
        call_command("lti_add_platform", *platform.register_args(), "--base-url", live_server.url, verbosity=0)
        yield platform


def _user(sub: str, platform):
    from lti_tool.models import LtiUser

    return LtiUser.objects.select_related("auth_user").get(registration__issuer=platform.issuer, sub=sub).auth_user


def _audit_reasons():
    from gradebook.models import AuditLog

    return list(AuditLog.objects.filter(action="lti_refused").values_list("comment", flat=True))


def test_lti_add_platform_prints_the_tool_urls_and_refuses_bad_input(course, capsys):
    from django.core.management.base import CommandError
    from lti_tool.models import Key, LtiDeployment, LtiRegistration

    args = ["--issuer", "https://lms.example.org", "--client-id", "abc", "--deployment-id", "d1",
            "--auth-url", "https://lms.example.org/auth", "--token-url", "https://lms.example.org/token",
            "--jwks-url", "https://lms.example.org/jwks", "--course", "cnn-diffusion", "--base-url", "https://stride.example.org"]
    call_command("lti_add_platform", *args)
    out = capsys.readouterr().out
    assert "https://stride.example.org/lti/login/" in out
    assert "https://stride.example.org/lti/launch/" in out
    assert "https://stride.example.org/lti/jwks/" in out
    registration = LtiRegistration.objects.get(issuer="https://lms.example.org", client_id="abc")
    assert LtiDeployment.objects.get(registration=registration, deployment_id="d1").is_active
    assert registration.stride.course == course
    assert Key.objects.active().count() == 1
    call_command("lti_add_platform", *args)  # idempotent
    assert LtiRegistration.objects.count() == 1 and Key.objects.active().count() == 1
    with pytest.raises(CommandError, match="auth-url"):
        call_command("lti_add_platform", *[a if a != "https://lms.example.org/auth" else "not a url" for a in args])
    with pytest.raises(CommandError, match="No course"):
        call_command("lti_add_platform", *[a if a != "cnn-diffusion" else "nope" for a in args])


def test_jwks_serves_the_rotated_public_keys(live_server, course):
    from lti_tool.models import Key

    call_command("rotate_keys", verbosity=0)
    keys = requests.get(f"{live_server.url}/lti/jwks/", timeout=10).json()["keys"]
    assert [k["kid"] for k in keys] == [Key.objects.get().as_jwk()["kid"]]
    assert all("d" not in k for k in keys)  # public parts only
    call_command("rotate_keys", "--deactivate-after", "0", verbosity=0)
    keys = requests.get(f"{live_server.url}/lti/jwks/", timeout=10).json()["keys"]
    assert len(keys) == 1 and keys[0]["kid"] == Key.objects.active().get().as_jwk()["kid"]


def test_learner_and_instructor_launch(platform, live_server, course):
    from courses.models import Enrollment
    from exercises.models import Exercise

    exercise = Exercise.objects.filter(course=course, type="output_size").first()
    learner = requests.Session()
    r, _ = launch(learner, platform, user="u-1", role="Learner", name="Ada Lovelace",
                  custom=f'{{"stride_exercise": "{exercise.pk}"}}')
    assert r.status_code == 302, error_text(r.text) or r.text[:300]
    assert r.headers["Location"] == f"/exercises/{exercise.pk}/"
    user = _user("u-1", platform)
    assert user.username.startswith("lti-") and not user.has_usable_password()
    assert Enrollment.objects.get(course=course, user=user).role == "student"
    page = learner.get(live_server.url + r.headers["Location"], timeout=30)
    assert page.status_code == 200 and exercise.title in html.unescape(page.text)
    # Inside the LMS's frame: framed by the LMS only, never X-Frame-Options DENY.
    assert "X-Frame-Options" not in page.headers
    assert page.headers["Content-Security-Policy"] == f"frame-ancestors 'self' {platform.base}"
    assert 'id="lti-new-tab"' in page.text

    teacher = requests.Session()
    r, _ = launch(teacher, platform, user="t-1", role="Instructor", name="Grace Hopper")
    assert r.status_code == 302 and r.headers["Location"] == f"/courses/{course.slug}/"
    assert Enrollment.objects.get(course=course, user=_user("t-1", platform)).role == "teacher"
    assert teacher.get(f"{live_server.url}/teach/{course.slug}/gradebook/", timeout=30).status_code == 200
    assert learner.get(f"{live_server.url}/teach/{course.slug}/gradebook/", timeout=30).status_code == 404

    # The same sub again is the same account, whatever the e-mail; a plain Stride page stays DENY.
    r, _ = launch(requests.Session(), platform, user="u-1", role="Learner")
    assert _user("u-1", platform) == user
    assert requests.get(f"{live_server.url}/accounts/login/", timeout=30).headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("tamper, why", [("aud", "Registration not found"), ("exp", "expired"),
                                         ("sig", "Signature verification failed")])
def test_bad_messages_are_refused_with_a_page_and_an_audit_entry(platform, tamper, why):
    from django.contrib.auth import get_user_model

    r, _ = launch(requests.Session(), platform, user="u-bad", role="Learner", tamper=tamper)
    assert r.status_code == 400
    assert why in error_text(r.text)
    assert any(why in reason for reason in _audit_reasons())
    assert not get_user_model().objects.filter(username__startswith="lti-").exists()


def test_a_replayed_nonce_is_refused(platform):
    client = requests.Session()
    r, form = launch(client, platform, user="u-2", role="Learner")
    assert r.status_code == 302
    replay = client.post(form["action"], data={"id_token": form["id_token"], "state": form["state"]},
                         allow_redirects=False, timeout=30)
    assert replay.status_code == 400 and "Invalid Nonce" in error_text(replay.text)
    assert any("Invalid Nonce" in reason for reason in _audit_reasons())


def test_an_unknown_deployment_is_refused(platform, live_server):
    from lti_tool.models import LtiDeployment

    LtiDeployment.objects.update(is_active=False)
    r, _ = launch(requests.Session(), platform, user="u-3", role="Learner")
    assert r.status_code == 403 and "deployment-1" in error_text(r.text)
