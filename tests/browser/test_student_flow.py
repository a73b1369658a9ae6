"""A student answers one exercise of each instant type in a real browser (Debian chromium)."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from exercises.engine.variants import variant_generate
from exercises.models import Attempt, Exercise
from exercises.types import get_type
from tests.browser.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo(live_server):
    call_command("load_course", verbosity=0)
    call_command("seed_demo", verbosity=0)
    return live_server.url


def _solution(slug):
    exercise = Exercise.objects.select_related("course").get(slug=slug)
    user = get_user_model().objects.get(username="student")
    variant = variant_generate(exercise=exercise, user_id=user.pk)
    return exercise, get_type(exercise.type).solve(variant)


def _submit_and_wait(page):
    with page.expect_response(lambda r: "/answer/" in r.url):
        page.click("#submit-btn")
    page.wait_for_selector("#feedback, #answer-error")


def test_student_answers_each_type_in_the_browser(page, demo, artifacts):
    login(page, demo, "student", "stride-student")
    page.click("text=Convolution et CNN")
    assert page.locator("tr[data-exercise]").count() >= 30

    # 1. Kernel, reconstruct mode, with the live preview.
    exercise, answer = _solution("kernel-reconstruct-sharpen")
    page.goto(f"{demo}/exercises/{exercise.pk}/")
    flat = [v for row in answer["kernel"] for v in row]
    for i, value in enumerate(flat):
        page.fill(f"input[name=k{i}]", str(value))
    # The preview is drawn client-side; with the right kernel it matches the target picture.
    diff = page.evaluate(
        """() => {
          const a = document.getElementById('kernel-preview').getContext('2d');
          const b = document.getElementById('kernel-target').getContext('2d');
          const w = document.getElementById('kernel-target').width, h = document.getElementById('kernel-target').height;
          const x = a.getImageData(0, 0, w, h).data, y = b.getImageData(0, 0, w, h).data;
          let d = 0; for (let i = 0; i < x.length; i += 4) d = Math.max(d, Math.abs(x[i] - y[i]));
          return d; }"""
    )
    assert diff <= 2, f"the live preview differs from the target by {diff} grey levels"
    page.screenshot(path=str(artifacts / "kernel-preview.png"), full_page=True)
    _submit_and_wait(page)
    assert "Correct" in page.inner_text("#feedback")
    page.screenshot(path=str(artifacts / "kernel-feedback.png"), full_page=True)

    # 2. Output size: a wrong answer first, then the right one, without a page reload.
    exercise, answer = _solution("output-size-224-chain")
    page.goto(f"{demo}/exercises/{exercise.pk}/")
    h, w, c = answer["shape"]
    page.fill("input[name=h]", str(h + 1)), page.fill("input[name=w]", str(w)), page.fill("input[name=c]", str(c))
    _submit_and_wait(page)
    feedback = page.inner_text("#feedback")
    assert "floor" in feedback and "Pas tout à fait" in feedback
    page.fill("input[name=h]", str(h))
    _submit_and_wait(page)
    assert "Correct" in page.inner_text("#feedback")
    assert page.locator("#attempts-left").inner_text().startswith("3 ")

    # A malformed answer is explained and costs nothing.
    page.fill("input[name=h]", "abc")
    _submit_and_wait(page)
    assert page.locator("#answer-error").is_visible()
    assert Attempt.objects.filter(exercise=exercise).count() == 2

    # 3. Parameter count.
    exercise, answer = _solution("param-count-12mpx-dense")
    page.goto(f"{demo}/exercises/{exercise.pk}/")
    page.fill("input[name=value]", str(answer["value"]))
    _submit_and_wait(page)
    assert "Correct" in page.inner_text("#feedback")

    # 4. Multiple-choice quiz (the slides' quiz).
    exercise, answer = _solution("quiz-parameters-location")
    page.goto(f"{demo}/exercises/{exercise.pk}/")
    for choice in answer["choices"]:
        page.check(f"input[name=choices][value='{choice}']")
    _submit_and_wait(page)
    assert "Correct" in page.inner_text("#feedback")
    page.screenshot(path=str(artifacts / "mcq-feedback.png"), full_page=True)

    # 5. Kernel, identify mode.
    exercise, answer = _solution("kernel-identify-laplacian")
    page.goto(f"{demo}/exercises/{exercise.pk}/")
    page.check(f"input[name=choice][value='{answer['choice']}']")
    _submit_and_wait(page)
    assert "Correct" in page.inner_text("#feedback")

    page.goto(f"{demo}/me/results/")
    assert page.locator("text=100 %").count() >= 4
    page.screenshot(path=str(artifacts / "my-results.png"), full_page=True)


def test_the_site_switches_to_english(page, demo):
    login(page, demo, "student", "stride-student")
    assert page.locator("text=Mes cours").first.is_visible()
    page.click("button[name=language][value=en]")
    page.wait_for_selector("text=My courses")
    assert page.locator("html").get_attribute("lang") == "en"
