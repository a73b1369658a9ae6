"""What a student reads after a wrong answer, on every instant exercise of the built-in course.

While attempts remain, the feedback (API and page) is a diagnosis that never contains the
expected answer; the worked solution comes after a right answer, the last attempt, the due
date, or at once when the teacher chose "solution at once". A resent answer (the same form
token, the same Idempotency-Key) records one attempt; a malformed answer of any kind costs none.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from exercises.engine.variants import variant_generate
from exercises.models import Attempt, Exercise
from exercises.types import INSTANT, get_type
from grader.convolution import KERNELS
from grader.text import format_int
from tests.factories import PASSWORD, student

pytestmark = pytest.mark.django_db


@pytest.fixture
def course():
    call_command("load_course", verbosity=0)
    from courses.models import Course

    return Course.objects.get(slug="cnn-diffusion")


@pytest.fixture
def user(course):
    return student(course, username="policy-reader")


@pytest.fixture
def api(user):
    client = Client()
    token = client.post("/api/v1/auth/token", {"username": user.username, "password": PASSWORD},
                        content_type="application/json").json()["token"]
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


def instant_exercises() -> list[Exercise]:
    return [e for e in Exercise.objects.filter(course__slug="cnn-diffusion").order_by("position")
            if get_type(e.type).grading == INSTANT]


def wrong_and_giveaways(exercise: Exercise, user) -> tuple[dict, dict, list[str]]:
    """A wrong answer (API shape), the same as form fields, and the strings that would give the
    expected answer away."""
    variant = variant_generate(exercise=exercise, user_id=user.pk)
    solution = get_type(exercise.type).solve(variant)
    if "shape" in solution:
        shape = solution["shape"]
        wrong = [shape[0] + 1, *shape[1:]]
        fields = dict(zip(("h", "w", "c")[3 - len(wrong):], map(str, wrong), strict=True))
        return {"shape": wrong}, fields, ["(" + ", ".join(map(str, shape)) + ")"]
    if "value" in solution:
        value = solution["value"]
        wrong = value * 2 + 7
        if value < 10:  # a small count is written in words too ("no weights")
            giveaways = [rf"\b{value} param", "aucun poids", "no weights", "0 param"] if value == 0 else [rf"\b{value} param"]
        else:
            giveaways = [rf"(?<![\d\u202f,]){re.escape(format_int(value, lang))}(?![\d\u202f,])" for lang in ("fr", "en")]
        return {"value": wrong}, {"value": str(wrong)}, giveaways
    if "choice" in solution:
        other = next(c["id"] for c in variant["choices"] if c["id"] != solution["choice"])
        label = KERNELS[solution["choice"]].label
        return {"choice": other}, {"choice": other}, [re.escape(label["fr"]), re.escape(label["en"])]
    if "kernel" in solution:
        kernel = [[0.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]]
        fields = {f"k{i}": str(v) for i, v in enumerate(v for row in kernel for v in row)}
        named = [k for k in KERNELS.values() if k.array.tolist() == solution["kernel"]]
        return {"kernel": kernel}, fields, [re.escape(text) for k in named for text in k.label.values()]
    texts = {c["id"]: c["text"] for c in variant["choices"]}
    wrong = next(c["id"] for c in variant["choices"] if c["id"] not in solution["choices"])
    # A short choice ("4", "1980") counts as given away when it is quoted as a choice.
    giveaways = [re.escape(texts[c][lang]) if len(texts[c][lang]) > 5 else rf"[«“]\s*{re.escape(texts[c][lang])}\s*[»”]"
                 for c in solution["choices"] for lang in ("fr", "en")
                 if texts[c][lang] not in (texts[wrong]["fr"], texts[wrong]["en"])]
    return {"choices": [wrong]}, {"choices": [wrong]}, giveaways


def assert_no_giveaway(text: str, giveaways: list[str], where: str) -> None:
    for pattern in giveaways:
        assert not re.search(pattern, text), f"{where}: the feedback gives the answer away ({pattern}):\n{text}"


def test_a_wrong_answer_with_attempts_left_never_contains_the_answer_api_and_page(course, user, api, browser):
    exercises = instant_exercises()
    assert len(exercises) >= 25
    for exercise in exercises:
        exercise.max_attempts = 3
        exercise.save()
        answer, fields, giveaways = wrong_and_giveaways(exercise, user)
        for language in ("fr", "en"):
            body = api.post(f"/api/v1/exercises/{exercise.pk}/attempts", {"answer": answer},
                            content_type="application/json", HTTP_ACCEPT_LANGUAGE=language).json()
            assert body["correct"] is False and body["attempts_left"] >= 1, (exercise.slug, body)
            assert_no_giveaway(body["feedback"], giveaways, f"API {exercise.slug} ({language})")
        Attempt.objects.filter(exercise=exercise, user=user).delete()
        page = browser.post(f"/exercises/{exercise.pk}/answer/", fields, HTTP_HX_REQUEST="true").content.decode()
        assert 'id="feedback"' in page, (exercise.slug, page[:500])
        assert 'id="explanation"' not in page, exercise.slug
        assert_no_giveaway(page, giveaways, f"page {exercise.slug}")
        again = browser.get(f"/exercises/{exercise.pk}/").content.decode()
        assert_no_giveaway(again.split('id="result"')[1], giveaways, f"page reload {exercise.slug}")


def test_the_worked_solution_comes_after_the_last_attempt(course, user, api):
    exercise = Exercise.objects.get(slug="output-size-224-chain")
    exercise.max_attempts = 2
    exercise.save()
    answer, _fields, giveaways = wrong_and_giveaways(exercise, user)
    first = api.post(f"/api/v1/exercises/{exercise.pk}/attempts", {"answer": answer}, content_type="application/json").json()
    assert not any(re.search(p, first["feedback"]) for p in giveaways)
    assert first["feedback"].strip(), "a diagnosis is still given"
    last = api.post(f"/api/v1/exercises/{exercise.pk}/attempts", {"answer": answer}, content_type="application/json").json()
    assert last["attempts_left"] == 0
    assert any(re.search(p, last["feedback"]) for p in giveaways), last["feedback"]


def test_the_worked_solution_comes_after_the_due_date_and_at_once_when_the_teacher_says(course, user, api, browser):
    exercise = Exercise.objects.get(slug="param-count-conv-layer")
    exercise.max_attempts = None
    exercise.save()
    answer, _fields, giveaways = wrong_and_giveaways(exercise, user)
    body = api.post(f"/api/v1/exercises/{exercise.pk}/attempts", {"answer": answer}, content_type="application/json").json()
    assert not any(re.search(p, body["feedback"]) for p in giveaways)
    page = browser.get(f"/exercises/{exercise.pk}/").content.decode()
    assert 'id="solution-later"' in page and 'id="explanation"' not in page

    exercise.feedback_policy = Exercise.FeedbackPolicy.AT_ONCE
    exercise.save()
    body = api.post(f"/api/v1/exercises/{exercise.pk}/attempts", {"answer": answer}, content_type="application/json").json()
    assert any(re.search(p, body["feedback"]) for p in giveaways), body["feedback"]
    assert 'id="explanation"' in browser.get(f"/exercises/{exercise.pk}/").content.decode()

    exercise.feedback_policy = Exercise.FeedbackPolicy.AFTER_SOLVED
    exercise.due_at = timezone.now() - timedelta(hours=1)
    exercise.save()
    page = browser.get(f"/exercises/{exercise.pk}/").content.decode()
    assert any(re.search(p, page) for p in giveaways) and 'id="explanation"' in page


def test_a_resent_form_or_idempotency_key_records_one_attempt(course, user, api, browser):
    exercise = Exercise.objects.get(slug="output-size-224-chain")
    exercise.retry_penalty = 0.25
    exercise.save()
    answer, fields, _giveaways = wrong_and_giveaways(exercise, user)
    page = browser.get(f"/exercises/{exercise.pk}/").content.decode()
    token = re.search(r'name="answer_token" id="answer-token" value="(\w+)"', page).group(1)
    for _ in range(2):  # a double click sends the same render's token twice
        response = browser.post(f"/exercises/{exercise.pk}/answer/", {**fields, "answer_token": token}, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
    assert Attempt.objects.filter(exercise=exercise, user=user).count() == 1
    fresh = re.search(r'name="answer_token" id="answer-token" value="(\w+)"', response.content.decode()).group(1)
    assert fresh != token, "the answer panel brings a new token for the next answer"

    headers = {"HTTP_IDEMPOTENCY_KEY": "notebook-cell-7"}
    first = api.post(f"/api/v1/exercises/{exercise.pk}/attempts", {"answer": answer}, content_type="application/json", **headers).json()
    second = api.post(f"/api/v1/exercises/{exercise.pk}/attempts", {"answer": answer}, content_type="application/json", **headers).json()
    assert first == second
    attempts = list(Attempt.objects.filter(exercise=exercise, user=user).order_by("number"))
    assert len(attempts) == 2 and attempts[1].score == attempts[1].raw_score * 0.75  # one retry penalty, not two
    too_long = api.post(f"/api/v1/exercises/{exercise.pk}/attempts", {"answer": answer}, content_type="application/json",
                        HTTP_IDEMPOTENCY_KEY="k" * 101)
    assert too_long.status_code == 400 and "100" in too_long.json()["detail"]


@pytest.mark.parametrize("slug, answer, words", [
    ("output-size-224-chain", {"shape": [1, 2]}, "dimension"),
    ("output-size-224-chain", {"shape": [1, 2, 3, 4]}, "batch"),
    ("kernel-reconstruct-blur", {"kernel": [[1, 2], [3, 4]]}, "3"),
    ("kernel-reconstruct-blur", {"kernel": [[1, 2, 3], [4, "NaN", 6], [7, 8, 9]]}, ""),
    ("kernel-identify-laplacian", {"choice": "zoom"}, "zoom"),
    ("param-count-conv-layer", {"value": "deux cents"}, ""),
    ("quiz-parameters-location", {"choices": ["nope"]}, "nope"),
])
def test_format_errors_of_every_kind_cost_no_attempt(course, user, api, slug, answer, words):
    exercise = Exercise.objects.get(slug=slug)
    response = api.post(f"/api/v1/exercises/{exercise.pk}/attempts", {"answer": answer}, content_type="application/json")
    assert response.status_code == 400, response.content
    assert words in response.json()["detail"]
    assert not Attempt.objects.filter(exercise=exercise, user=user).exists()
