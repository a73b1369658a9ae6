"""Stride as an LTI 1.3 tool, against a real LTI platform (lti1p3platform) in its own process,
through real HTTP: registration, launches as a learner and an instructor, refused messages,
grade passback by a real Celery worker, roster sync, deep linking."""
from __future__ import annotations

import html

import pytest
import requests
from django.core.management import call_command

from tests.lti import error_text, launch, lti_platform, parse_form, wait_for

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


# --- Grade passback, roster and deep linking: a real Celery worker sends to the platform ---------

def _answer(client, live_server, exercise, user, right: bool = True):
    from tests.factories import right_answer

    page = client.get(f"{live_server.url}/exercises/{exercise.pk}/", timeout=30)
    assert page.status_code == 200
    answer = right_answer(exercise, user)
    if not right:
        answer = {"shape": [1, 1, 1]}
    r = client.post(f"{live_server.url}/api/v1/exercises/{exercise.pk}/attempts", json={"answer": answer},
                    headers={"X-CSRFToken": client.cookies.get("csrftoken", "")}, timeout=30)
    assert r.status_code in (200, 201), r.text
    return r.json()


def _gradebook_points(exercise, user) -> float:
    """THE grade (the override, else the best attempt) in the exercise's points."""
    from django.db.models import Max

    from exercises.engine.selectors import grade_overrides
    from exercises.models import Attempt

    grade = grade_overrides(exercises=[exercise], user_ids=[user.pk]).get((user.pk, exercise.pk))
    if grade is None:
        grade = Attempt.objects.filter(exercise=exercise, user=user).aggregate(m=Max("score"))["m"]
    return round(grade * exercise.max_score, 6)


def _lms_score(platform, resource_id: str, sub: str):
    state = platform.state()
    for item_id, item in state["lineitems"].items():
        if item.get("resourceId") == resource_id:
            score = state["scores"].get(item_id, {}).get(sub)
            return (item, score) if score else None
    return None


def _wait_score(platform, resource_id, sub, given, maximum):
    def arrived():
        found = _lms_score(platform, resource_id, sub)
        return found if found and abs(found[1]["scoreGiven"] - given) < 1e-6 else None

    item, score = wait_for(arrived, what=f"score {given} for {sub} on {resource_id}")
    assert score["scoreMaximum"] == maximum and score["gradingProgress"] == "FullyGraded"
    return item, score


@pytest.mark.worker
def test_scores_reach_the_lms_and_match_the_gradebook(platform, live_server, live_worker, course, settings):
    from datetime import timedelta

    from django.utils import timezone

    from exercises.jobs import send_light_task
    from exercises.models import Exercise
    from gradebook.services import exercise_regrade_audited, grade_override
    from lti.models import ScoreSync
    from lti.services import SCORES_SWEEP_TASK

    first, later = list(Exercise.objects.filter(course=course, type="output_size").order_by("pk")[:2])
    Exercise.objects.filter(pk=later.pk).update(grades_visible_at=timezone.now() + timedelta(days=1))
    later.refresh_from_db()
    client = requests.Session()
    r, _ = launch(client, platform, user="u-1", role="Learner", custom=f'{{"stride_exercise": "{first.pk}"}}')
    assert r.status_code == 302
    user = _user("u-1", platform)

    # A graded attempt: the worker creates the line item and posts the score.
    _answer(client, live_server, first, user, right=True)
    _wait_score(platform, f"stride-exercise-{first.pk}", "u-1", _gradebook_points(first, user), first.max_score)

    # A teacher's override replaces it, in the LMS too.
    teacher = _user_teacher(platform)
    grade_override(exercise=first, student=user, score=0.25, comment="copied", actor=teacher)
    item, _ = _wait_score(platform, f"stride-exercise-{first.pk}", "u-1", 0.25 * first.max_score, first.max_score)
    assert _gradebook_points(first, user) == 0.25 * first.max_score
    # A regrade sends again what the gradebook says (the override still wins).
    sent_before = ScoreSync.objects.get(user=user, exercise=first).sent_at
    exercise_regrade_audited(exercise=first, actor=teacher)
    wait_for(lambda: ScoreSync.objects.get(user=user, exercise=first).sent_at > sent_before, what="the regrade's resend")
    assert _lms_score(platform, f"stride-exercise-{first.pk}", "u-1")[1]["scoreGiven"] == 0.25 * first.max_score

    # Before the release date nothing is sent: the row is held, the LMS has no score.
    _answer(client, live_server, later, user, right=True)
    sync = wait_for(lambda: ScoreSync.objects.filter(user=user, exercise=later, status="held").first(), what="held")
    assert _lms_score(platform, f"stride-exercise-{later.pk}", "u-1") is None
    # Once the date has come, beat's sweep sends it.
    Exercise.objects.filter(pk=later.pk).update(grades_visible_at=timezone.now() - timedelta(seconds=1))
    send_light_task(SCORES_SWEEP_TASK)
    _wait_score(platform, f"stride-exercise-{later.pk}", "u-1", _gradebook_points(later, user), later.max_score)

    # The teacher's page says the LMS has the latest score, per student and line item.
    page = _teacher_client(platform, live_server).get(f"{live_server.url}/lti/courses/{course.slug}/scores/", timeout=30)
    assert page.status_code == 200
    assert page.text.count('class="lti-ok"') == 2 and 'class="lti-stale"' not in page.text
    sync.refresh_from_db()
    assert sync.status == "sent"


_TEACHERS: dict = {}


def _teacher_client(platform, live_server):
    if platform.base not in _TEACHERS:
        client = requests.Session()
        r, _ = launch(client, platform, user="t-1", role="Instructor", name="Grace Hopper")
        assert r.status_code == 302
        _TEACHERS[platform.base] = client
    return _TEACHERS[platform.base]


def _user_teacher(platform):
    from accounts.roles import Role
    from accounts.services import user_create

    user, _ = user_create(username="teacher-lti", role=Role.TEACHER)
    return user


@pytest.mark.worker
def test_roster_sync_marks_students_who_left_inactive(platform, live_server, live_worker, course):
    from courses.models import Enrollment

    sessions = {sub: requests.Session() for sub in ("u-stays", "u-leaves")}
    for sub, session in sessions.items():
        assert launch(session, platform, user=sub, role="Learner")[0].status_code == 302
    teacher = _teacher_client(platform, live_server)
    learner = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
    platform.set_roster("course-1", [
        {"user_id": "u-stays", "roles": [learner], "name": "Stays", "status": "Active"},
        {"user_id": "u-new", "roles": [learner], "name": "Newcomer", "given_name": "New", "status": "Active"},
        {"user_id": "t-1", "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"], "status": "Active"},
    ])
    page = teacher.get(f"{live_server.url}/lti/courses/{course.slug}/scores/", timeout=30)
    from lti.models import CourseContext

    link = CourseContext.objects.get(course=course)
    r = teacher.post(f"{live_server.url}/lti/courses/{course.slug}/contexts/{link.pk}/", data={
        "csrfmiddlewaretoken": teacher.cookies.get("csrftoken"), "roster": "1", "grain": "exercise"},
        headers={"Referer": page.url}, allow_redirects=False, timeout=30)
    assert r.status_code == 302
    wait_for(lambda: CourseContext.objects.get(pk=link.pk).roster_synced_at, what="the roster sync")
    leaves = Enrollment.objects.get(course=course, user=_user("u-leaves", platform))
    assert not leaves.is_active  # kept, not deleted
    assert Enrollment.objects.get(course=course, user=_user("u-stays", platform)).is_active
    newcomer = Enrollment.objects.get(course=course, user=_user("u-new", platform))
    assert newcomer.is_active and newcomer.role == "student" and newcomer.user.first_name == "New"
    # The student who left cannot open the course any more; the one who stays can.
    assert sessions["u-leaves"].get(f"{live_server.url}/courses/{course.slug}/", timeout=30).status_code == 404
    assert course.title not in html.unescape(sessions["u-leaves"].get(f"{live_server.url}/courses/", timeout=30).text)
    assert sessions["u-stays"].get(f"{live_server.url}/courses/{course.slug}/", timeout=30).status_code == 200


@pytest.mark.worker
def test_deep_linking_places_an_exercise_with_its_maximum_and_grades_reach_its_line_item(
        platform, live_server, live_worker, course):
    from exercises.models import Exercise

    exercise = Exercise.objects.filter(course=course, type="output_size").order_by("pk").first()
    teacher = requests.Session()
    r, _ = launch(teacher, platform, user="t-1", role="Instructor", message="deeplink")
    assert r.status_code == 200 and "deep-link-form" in r.text, error_text(r.text)
    assert f'value="exercise:{exercise.pk}"' in r.text and 'value="section:' in r.text

    _action, fields = parse_form(r.text)
    assert 'action="/lti/deep-link/"' in r.text
    r = teacher.post(f"{live_server.url}/lti/deep-link/", data={"token": fields["token"], "item": f"exercise:{exercise.pk}"},
                     timeout=30)
    assert r.status_code == 200
    action, fields = parse_form(r.text)  # the signed response, posted back to the LMS
    done = teacher.post(action, data=fields, timeout=30)
    assert done.status_code == 200 and "Content placed" in done.text, done.text
    placed = platform.state()["deep_links"][-1]
    assert placed["custom"]["stride_exercise"] == str(exercise.pk)
    assert placed["lineItem"]["scoreMaximum"] == exercise.max_score
    # A student follows the placed link: lands on the exercise; the score goes to that line item.
    student = requests.Session()
    r, _ = launch(student, platform, user="u-dl", role="Learner", link=placed["link"])
    assert r.headers["Location"] == f"/exercises/{exercise.pk}/"
    user = _user("u-dl", platform)
    _answer(student, live_server, exercise, user)
    lineitem_url = platform.state()["links"][placed["link"]]["lineitem"]

    def arrived():
        return platform.state()["scores"].get(lineitem_url, {}).get("u-dl")

    score = wait_for(arrived, what="the score on the deep-linked line item")
    assert score["scoreGiven"] == _gradebook_points(exercise, user)
    assert len(platform.state()["lineitems"]) == 1  # no second line item was made for it


@pytest.fixture
def quick_retry_worker(transactional_db, settings, tmp_path):
    """A real worker whose LMS retries come after 0.3 s, 0.6 s... and stop after 3 tries."""
    from pathlib import Path

    from tests.conftest import database_url_of_test_db
    from tests.procs import celery_worker

    with celery_worker(broker_url=settings.CELERY_BROKER_URL, var_dir=Path(settings.VAR_DIR),
                       database_url=database_url_of_test_db(), log=tmp_path / "worker.log", queues="default",
                       STRIDE_LTI_RETRY_SECONDS="0.3", STRIDE_LTI_MAX_TRIES="3") as proc:
        yield proc


@pytest.mark.worker
def test_an_lms_that_is_down_gets_the_score_after_retries_or_a_resend(platform, live_server, quick_retry_worker, course):
    from exercises.models import Exercise
    from lti.models import ScoreSync

    first, second = list(Exercise.objects.filter(course=course, type="output_size").order_by("pk")[:2])
    client = requests.Session()
    assert launch(client, platform, user="u-r", role="Learner")[0].status_code == 302
    user = _user("u-r", platform)

    # Down for two posts: the third try (after the backoff) gets through.
    platform.fail_scores(2)
    _answer(client, live_server, first, user)
    _wait_score(platform, f"stride-exercise-{first.pk}", "u-r", _gradebook_points(first, user), first.max_score)
    assert ScoreSync.objects.get(user=user, exercise=first).tries == 3

    # Down for longer than the tries: the row is marked failed, with the reason, for the teacher.
    platform.fail_scores(100)
    _answer(client, live_server, second, user)
    failed = wait_for(lambda: ScoreSync.objects.filter(user=user, exercise=second, status="failed").first(), what="failed")
    assert "503" in failed.error
    assert _lms_score(platform, f"stride-exercise-{second.pk}", "u-r") is None
    teacher = _teacher_client(platform, live_server)
    page = teacher.get(f"{live_server.url}/lti/courses/{course.slug}/scores/", timeout=30)
    assert 'class="lti-stale"' in page.text
    # The LMS is back; the teacher's resend delivers it.
    platform.fail_scores(0)
    r = teacher.post(f"{live_server.url}/lti/courses/{course.slug}/scores/{failed.pk}/resend/",
                     data={"csrfmiddlewaretoken": teacher.cookies.get("csrftoken")}, allow_redirects=False, timeout=30)
    assert r.status_code == 302
    _wait_score(platform, f"stride-exercise-{second.pk}", "u-r", _gradebook_points(second, user), second.max_score)
    from gradebook.models import AuditLog

    assert AuditLog.objects.filter(action="lti_resend", student=user, exercise=second).exists()


@pytest.mark.worker
def test_a_section_placed_by_deep_linking_gets_the_sections_total(platform, live_server, live_worker, course):
    from exercises.models import Exercise
    from lti.services import section_key

    exercise = Exercise.objects.filter(course=course, type="output_size").order_by("pk").first()
    section = section_key(exercise)
    in_section = [e for e in Exercise.objects.filter(course=course, published=True, deleted_at__isnull=True)
                  if section_key(e) == section]
    teacher = requests.Session()
    r, _ = launch(teacher, platform, user="t-1", role="Instructor", message="deeplink")
    _action, fields = parse_form(r.text)
    r = teacher.post(f"{live_server.url}/lti/deep-link/", data={"token": fields["token"], "item": f"section:{section}"},
                     timeout=30)
    action, fields = parse_form(r.text)
    assert "Content placed" in teacher.post(action, data=fields, timeout=30).text
    placed = platform.state()["deep_links"][-1]
    assert placed["custom"]["stride_section"] == section
    assert placed["lineItem"]["scoreMaximum"] == sum(e.max_score for e in in_section)

    student = requests.Session()
    r, _ = launch(student, platform, user="u-sec", role="Learner", link=placed["link"])
    assert r.headers["Location"] == f"/courses/{course.slug}/"
    user = _user("u-sec", platform)
    _answer(student, live_server, exercise, user)
    lineitem_url = platform.state()["links"][placed["link"]]["lineitem"]
    score = wait_for(lambda: platform.state()["scores"].get(lineitem_url, {}).get("u-sec"), what="the section's score")
    assert score["scoreGiven"] == _gradebook_points(exercise, user)  # the only exercise answered
    assert score["scoreMaximum"] == sum(e.max_score for e in in_section)
