"""The HTML pages of the exercises: course page, exercise page, HTMX answer, my results.

The interface is French by default, so the strings checked here are the French ones of
platform/translations/fr/LC_MESSAGES/django.po.
"""
from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from courses.models import Course
from exercises.engine.services import attempt_submit
from exercises.engine.variants import variant_generate
from exercises.models import Attempt, Exercise
from exercises.types import get_type
from tests.factories import CourseFactory, student

pytestmark = pytest.mark.django_db

# French strings of the templates (msgstr of the django.po).
CORRECT = "Correct !"
NOT_QUITE = "Pas tout à fait."
UNREADABLE = "Votre réponse n'a pas pu être lue :"
NO_ATTEMPT_USED = "Aucune tentative n'a été décomptée."
BEST_SCORE = "Meilleur score"

PARAMS = {
    "output_size": {
        "input_shape": [5, 5, 1],
        "layers": [
            {"class_name": "ZeroPadding2D", "config": {"padding": 1}},
            {"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": 3, "strides": 1, "padding": "valid"}},
        ],
    },
    "param_count": {
        "input_shape": [8, 8, 3],
        "layers": [
            {"class_name": "Conv2D", "config": {"filters": 2, "kernel_size": 3}},
            {"class_name": "Flatten", "config": {}},
            {"class_name": "Dense", "config": {"units": 10}},
        ],
        "ask": "total",
    },
    "kernel-reconstruct": {"mode": "reconstruct", "kernels": ["sharpen"], "crop": 12},
    "kernel-identify": {"mode": "identify", "kernels": ["sobel_h"], "choices": ["sobel_h", "blur", "laplacian"]},
    "mcq": {
        "multiple": True,
        "choices": [
            {"id": "pool", "text": {"fr": "Le pooling n'a aucun paramètre", "en": "Pooling has no parameter"},
             "correct": True},
            {"id": "bias", "text": {"fr": "Un biais par filtre", "en": "One bias per filter"}, "correct": True},
            {"id": "dense", "text": {"fr": "Dense n'a pas de biais", "en": "Dense has no bias"}, "correct": False},
        ],
    },
}
KINDS = list(PARAMS)


@pytest.fixture
def course():
    return CourseFactory(slug="pages-course", title_i18n={"fr": "Cours des pages", "en": "Pages course"})


@pytest.fixture
def exercises(course):
    return {
        key: Exercise.objects.create(
            course=course, slug=key, type=key.split("-")[0], position=index, params=params, max_attempts=3,
            title_i18n={"fr": f"Titre {key}", "en": f"Title {key}"},
            statement_i18n={"fr": f"Énoncé de **{key}**", "en": f"Statement of {key}"},
        )
        for index, (key, params) in enumerate(PARAMS.items())
    }


@pytest.fixture
def user(course):
    return student(course, username="page-student")


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


def text_of(response) -> str:
    return html.unescape(response.content.decode())


def right_answer(exercise, user) -> dict:
    variant = variant_generate(exercise=exercise, user_id=user.pk)
    return get_type(exercise.type).solve(variant)


def form_of(answer: dict) -> dict:
    """The HTML form fields that carry an API-shaped answer."""
    if "shape" in answer:
        shape = answer["shape"]
        return dict(zip(("h", "w", "c")[3 - len(shape):], map(str, shape), strict=True))
    if "value" in answer:
        return {"value": str(answer["value"])}
    if "kernel" in answer:
        return {f"k{i}": repr(float(v)) for i, v in enumerate(v for row in answer["kernel"] for v in row)}
    if "choice" in answer:
        return {"choice": answer["choice"]}
    return {"choices": list(answer["choices"])}


def htmx_post(client, exercise, data):
    return client.post(f"/exercises/{exercise.pk}/answer/", data, HTTP_HX_REQUEST="true")


def row_of(page: str, slug: str) -> str:
    match = re.search(rf'<tr data-exercise="{re.escape(slug)}">(.*?)</tr>', page, re.S)
    assert match, f"no row for {slug}"
    return match.group(1)


# --- the course page ---------------------------------------------------------------------------
def test_the_course_page_lists_the_exercises_with_their_state(browser, user, course, exercises):
    attempt_submit(exercise=exercises["mcq"], user=user, answer={"choices": ["pool", "bias"]})  # solved
    attempt_submit(exercise=exercises["param_count"], user=user, answer={"value": 1})  # tried, 0 %
    Exercise.objects.filter(pk=exercises["kernel-identify"].pk).update(
        due_at=timezone.now() - timedelta(days=1), late_policy="closed")
    hidden = Exercise.objects.create(course=course, slug="hidden", type="mcq", params=PARAMS["mcq"],
                                     title_i18n={"fr": "Caché", "en": "Hidden"}, published=False)

    response = browser.get(f"/courses/{course.slug}/")

    assert response.status_code == 200
    page = text_of(response)
    assert "Cours des pages" in page
    for key, exercise in exercises.items():
        assert f'href="/exercises/{exercise.pk}/"' in row_of(page, key)
        assert f"Titre {key}" in row_of(page, key)
    assert 'data-exercise="hidden"' not in page and "Caché" not in page and f"/exercises/{hidden.pk}/" not in page
    states = {key: re.search(r'pill pill-(\w+) state">([^<]+)<', row_of(page, key)).groups() for key in exercises}
    assert states["mcq"] == ("solved", "résolu")
    assert states["param_count"] == ("tried", "à reprendre")
    assert states["kernel-identify"] == ("closed", "fermé")
    assert states["output_size"] == ("todo", "pas commencé")
    assert states["kernel-reconstruct"] == ("todo", "pas commencé")
    assert ">2<" in row_of(page, "param_count").replace(" ", "")  # attempts left: 3 - 1
    assert "1 exercices résolus sur 5" in page


def test_a_student_of_another_course_gets_404(exercises, course):
    other = student(CourseFactory(slug="elsewhere"), username="stranger")
    client = Client()
    client.force_login(other)
    exercise = exercises["mcq"]
    assert client.get(f"/exercises/{exercise.pk}/").status_code == 404
    assert htmx_post(client, exercise, {"choices": ["pool"]}).status_code == 404
    assert client.get(f"/courses/{course.slug}/").status_code == 404
    assert client.get("/exercises/999999/").status_code == 404
    assert not Attempt.objects.exists()


def test_anonymous_visitors_are_sent_to_the_login_page(exercises):
    response = Client().get(f"/exercises/{exercises['mcq'].pk}/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# --- the exercise page -------------------------------------------------------------------------
def test_the_kernel_reconstruct_page_draws_the_variant_on_canvases(browser, user, exercises):
    exercise = exercises["kernel-reconstruct"]
    variant = variant_generate(exercise=exercise, user_id=user.pk)
    page = text_of(browser.get(f"/exercises/{exercise.pk}/"))
    arrays = dict(re.findall(r'<canvas id="(kernel-\w+)"[^>]*data-array="([^"]+)"', page))
    assert set(arrays) == {"kernel-input", "kernel-target"}
    assert json.loads(arrays["kernel-input"]) == variant["input"]
    assert json.loads(arrays["kernel-target"]) == variant["output"]
    assert len(re.findall(r'<input type="text" inputmode="decimal" name="k\d" aria-label="ligne \d, colonne \d"', page)) == 9
    assert 'id="kernel-preview"' in page and "kernel.js" in page
    assert "Énoncé de <strong>kernel-reconstruct</strong>" in page  # the statement, as markdown
    assert "_kernel" not in page and "_tolerance" not in page


def test_the_kernel_identify_page_shows_the_kernel_picture(browser, user, exercises):
    exercise = exercises["kernel-identify"]
    variant = variant_generate(exercise=exercise, user_id=user.pk)
    page = text_of(browser.get(f"/exercises/{exercise.pk}/"))
    picture = re.search(r'<div class="kernel-pic" role="img" aria-label="([^"]+)">(.*?)</div>', page, re.S)
    assert picture, page
    assert variant["kernel"] == [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]
    assert picture.group(1) == "ligne 1 : 1, 2, 1; ligne 2 : 0, 0, 0; ligne 3 : -1, -2, -1"  # read in words
    assert len(re.findall(r"<span style=\"background:rgb", picture.group(2))) == 9
    radios = re.findall(r'<input type="radio" name="choice" value="([^"]+)"', page)
    assert radios == [c["id"] for c in variant["choices"]] and sorted(radios) == ["blur", "laplacian", "sobel_h"]
    assert "_answer" not in page


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("output_size", ["keras.Input(shape=(5, 5, 1))", "ZeroPadding2D(", "Conv2D(filters=4"]),
     ("param_count", ["keras.Input(shape=(8, 8, 3))", "Conv2D(filters=2", "Flatten()", "Dense(units=10)"])],
)
def test_the_layer_pages_show_the_keras_layers(browser, exercises, kind, expected):
    page = text_of(browser.get(f"/exercises/{exercises[kind].pk}/"))
    table = re.search(r'<table class="layers">(.*?)</table>', page, re.S)
    assert table, page
    for snippet in expected:
        assert snippet in table.group(1), (snippet, table.group(1))
    fields = {"output_size": ["h", "w", "c"], "param_count": ["value"]}[kind]
    names = re.findall(r'name="(\w+)"', page.split('id="answer-form"')[1].split("</form>")[0])
    assert names[:2] == ["csrfmiddlewaretoken", "answer_token"] and names[2:] == fields


def test_the_mcq_page_shows_check_boxes_in_french(browser, exercises):
    page = text_of(browser.get(f"/exercises/{exercises['mcq'].pk}/"))
    assert sorted(re.findall(r'<input type="checkbox" name="choices" value="(\w+)"', page)) == ["bias", "dense", "pool"]
    assert "Le pooling n'a aucun paramètre" in page and "Pooling has no parameter" not in page


# --- the HTMX answer ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_a_right_answer_through_htmx_returns_the_panel_with_correct(browser, user, exercises, kind):
    exercise = exercises[kind]
    response = htmx_post(browser, exercise, form_of(right_answer(exercise, user)))
    assert response.status_code == 200 and response["X-Stride-Status"] == "200"
    panel = text_of(response)
    assert "<html" not in panel  # the partial, for HTMX to swap in
    assert CORRECT in panel and NOT_QUITE not in panel and UNREADABLE not in panel
    assert "2 tentatives restantes" in panel or "2 attempts left" in panel
    attempt = Attempt.objects.get(exercise=exercise, user=user)
    assert attempt.correct and attempt.score == 1.0 and attempt.number == 1
    assert 'id="submit-btn"' in panel and 'hx-swap-oob="true"' in panel


@pytest.mark.parametrize("kind", KINDS)
def test_a_wrong_answer_through_htmx_is_graded_not_quite(browser, user, exercises, kind):
    exercise = exercises[kind]
    right = right_answer(exercise, user)
    wrong = {
        "output_size": lambda a: {"shape": [a["shape"][0] + 1, *a["shape"][1:]]},
        "param_count": lambda a: {"value": a["value"] + 3},
        "kernel-reconstruct": lambda a: {"kernel": [[0, 0, 0], [0, 1, 0], [0, 0, 0]]},
        "kernel-identify": lambda a: {"choice": "blur"},
        "mcq": lambda a: {"choices": ["dense"]},
    }[kind](right)
    response = htmx_post(browser, exercise, form_of(wrong))
    panel = text_of(response)
    assert response.status_code == 200 and NOT_QUITE in panel and CORRECT not in panel
    attempt = Attempt.objects.get(exercise=exercise, user=user)
    assert not attempt.correct and attempt.score < 1


MALFORMED = {
    "output_size": ({"h": "sept", "w": "7", "c": "4"}, "« sept » n'est pas un nombre."),
    "param_count": ({"value": "beaucoup"}, "« beaucoup » n'est pas un nombre."),
    "kernel-reconstruct": ({**{f"k{i}": "0" for i in range(9)}, "k4": ""}, "Le champ « k4 » est vide."),
    "kernel-identify": ({}, "Le champ « choice » est vide."),
    "mcq": ({}, "Choisissez une réponse."),
}


@pytest.mark.parametrize("kind", KINDS)
def test_a_malformed_answer_through_htmx_shows_the_error_and_uses_no_attempt(browser, user, exercises, kind):
    exercise = exercises[kind]
    data, message = MALFORMED[kind]
    response = htmx_post(browser, exercise, data)
    assert response.status_code == 200 and response["X-Stride-Status"] == "422"
    panel = text_of(response)
    assert UNREADABLE in panel and message in panel and NO_ATTEMPT_USED in panel, panel
    assert CORRECT not in panel and NOT_QUITE not in panel
    assert "3 tentatives restantes" in panel
    assert not Attempt.objects.filter(exercise=exercise, user=user).exists()


def test_past_the_limit_the_panel_says_so_and_disables_the_button(browser, user, exercises):
    exercise = exercises["mcq"]
    for _ in range(3):
        htmx_post(browser, exercise, {"choices": ["dense"]})
    response = htmx_post(browser, exercise, {"choices": ["pool", "bias"]})
    assert response["X-Stride-Status"] == "403"
    panel = text_of(response)
    assert "Vous avez utilisé toutes vos tentatives pour cet exercice." in panel
    assert re.search(r'<button id="submit-btn" type="submit" hx-swap-oob="true"\s+disabled', panel)
    assert Attempt.objects.filter(exercise=exercise, user=user).count() == 3


def test_a_plain_post_is_redirected_to_the_exercise_page(browser, user, exercises):
    exercise = exercises["param_count"]
    response = browser.post(f"/exercises/{exercise.pk}/answer/", form_of(right_answer(exercise, user)))
    assert response.status_code == 302 and response["Location"] == f"/exercises/{exercise.pk}/"
    page = text_of(browser.get(response["Location"]))
    assert CORRECT in page and Attempt.objects.filter(exercise=exercise, user=user).count() == 1


# --- my results --------------------------------------------------------------------------------
def test_my_results_shows_the_best_score(browser, user, course, exercises):
    exercise = exercises["param_count"]
    Exercise.objects.filter(pk=exercise.pk).update(retry_penalty=0.25, max_score=4)
    exercise.refresh_from_db()
    value = right_answer(exercise, user)["value"]
    for answer in (value + 1, value, value + 2):  # scores: partial or 0, 0.75, then worse again
        attempt_submit(exercise=exercise, user=user, answer={"value": answer})
    best = max(Attempt.objects.filter(exercise=exercise, user=user).values_list("score", flat=True))
    assert best == pytest.approx(0.75)

    page = text_of(browser.get("/me/results/"))
    assert "Mes résultats" in page and BEST_SCORE in page and "Cours des pages" in page
    row = re.search(rf'href="/exercises/{exercise.pk}/">Titre param_count</a>(.*?)</tr>', page, re.S)
    assert row, page
    cells = [c.strip() for c in re.findall(r'<td data-label="[^"]*" class="num">(.*?)</td>', row.group(1), re.S)]
    assert cells == ["3", "75 %", "3 / 4"], cells  # attempts, best score, best points
    untouched = re.search(rf'href="/exercises/{exercises["mcq"].pk}/">Titre mcq</a>(.*?)</tr>', page, re.S)
    assert [c.strip() for c in re.findall(r'<td data-label="[^"]*" class="num">(.*?)</td>', untouched.group(1), re.S)][:2] == ["0", "–"]
    assert re.search(r'class="total-points">3 / \d+<', page), "the course's total, as the gradebook counts it"


def test_every_page_of_the_built_in_course_renders(client):
    call_command("load_course", verbosity=0)
    course = Course.objects.get(slug="cnn-diffusion")
    client.force_login(student(course, username="reader"))
    assert client.get("/courses/cnn-diffusion/").status_code == 200
    for exercise in Exercise.objects.filter(course=course, published=True):
        response = client.get(f"/exercises/{exercise.pk}/")
        assert response.status_code == 200, exercise.slug
        assert exercise.title_i18n["fr"] in text_of(response), exercise.slug
