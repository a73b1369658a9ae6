import io
import json
import zipfile

import pytest
from django.core.management import call_command
from django.test import Client

from courses.models import Course
from exercises.models import Exercise
from tests.factories import CourseFactory, admin, student, teacher

pytestmark = pytest.mark.django_db

OUTPUT_SIZE = {
    "slug": "my-conv", "title_fr": "Ma convolution", "title_en": "My convolution",
    "statement_fr": "Calculez la **forme** de sortie.", "statement_en": "Compute the output **shape**.",
    "position": 500, "max_score": 1, "weight": 1, "retry_penalty": 0.1, "late_policy": "penalty", "late_penalty": 0,
    "published": "on",
    "p_input_shape": json.dumps([{"choices": [28, 32]}, "same", 3]),
    "p_layers": json.dumps([{"class_name": "Conv2D", "config": {"filters": 8, "kernel_size": 3, "strides": {"choices": [1, 2]}, "padding": "valid"}}]),
}


def _admin_client():
    client = Client()
    client.force_login(admin())
    return client


def test_an_admin_creates_an_output_size_exercise_and_previews_it():
    course = CourseFactory(slug="c")
    client = _admin_client()
    page = client.get("/author/c/new/output_size/").content.decode()
    assert "p_layers" in page and "Conv2D" in page  # prefilled with the built-in course's example
    response = client.post("/author/c/new/output_size/", OUTPUT_SIZE)
    exercise = Exercise.objects.get(course=course, slug="my-conv")
    assert response.status_code == 302 and response["Location"] == f"/author/exercises/{exercise.pk}/preview/"
    assert exercise.params["layers"][0]["config"]["filters"] == 8
    preview = client.get(f"/author/exercises/{exercise.pk}/preview/?seed=3").content.decode()
    assert "Conv2D(filters=8" in preview and 'id="solution"' in preview
    def part(seed):  # the variant and its reference answer (the page's CSRF token differs per request)
        html = client.get(f"/author/exercises/{exercise.pk}/preview/?seed={seed}").content.decode()
        return html[html.index('id="preview"'):]

    assert part(3) == part(3)
    assert len({part(seed) for seed in range(8)}) > 1  # a chosen seed shows that student's variant


def test_an_impossible_configuration_cannot_be_saved():
    CourseFactory(slug="c")
    client = _admin_client()
    bad = {**OUTPUT_SIZE, "p_input_shape": json.dumps([5, 5, 1]),
           "p_layers": json.dumps([{"class_name": "Conv2D", "config": {"filters": 1, "kernel_size": 7}}])}
    response = client.post("/author/c/new/output_size/", bad)
    assert response.status_code == 200
    assert 'id="form-errors"' in response.content.decode()
    not_json = {**OUTPUT_SIZE, "p_layers": "[{not json"}
    assert client.post("/author/c/new/output_size/", not_json).status_code == 200
    assert not Exercise.objects.filter(slug="my-conv").exists()


def test_markdown_statements_are_sanitised():
    course = CourseFactory(slug="c")
    client = _admin_client()
    client.post("/author/c/new/output_size/", {**OUTPUT_SIZE, "statement_fr": "Hello <script>alert(1)</script> **bold**"})
    exercise = Exercise.objects.get(course=course, slug="my-conv")
    page = client.get(f"/author/exercises/{exercise.pk}/preview/").content.decode()
    assert "<script>alert(1)</script>" not in page and "<strong>bold</strong>" in page


def test_edit_keeps_the_exercise_and_validates_again():
    call_command("load_course", verbosity=0)
    exercise = Exercise.objects.get(slug="quiz-parameters-location")
    client = _admin_client()
    page = client.get(f"/author/exercises/{exercise.pk}/edit/").content.decode()
    assert "quiz-parameters-location" in page
    # No right answer left: refused, and the exercise is unchanged.
    form = {k: v for k, v in _form_values(page).items()}
    params = dict(exercise.params)
    params["choices"] = [{**c, "correct": False} for c in params["choices"]]
    form["p_choices"] = json.dumps(params["choices"])
    response = client.post(f"/author/exercises/{exercise.pk}/edit/", form)
    assert response.status_code == 200 and 'id="form-errors"' in response.content.decode()
    exercise.refresh_from_db()
    assert any(c["correct"] for c in exercise.params["choices"])


def _form_values(html: str) -> dict:
    import re
    from html import unescape

    values = {}
    for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html):
        values[name] = unescape(value)
    for name, value in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', html, re.S):
        values[name] = unescape(value).strip("\n")
    for name, value in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>.*?<option value="([^"]*)"[^>]*selected', html, re.S):
        values[name] = value
    values.pop("csrfmiddlewaretoken", None)
    return values


def test_export_and_import_a_course_zip():
    call_command("load_course", verbosity=0)
    client = _admin_client()
    response = client.get("/author/cnn-diffusion/export.zip")
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = archive.namelist()
    assert "cnn-diffusion/course.yaml" in names and len(names) == 1 + Exercise.objects.filter(course__slug="cnn-diffusion").count()
    # Re-import the same zip: idempotent.
    upload = io.BytesIO(response.content)
    upload.name = "cnn.zip"
    before = Exercise.objects.count()
    page = client.post("/author/import/", {"course_zip": upload}, follow=True).content.decode()
    assert "cnn-diffusion" in page and Exercise.objects.count() == before
    # A zip with a path escaping the folder imports nothing.
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../evil/course.yaml", "slug: evil\ntitle: {fr: x}\n")
    evil.seek(0)
    evil.name = "evil.zip"
    client.post("/author/import/", {"course_zip": evil})
    assert not Course.objects.filter(slug="evil").exists()


def test_authoring_is_for_admins_only():
    course = CourseFactory(slug="c")
    for user in (student(course), teacher(course)):
        client = Client()
        client.force_login(user)
        assert client.get("/author/").status_code == 404
        assert client.get("/author/c/new/output_size/").status_code == 404
        assert client.post("/author/c/new/output_size/", OUTPUT_SIZE).status_code == 404
        assert client.get("/author/c/export.zip").status_code == 404
