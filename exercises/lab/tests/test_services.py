"""Diffusion generations on the web side: bad input is a clear 4xx and never queued, the
batch claim, the sweeper, privacy, policy. No worker and no TensorFlow here (see
tests/test_diffusion_worker.py for the real thing)."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from exercises.lab.services import GenerationRefused, generation_create, generations_claim_batch, generations_sweep
from exercises.models import Exercise, Generation
from tests.factories import CourseFactory, logged_in, student, teacher

pytestmark = pytest.mark.django_db
OK = {"prompt": "banane verte", "steps": 20, "seed": 7, "guidance": 3.0}


@pytest.fixture
def course():
    return CourseFactory(slug="lab-course")


@pytest.fixture
def exercise(course):
    return Exercise.objects.create(course=course, slug="gen", type="diffusion", title_i18n={"fr": "G", "en": "G"},
                                   params={"mode": "target", "targets": ["banane verte"], "generations_per_day": 3})


@pytest.fixture
def api(course):
    user = student(course, username="ana")
    return logged_in(user), user


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("change, words", [
    ({"prompt": "banane bleue"}, "bleue"),
    ({"prompt": ""}, "pomme rouge"),
    ({"prompt": "   "}, "pomme rouge"),
    ({"prompt": "pomme " * 20}, "80"),
    ({"prompt": "pomme banane"}, "fruit"),
    ({"steps": 0}, "étapes"),
    ({"steps": 101}, "de 1 à 100"),
    ({"guidance": 10.5}, "guidage"),
    ({"guidance": -1}, "de 0 à 10"),
    ({"seed": -1}, "graine"),
    ({"seed": 2**31}, "2147483647"),
])
def test_bad_settings_are_a_clear_422_and_never_queued(api, exercise, change, words):
    client, _user = api
    response = post(client, f"/api/v1/exercises/{exercise.pk}/generations", {**OK, **change})
    assert response.status_code == 422, response.content
    detail = response.json()["detail"]
    assert words.lower() in detail.lower(), detail
    assert not Generation.objects.exists()


def test_wrong_types_are_400_not_500(api, exercise):
    client, _user = api
    for body in ({**OK, "steps": "many"}, {**OK, "prompt": None}, ["x"], {}):
        response = post(client, f"/api/v1/exercises/{exercise.pk}/generations", body)
        assert response.status_code in (400, 422), (body, response.content)
    assert not Generation.objects.exists()


def test_an_unknown_word_names_it_and_suggests_the_closest(api, exercise):
    client, _user = api
    detail = post(client, f"/api/v1/exercises/{exercise.pk}/generations", {**OK, "prompt": "bananne verte"}).json()["detail"]
    assert "« bananne »" in detail and "« banane »" in detail


def test_a_generation_is_queued_and_sent_after_commit(api, exercise, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr("exercises.lab.services.send_task", lambda name, pk, model: sent.append((name, pk)) or True)
    client, user = api
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, f"/api/v1/exercises/{exercise.pk}/generations", {**OK, "prompt": "Une Banane VERTE"})
    assert response.status_code == 202
    generation = Generation.objects.get(pk=response.json()["generation_id"])
    assert (generation.user, generation.exercise, generation.course) == (user, exercise, exercise.course)
    assert generation.prompt == "Une Banane VERTE" and generation.status == "queued"
    assert sent == [("workers.tasks.generate", generation.pk)]
    body = client.get(f"/api/v1/generations/{generation.pk}").json()
    assert body["status"] == "queued" and body["position"] == 1 and body["image_url"] is None


def test_a_failed_send_keeps_the_row_for_the_sweeper(api, exercise, django_capture_on_commit_callbacks, monkeypatch):
    """What the site does when the broker refuses the message (tests/faults covers a real Redis outage)."""
    from celery import current_app as app  # Stride's app (config made it current)
    from kombu.exceptions import OperationalError

    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(app, "send_task", refuse)
    client, _user = api
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, f"/api/v1/exercises/{exercise.pk}/generations", OK)
    assert response.status_code == 202
    generation = Generation.objects.get()
    assert generation.status == "queued" and generation.enqueued_at is None


def test_daily_limit_and_closed_exercise(api, exercise, monkeypatch):
    monkeypatch.setattr("exercises.lab.services.send_task", lambda *a: True)
    client, user = api
    for seed in range(3):
        assert post(client, f"/api/v1/exercises/{exercise.pk}/generations", {**OK, "seed": seed}).status_code == 202
    response = post(client, f"/api/v1/exercises/{exercise.pk}/generations", OK)
    assert response.status_code == 429 and "3" in response.json()["detail"]
    # Failed generations do not count against the limit.
    Generation.objects.filter(pk=Generation.objects.first().pk).update(status="failed")
    assert post(client, f"/api/v1/exercises/{exercise.pk}/generations", OK).status_code == 202
    Exercise.objects.filter(pk=exercise.pk).update(due_at=timezone.now() - timedelta(hours=1), late_policy="closed")
    response = post(client, f"/api/v1/exercises/{exercise.pk}/generations", OK)
    assert response.status_code == 403
    assert Generation.objects.count() == 4


def test_the_lab_is_ungraded_and_only_for_members(api, course, monkeypatch):
    monkeypatch.setattr("exercises.lab.services.send_task", lambda *a: True)
    client, _user = api
    response = post(client, f"/api/v1/courses/{course.slug}/generations", OK)
    assert response.status_code == 202
    assert Generation.objects.get().exercise is None
    outsider = logged_in(student(CourseFactory(slug="elsewhere"), username="bob"))
    assert post(outsider, f"/api/v1/courses/{course.slug}/generations", OK).status_code == 404


def test_other_exercise_types_refuse_generations(api, course):
    quiz = Exercise.objects.create(course=course, slug="q", type="numeric", title_i18n={"fr": "Q", "en": "Q"},
                                   params={"answers": [{"value": 1, "tolerance": 0}]})
    client, _user = api
    assert post(client, f"/api/v1/exercises/{quiz.pk}/generations", OK).status_code == 400


def _row(exercise, user, steps=20, **fields):
    return Generation.objects.create(course=exercise.course, exercise=exercise, user=user, prompt="pomme rouge", steps=steps,
                                     seed=fields.pop("seed", 0), guidance=3.0, **fields)


def test_a_claim_takes_this_row_and_queued_rows_of_the_same_steps_oldest_first(exercise, settings):
    settings.STRIDE_DIFFUSION_BATCH = 3
    user = student(exercise.course)
    now = timezone.now()
    first = _row(exercise, user, queued_at=now)
    older = _row(exercise, user, queued_at=now - timedelta(seconds=30))
    other_steps = _row(exercise, user, steps=50, queued_at=now - timedelta(seconds=60))
    later = [_row(exercise, user, queued_at=now + timedelta(seconds=i + 1)) for i in range(3)]
    taken = _row(exercise, user, queued_at=now - timedelta(seconds=90), status="running", claim_token=uuid.uuid4())
    token = uuid.uuid4()
    batch = generations_claim_batch(generation_id=first.pk, token=token, now=now)
    assert [row.pk for row in batch] == [older.pk, first.pk, later[0].pk]
    assert all(row.status == "running" and row.tries == 1 for row in batch)
    # Nothing is claimed twice: the same call again gets nothing, the others are untouched.
    assert generations_claim_batch(generation_id=first.pk, token=uuid.uuid4(), now=now) == []
    assert Generation.objects.get(pk=other_steps.pk).status == "queued"
    assert Generation.objects.get(pk=taken.pk).claim_token != token
    assert set(Generation.objects.filter(status="queued").values_list("pk", flat=True)) == {other_steps.pk, later[1].pk,
                                                                                            later[2].pk}


def test_the_sweeper_requeues_stale_rows_and_fails_them_after_three_tries(exercise, settings, monkeypatch):
    sent = []
    monkeypatch.setattr("exercises.lab.services.send_task", lambda name, pk, model: sent.append(pk) or True)
    user = student(exercise.course)
    long_ago = timezone.now() - timedelta(hours=1)
    stale = _row(exercise, user, status="running", started_at=long_ago, tries=1, claim_token=uuid.uuid4())
    worn = _row(exercise, user, status="running", started_at=long_ago, tries=3, claim_token=uuid.uuid4())
    lost = _row(exercise, user, enqueued_at=None)
    fresh = _row(exercise, user, enqueued_at=timezone.now())
    counts = generations_sweep()
    assert counts == {"requeued": 1, "failed": 1, "resent": 2}
    assert Generation.objects.get(pk=stale.pk).status == "queued"
    failed = Generation.objects.get(pk=worn.pk)
    assert failed.status == "failed" and "3" in failed.feedback["fr"]
    assert set(sent) == {stale.pk, lost.pk}
    assert fresh.pk not in sent


def test_privacy_other_students_get_404_teachers_see_all(exercise):
    owner = student(exercise.course, username="owner")
    generation = _row(exercise, owner, status="done")
    other = logged_in(student(exercise.course, username="other"))
    for url in (f"/api/v1/generations/{generation.pk}", f"/generations/{generation.pk}/",
                f"/generations/{generation.pk}/image.png", f"/generations/{generation.pk}/trajectory/0.png"):
        assert other.get(url).status_code == 404, url
    own_teacher = logged_in(teacher(exercise.course))
    assert own_teacher.get(f"/api/v1/generations/{generation.pk}").status_code == 200
    assert own_teacher.get(f"/courses/{exercise.course.slug}/generations/").status_code == 200
    stranger = logged_in(teacher(CourseFactory(slug="other-course")))
    assert stranger.get(f"/api/v1/generations/{generation.pk}").status_code == 404
    assert stranger.get(f"/courses/{exercise.course.slug}/generations/").status_code == 404
    assert logged_in(owner).get(f"/courses/{exercise.course.slug}/generations/").status_code == 404


def test_pages_render_with_the_form_and_the_gallery(api, exercise, course):
    client, user = api
    _row(exercise, user, status="failed", feedback={"fr": "Échec clair.", "en": "Clear failure."})
    page = client.get(f"/exercises/{exercise.pk}/").content.decode()
    assert 'id="generate-form"' in page and "banane verte" in page and "Échec clair." in page
    lab = client.get(f"/courses/{course.slug}/lab/").content.decode()
    assert 'id="generate-form"' in lab and "pomme" in lab
    htmx = client.post(f"/courses/{course.slug}/lab/generate/", {"prompt": "poire bleue", "steps": "20", "seed": "1",
                                                                   "guidance": "3"}, HTTP_HX_REQUEST="true")
    assert htmx.status_code == 200 and htmx["X-Stride-Status"] == "422"
    assert "« bleue »" in htmx.content.decode()


def test_params_are_validated():
    from exercises.types import get_type
    from grader.result import ParamsError

    diffusion = get_type("diffusion")
    diffusion.validate_params({"mode": "fewest_steps", "targets": ["pomme rouge", "citron vert"]})
    for bad in ({"mode": "paint"}, {"targets": []}, {"targets": ["pomme"]}, {"targets": ["pomme bleue"]},
                {"steps_thresholds": [[0, 1]]}, {"steps_thresholds": [[5, 2]]}, {"color": "red"}):
        with pytest.raises(ParamsError):
            diffusion.validate_params(bad)


def test_the_refusal_is_an_exception_with_a_status():
    with pytest.raises(GenerationRefused) as info:
        generation_create(user=None, course=None, prompt="pomme", steps=1000, seed=1, guidance=1)
    assert info.value.status == 422


def test_regrade_rescores_done_generations_from_what_the_classifier_saw(exercise):
    from exercises.engine.services import attempt_record_graded
    from exercises.grading import exercise_regrade

    user = student(exercise.course)
    seen = {"fruit": 1, "colour": 2, "caption": "banane jaune", "fruit_confidence": 0.9, "colour_confidence": 0.8}
    generation = _row(exercise, user, status="done", recognition=seen, score=0.5)
    attempt = attempt_record_graded(exercise=exercise, user=user, answer={"generation_id": generation.pk}, raw_score=0.5,
                                    feedback={}, late=False, received_at=generation.queued_at)
    Generation.objects.filter(pk=generation.pk).update(attempt=attempt)
    Exercise.objects.filter(pk=exercise.pk).update(params={**exercise.params, "targets": ["banane jaune"]})
    exercise.refresh_from_db()
    report = exercise_regrade(exercise=exercise)
    assert (report.attempts, report.changed) == (1, 1)
    attempt.refresh_from_db()
    assert attempt.score == 1.0 and attempt.correct and "banane jaune" in attempt.feedback["fr"]
