"""As a teacher and as an admin, in Chromium: an override is the grade everywhere, a regrade is
previewed then confirmed, a personal due date reaches the student, a GIFT file imported twice
adds nothing, and the authoring form speaks French."""
from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from exercises.engine.services import attempt_submit
from exercises.models import Attempt, Exercise
from tests.browser.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)

GIFT = "::Pooling 2x2:: Que fait un max pooling 2×2 ? {=divise la taille par deux ~%50%garde les canaux seulement ~double la taille}\n"


def _setup():
    call_command("load_course", verbosity=0)
    call_command("seed_demo", verbosity=0)
    exercise = Exercise.objects.get(slug="output-size-224-chain")
    student = get_user_model().objects.get(username="student")
    return exercise, student


def test_teacher_overrides_regrades_with_a_preview_and_extends(page, live_server, artifacts):
    exercise, student = _setup()
    attempt = attempt_submit(exercise=exercise, user=student, answer={"shape": [1, 2, 3]})
    base = live_server.url
    login(page, base, "teacher", "stride-teacher")

    # The gradebook: titles by section, the grade /20 frozen on the left.
    page.goto(f"{base}/teach/cnn-diffusion/gradebook/")
    assert page.locator("#gradebook th.section").count() >= 2
    assert page.locator(f"#gradebook th[data-exercise='{exercise.slug}']").get_attribute("title") == exercise.title
    assert page.locator("#gradebook thead th.frozen.c2").inner_text().startswith("Note /20")
    page.screenshot(path=str(artifacts / "teacher-gradebook-sections.png"))

    # Override to 80 %: the teacher's page of the student says so, not "meilleur 0 %".
    page.goto(f"{base}/teach/cnn-diffusion/students/{student.pk}/")
    section = page.locator(f"#exercise-{exercise.pk}")
    section.locator("summary.muted").click()
    section.locator("input[name=percent]").fill("80")
    section.locator("input[name=comment]").fill("Oral rattrapé")
    section.locator("form[action$='/override/'] button").click()
    page.wait_for_selector(".msg-success")
    grade = page.locator(f"#exercise-{exercise.pk} .grade").inner_text()
    assert "80" in grade and "meilleur" not in grade.lower()

    # An exercise without a due date: extending needs the explicit "personal" tick.
    section = page.locator(f"#exercise-{exercise.pk}")
    section.locator("summary.muted").click()
    section.locator("input[name=due_at]").fill("2031-03-01T18:00")
    section.locator("input[name=personal]").check()
    section.locator("form[action$='/extension/'] button").click()
    page.wait_for_selector(".msg-success")
    page.goto(f"{base}/teach/cnn-diffusion/audit/")
    assert "2031-03-01T18:00+01:00" in page.inner_text("#audit")

    # Regrade: a preview first, nothing changes until confirmed.
    Attempt.objects.filter(pk=attempt.pk).update(score=0.5, raw_score=0.5)
    page.goto(f"{base}/teach/cnn-diffusion/gradebook/")
    page.click(f"a.regrade-link[href$='/exercises/{exercise.pk}/regrade/']")
    page.wait_for_selector("#regrade-preview")
    row = page.locator("#regrade-preview tr[data-user='student']")
    # The override stays the grade whatever the regrade gives, and the preview says so.
    assert "80 %" in row.locator(".old").inner_text() and "note fixée conservée" in row.locator(".new").inner_text()
    assert "1" == row.locator("td").nth(2).inner_text()  # one attempt's score changes (50 % → 0 %)
    assert Attempt.objects.get(pk=attempt.pk).score == 0.5
    page.click("#confirm-regrade")
    page.wait_for_selector(".msg-success")
    assert Attempt.objects.get(pk=attempt.pk).score == 0

    # The student sees the override and their own due date.
    page.context.clear_cookies()
    login(page, base, "student", "stride-student")
    page.goto(f"{base}/exercises/{exercise.pk}/")
    assert page.locator("#personal-due").is_visible()
    assert "80 %" in page.inner_text("main")


def test_admin_reimports_a_gift_file_without_duplicates_in_french_forms(page, live_server, tmp_path):
    _setup()
    base = live_server.url
    login(page, base, "admin", "stride-admin")
    gift = Path(tmp_path) / "quiz.gift"
    gift.write_text(GIFT, encoding="utf-8")
    before = Exercise.objects.count()
    for expected_added in ("1", "0"):
        page.goto(f"{base}/author/")
        page.locator("input[name=gift]").first.set_input_files(str(gift))
        page.locator("form[action$='/gift/'] button").first.click()
        page.wait_for_selector("#gift-summary")
        assert page.inner_text("#gift-added") == expected_added
        if expected_added == "1":
            page.click("#apply-gift")
            page.wait_for_selector(".msg-success")
    assert Exercise.objects.count() == before + 1
    imported = Exercise.objects.get(import_key="gift:pooling-2x2")
    assert not imported.published  # hidden until published
    weights = [c.get("weight") for c in imported.params["choices"]]
    assert weights == [1.0, 0.5, 0.0]

    page.goto(f"{base}/author/cnn-diffusion/new/model/")
    text = page.inner_text("#exercise-form")
    for english in ("Max score", "Retry penalty", "P layers", "P thresholds"):
        assert english not in text
    assert "Note maximale" in text and "Note selon la précision" in text


def test_maths_in_questions_are_rendered_by_the_vendored_katex(page, live_server):
    exercise, _student = _setup()
    exercise.statement_i18n = {"fr": "La sortie vaut $\\frac{H - K}{S} + 1$ par dimension.",
                               "en": "The output is $\\frac{H - K}{S} + 1$ per dimension."}
    exercise.save()
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    base = live_server.url
    login(page, base, "student", "stride-student")
    page.goto(f"{base}/exercises/{exercise.pk}/")
    page.wait_for_selector(".statement .katex")
    assert page.locator(".statement .katex .mfrac").count() == 1
    assert "$" not in page.inner_text(".statement")
    assert all(url.startswith(base) for url in requested)  # no CDN
