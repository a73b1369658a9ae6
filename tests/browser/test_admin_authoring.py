"""The admin creates an output_size exercise through the form, previews it, and the demo
student then answers it (issue "Teachers and admins", done-when)."""
from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from exercises.engine.variants import variant_generate
from exercises.models import Exercise
from exercises.types import get_type
from tests.browser.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_authors_previews_and_the_student_answers(page, live_server, artifacts):
    call_command("load_course", verbosity=0)
    call_command("seed_demo", verbosity=0)
    base = live_server.url
    login(page, base, "admin", "stride-admin")
    page.click("#nav-authoring")
    page.click("a[data-type=output_size]")
    page.fill("input[name=slug]", "browser-conv")
    page.fill("input[name=title_fr]", "Une convolution de plus")
    page.fill("input[name=title_en]", "One more convolution")
    page.fill("textarea[name=statement_fr]", "Calculez la forme de sortie.")
    page.fill("textarea[name=statement_en]", "Compute the output shape.")
    page.fill("textarea[name=p_input_shape]", json.dumps([{"choices": [30, 32]}, "same", 3]))
    page.fill("textarea[name=p_layers]", json.dumps([{"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": 3, "strides": 1, "padding": "valid"}}]))
    page.click("#exercise-form button[type=submit]")
    page.wait_for_selector("#preview")
    assert "Conv2D(filters=4" in page.inner_text("#preview")
    page.fill("#seed", "7")
    page.click("#preview-seed-btn")
    page.wait_for_url("**seed=7")
    page.screenshot(path=str(artifacts / "admin-preview.png"), full_page=True)

    page.context.clear_cookies()
    login(page, base, "student", "stride-student")
    exercise = Exercise.objects.get(slug="browser-conv")
    student = get_user_model().objects.get(username="student")
    h, w, c = get_type("output_size").solve(variant_generate(exercise=exercise, user_id=student.pk))["shape"]
    page.goto(f"{base}/exercises/{exercise.pk}/")
    page.fill("input[name=h]", str(h))
    page.fill("input[name=w]", str(w))
    page.fill("input[name=c]", str(c))
    with page.expect_response(lambda r: "/answer/" in r.url):
        page.click("#submit-btn")
    page.wait_for_selector("#feedback")
    assert "Correct" in page.inner_text("#feedback")
