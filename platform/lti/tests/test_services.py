"""The LTI app's rules that need no LMS: roles, the nonce used once, frames, what is sent when."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.utils import timezone
from lti_tool.models import LtiContext, LtiMembership, LtiUser

from lti import services
from lti.middleware import SESSION_FRAME, LtiFrameMiddleware
from lti.models import CourseContext, ScoreSync
from lti.storage import DatabaseLaunchDataStorage, launch_values_purge
from tests.factories import CourseFactory

pytestmark = pytest.mark.django_db
ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#{}"


@pytest.mark.parametrize("roles, teacher", [
    ([ROLE.format("Learner")], False),
    ([ROLE.format("Instructor")], True),
    ([ROLE.format("Learner"), ROLE.format("Instructor")], True),
    (["Instructor"], True),  # the short form LTI allows
    (["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"], False),  # not of the course
    ([], False), (None, False),
])
def test_lms_roles_map_to_stride_roles(roles, teacher):
    assert services.launch_is_instructor(roles) is teacher


def test_a_nonce_is_accepted_once_and_values_expire():
    storage = DatabaseLaunchDataStorage()
    storage.set_value("lti1p3-nonce-abc", True, exp=60)
    assert storage.check_value("lti1p3-nonce-abc")
    assert not storage.check_value("lti1p3-nonce-abc")  # used
    storage.set_value("lti1p3-state", {"a": 1}, exp=60)
    assert storage.get_value("lti1p3-state") == {"a": 1}
    from lti.models import LaunchValue

    LaunchValue.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert storage.get_value("lti1p3-state") is None
    assert launch_values_purge() == 1


def _response_through_middleware(session: dict, secure: bool):
    from django.http import HttpResponse

    request = RequestFactory().get("/x", secure=secure)
    request.session = session

    def view(_request):
        response = HttpResponse("ok")
        response["X-Frame-Options"] = "DENY"
        response.set_cookie("sessionid", "s")
        return response

    return LtiFrameMiddleware(view)(request)


def test_only_an_lti_session_may_be_framed_and_only_by_its_lms():
    plain = _response_through_middleware({}, secure=True)
    assert plain["X-Frame-Options"] == "DENY" and "Content-Security-Policy" not in plain
    framed = _response_through_middleware({SESSION_FRAME: ["https://moodle.example.org"]}, secure=True)
    assert "X-Frame-Options" not in framed
    assert framed["Content-Security-Policy"] == "frame-ancestors 'self' https://moodle.example.org"
    assert framed.cookies["sessionid"]["samesite"] == "None" and framed.cookies["sessionid"]["secure"]
    # Over plain HTTP a browser refuses SameSite=None without Secure: the cookie is left as it is.
    http = _response_through_middleware({SESSION_FRAME: ["http://lms"]}, secure=False)
    assert http.cookies["sessionid"]["samesite"] == ""


@pytest.fixture
def linked():
    """A course linked to an LMS context with one learner."""
    call_command("load_course", verbosity=0)
    from courses.models import Course

    course = Course.objects.get(slug="cnn-diffusion")
    registration = services.platform_register(issuer="https://lms.example", client_id="c", deployment_id="d",
                                              auth_url="https://lms.example/a", token_url="https://lms.example/t",
                                              jwks_url="https://lms.example/k", course=course)
    deployment = registration.deployments.get()
    context = LtiContext.objects.create(deployment=deployment, id_on_platform="ctx", lineitems_url="http://127.0.0.1:9/li",
                                        can_manage_lineitems=True, can_publish_scores=True)
    lti_user = LtiUser.objects.create(registration=registration, sub="s-1", given_name="Ada")
    user = services.user_for_lti(lti_user=lti_user, teacher=False)
    services.enrollment_for_lti(course=course, user=user, teacher=False)
    LtiMembership.objects.create(user=lti_user, context=context, is_learner=True)
    link = CourseContext.objects.create(context=context, course=course)
    return course, link, user


def test_the_lms_user_is_matched_by_sub_never_by_email(linked):
    course, link, user = linked
    registration = link.context.deployment.registration
    same = LtiUser.objects.get(registration=registration, sub="s-1")
    assert services.user_for_lti(lti_user=same, teacher=False) == user
    other = LtiUser.objects.create(registration=registration, sub="s-2", email=user.email or "x@y")
    assert services.user_for_lti(lti_user=other, teacher=False) != user


def test_an_attempt_asks_for_a_passback_only_where_the_course_is_linked(linked, django_capture_on_commit_callbacks):
    from exercises.engine.services import attempt_submit
    from tests.factories import right_answer, student

    course, link, user = linked
    exercise = course.exercises.filter(type="output_size").order_by("pk").first()
    with django_capture_on_commit_callbacks(execute=True):
        attempt_submit(exercise=exercise, user=user, answer=right_answer(exercise, user))
    sync = ScoreSync.objects.get(user=user, exercise=exercise)
    assert sync.status == "pending" and sync.target == f"exercise:{exercise.pk}"
    # A student of an unlinked course: nothing recorded.
    other_course = CourseFactory(slug="unlinked")
    other = student(other_course, username="plain")
    from exercises.models import Exercise

    unlinked = Exercise.objects.create(course=other_course, slug="e", type=exercise.type, params=exercise.params,
                                       title_i18n={"fr": "E"})
    with django_capture_on_commit_callbacks(execute=True):
        attempt_submit(exercise=unlinked, user=other, answer=right_answer(unlinked, other))
    assert not ScoreSync.objects.filter(user=other).exists()


def test_a_score_is_held_before_the_release_date_and_never_sent(linked, django_capture_on_commit_callbacks):
    from exercises.engine.services import attempt_submit
    from tests.factories import right_answer

    course, link, user = linked
    exercise = course.exercises.filter(type="output_size").order_by("pk").first()
    exercise.grades_visible_at = timezone.now() + timedelta(days=2)
    exercise.save(update_fields=["grades_visible_at"])
    with django_capture_on_commit_callbacks(execute=True):
        attempt_submit(exercise=exercise, user=user, answer=right_answer(exercise, user))
    sync = ScoreSync.objects.get(user=user, exercise=exercise)
    # The LMS's URL here is a closed port: held means no connection was even tried.
    assert services.score_send(sync_id=sync.pk) == "held"
    sync.refresh_from_db()
    assert sync.status == "held" and sync.tries == 0 and sync.sent_score is None
    # After the date, the send is tried (and fails here: nobody listens), for the task to retry.
    exercise.grades_visible_at = timezone.now() - timedelta(seconds=1)
    exercise.save(update_fields=["grades_visible_at"])
    with pytest.raises(services.ScoreSendError):
        services.score_send(sync_id=sync.pk)
    sync.refresh_from_db()
    assert sync.tries == 1 and sync.error


def test_a_section_line_item_totals_only_released_exercises(linked, django_capture_on_commit_callbacks):
    from exercises.engine.services import attempt_submit
    from tests.factories import right_answer

    course, link, user = linked
    CourseContext.objects.filter(pk=link.pk).update(grain="section")
    first = course.exercises.filter(type="output_size").order_by("pk").first()
    section = services.section_key(first)
    in_section = [e for e in course.exercises.filter(published=True, deleted_at__isnull=True) if services.section_key(e) == section]
    hidden = next(e for e in in_section if e.pk != first.pk and e.type in ("output_size", "param_count", "kernel", "mcq"))
    hidden.grades_visible_at = timezone.now() + timedelta(days=1)
    hidden.save(update_fields=["grades_visible_at"])
    with django_capture_on_commit_callbacks(execute=True):
        attempt_submit(exercise=first, user=user, answer=right_answer(first, user))
        attempt_submit(exercise=hidden, user=user, answer=right_answer(hidden, user))
    sync = ScoreSync.objects.get(user=user, target=f"section:{section}")
    score = services.score_for(sync)
    assert score.maximum == sum(e.max_score for e in in_section)
    assert score.given == pytest.approx(first.max_score)  # the hidden exercise's points are not in it
    assert score.released


def test_the_scores_page_is_the_courses_teachers(linked):
    from tests.factories import logged_in, teacher

    course, link, user = linked
    assert Client().get(f"/lti/courses/{course.slug}/scores/").status_code == 302
    assert logged_in(user).get(f"/lti/courses/{course.slug}/scores/").status_code == 404
    page = logged_in(teacher(course, username="prof")).get(f"/lti/courses/{course.slug}/scores/")
    assert page.status_code == 200 and "Notes dans le LMS" in page.content.decode()


def test_the_admin_registration_page_shows_the_default_course_and_the_tool_urls(linked, settings):
    from tests.factories import admin, logged_in

    course, link, user = linked
    settings.STRIDE_PUBLIC_URL = "https://stride.example.org"
    registration = link.context.deployment.registration
    page = logged_in(admin(username="root")).get(f"/admin/lti_tool/ltiregistration/{registration.pk}/change/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "https://stride.example.org/lti/jwks/" in text and "https://stride.example.org/lti/login/" in text
    assert 'name="stride-0-course"' in text  # the default course, inline


def test_a_member_who_left_gets_no_more_passbacks(linked, django_capture_on_commit_callbacks):
    course, link, user = linked
    exercise = course.exercises.filter(type="output_size").order_by("pk").first()
    LtiMembership.objects.filter(context=link.context).update(is_active=False)
    assert services.scores_request(exercise_id=exercise.pk, user_ids=[user.pk]) == []
