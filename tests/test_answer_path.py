"""The instant-answer path of issue #17: its SQL is counted (deterministic, unlike a time), and
the standing it answers with, worked out without reading the attempts again, is the one the
full selector computes; the benchmarks' baseline view is mounted only by ``bench.settings``.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import Resolver404, resolve
from django.utils import timezone

from config.i18n import localize
from exercises.engine.selectors import exercise_row_for_user
from exercises.engine.visibility import attempt_feedback
from exercises.models import Attempt, Exercise, Extension
from tests.factories import PASSWORD, student, teacher

pytestmark = pytest.mark.django_db
MCQ = "quiz-parameters-location"  # one right choice: "b"


@pytest.fixture
def course():
    call_command("load_course", verbosity=0)
    from courses.models import Course

    return Course.objects.get(slug="cnn-diffusion")


def _token_client(user) -> Client:
    client = Client()
    token = client.post("/api/v1/auth/token", {"username": user.username, "password": PASSWORD},
                        content_type="application/json").json()["token"]
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def _queries(captured) -> list[str]:
    """The statements' verbs, transaction control left out (SQLite does not log it)."""
    verbs = [q["sql"].split()[0].upper() for q in captured.captured_queries]
    return [v for v in verbs if v not in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")]


def _answer(client, exercise, choices, **headers):
    return client.post(f"/api/v1/exercises/{exercise.pk}/attempts", {"answer": {"choices": choices}},
                       content_type="application/json", **headers)


def test_an_exercise_read_takes_two_queries_and_an_answer_six(course, django_assert_max_num_queries,
                                                              django_capture_on_commit_callbacks):
    user = student(course, username="counted")
    client = _token_client(user)
    exercise = Exercise.objects.get(course=course, slug=MCQ)
    Exercise.objects.filter(pk=exercise.pk).update(max_attempts=None)
    client.get(f"/api/v1/exercises/{exercise.pk}")  # the token's last use is written once a minute
    # The token (with the user's role groups), then the exercise (with the role in its course,
    # the student's due date, their override and their attempts used). The goal: <= 3.
    with django_assert_max_num_queries(2):
        read = client.get(f"/api/v1/exercises/{exercise.pk}")
    assert read.status_code == 200 and read.json()["attempts_left"] is None
    for huge in (2**63, 2**70):  # an id no database holds: 404, never a 500 (SQLite overflows)
        assert client.get(f"/api/v1/exercises/{huge}").status_code == 404
        assert _answer(client, type("E", (), {"pk": huge}), ["a"]).status_code == 404
    # The token, the exercise, then in one transaction (BEGIN and COMMIT are counted too on
    # PostgreSQL): the lock, the tally, the insert; after the commit, whether an LMS links the
    # course (lti.signals: every new attempt asks).
    with django_assert_max_num_queries(8) as captured, django_capture_on_commit_callbacks(execute=True):
        response = _answer(client, exercise, ["a"])
    assert response.status_code == 200, response.content
    assert _queries(captured) == ["SELECT"] * 4 + ["INSERT", "SELECT"]
    assert Attempt.objects.filter(user=user, exercise=exercise).count() == 1


@pytest.mark.parametrize("sent", [["a"], ["b"]], ids=["wrong", "right"])
def test_the_answer_reports_the_standing_the_full_selector_computes(course, sent):
    """attempts_left, the score and whether the worked solution shows, after each answer, against
    ``exercise_row_for_user`` read afresh: with attempts left, at the last one, with a personal
    due date in the past (late, penalised) and for a teacher of the course."""
    exercise = Exercise.objects.get(course=course, slug=MCQ)
    Exercise.objects.filter(pk=exercise.pk).update(max_attempts=2, late_penalty=0.5)
    exercise.refresh_from_db()
    user = student(course, username=f"standing-{sent[0]}")
    client = _token_client(user)
    for number in (1, 2):
        data = _answer(client, exercise, sent).json()
        row = exercise_row_for_user(exercise=exercise, user=user)
        assert data["attempts_left"] == row.state.attempts_left == 2 - number
        assert data["score"] == Attempt.objects.get(pk=data["attempt_id"]).score
        attempt = Attempt.objects.get(pk=data["attempt_id"])
        assert data["feedback"] == localize(attempt_feedback(attempt, row.vis), "fr")
        assert row.vis.solution == (number == 2 or sent == ["b"])
        if sent == ["b"]:
            break
    late = student(course, username=f"late-{sent[0]}")
    Extension.objects.create(exercise=exercise, user=late, due_at=timezone.now() - timedelta(days=1))
    data = _answer(_token_client(late), exercise, sent).json()
    attempt = Attempt.objects.get(pk=data["attempt_id"])
    assert attempt.late and data["attempts_left"] == exercise_row_for_user(exercise=exercise, user=late).state.attempts_left
    who = teacher(course, username=f"teacher-{sent[0]}")
    assert _answer(_token_client(who), exercise, sent).status_code == 200


def test_the_token_carries_the_role_an_unpublished_exercise_is_for_teachers(course):
    exercise = Exercise.objects.get(course=course, slug=MCQ)
    Exercise.objects.filter(pk=exercise.pk).update(published=False)
    assert _token_client(student(course, username="s-hidden")).get(f"/api/v1/exercises/{exercise.pk}").status_code == 404
    assert _token_client(teacher(course, username="t-hidden")).get(f"/api/v1/exercises/{exercise.pk}").status_code == 200
    outsider = student(None, username="not-enrolled")
    assert _token_client(outsider).get(f"/api/v1/exercises/{exercise.pk}").status_code == 404


def test_an_override_is_read_from_the_exercise_query(course):
    """A teacher's override replaces the best attempt: a full override opens the worked solution."""
    from gradebook.models import GradeOverride

    exercise = Exercise.objects.get(course=course, slug=MCQ)
    Exercise.objects.filter(pk=exercise.pk).update(max_attempts=5)
    exercise.refresh_from_db()
    user = student(course, username="overridden")
    who = teacher(course, username="overrider")
    GradeOverride.objects.create(exercise=exercise, student=user, score=1.0, comment="ok", by=who)
    data = _answer(_token_client(user), exercise, ["a"]).json()
    row = exercise_row_for_user(exercise=exercise, user=user)
    assert row.vis.solution and data["attempts_left"] == row.state.attempts_left == 4
    attempt = Attempt.objects.get(pk=data["attempt_id"])
    assert data["feedback"] == localize(attempt_feedback(attempt, row.vis), "fr")


def test_the_baseline_view_lives_only_in_the_bench_urls(course, settings, django_assert_max_num_queries):
    with pytest.raises(Resolver404):
        resolve("/bench/minimal-answer/1")  # config.urls: the product never serves it
    settings.ROOT_URLCONF = "bench.urls"
    exercise = Exercise.objects.get(course=course, slug=MCQ)
    user = student(course, username="minimal")
    client = _token_client(user)
    client.get(f"/api/v1/exercises/{exercise.pk}")
    # One indexed token query, then the lock, the count and the insert (and BEGIN/COMMIT).
    with django_assert_max_num_queries(6) as captured:
        response = client.post(f"/bench/minimal-answer/{exercise.pk}", {"answer": {"choices": ["b"]}},
                               content_type="application/json")
    assert response.status_code == 200, response.content
    assert _queries(captured) == ["SELECT"] * 3 + ["INSERT"]
    assert Attempt.objects.get(pk=response.json()["attempt_id"]).number == 1
    assert Client().post(f"/bench/minimal-answer/{exercise.pk}", {"answer": 1},
                         content_type="application/json").status_code == 401
    outsider = _token_client(student(None, username="minimal-outsider"))
    assert outsider.post(f"/bench/minimal-answer/{exercise.pk}", {"answer": 1},
                         content_type="application/json").status_code == 404
