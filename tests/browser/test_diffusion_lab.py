"""A student generates in the diffusion lab and watches the picture arrive; the graded
exercise scores it; the teacher sees it in the course's gallery."""
from __future__ import annotations

import pytest
from django.core.management import call_command

from tests.browser.conftest import login

pytestmark = [pytest.mark.worker, pytest.mark.keras]


def test_generate_watch_and_grade(page, live_server, live_worker, artifacts):
    from exercises.models import Exercise

    call_command("load_course", verbosity=0)
    call_command("seed_demo", verbosity=0)
    base = live_server.url
    login(page, base, "student", "stride-student")

    # The free lab, reached from the course page.
    page.goto(f"{base}/courses/cnn-diffusion/")
    page.click("#lab-link")
    page.fill("#prompt", "citron bleu")
    page.click("#generate-btn")
    assert "« bleu »" in page.locator("#generate-error").inner_text()  # refused, never queued
    page.fill("#prompt", "citron jaune")
    page.fill("#seed", "4")
    page.locator("#steps").fill("12")
    page.click("#generate-btn")
    page.wait_for_selector(".generation[data-status=done]", timeout=120_000)
    card = page.locator(".generation").first
    assert "citron jaune" in card.inner_text()
    for img in card.locator("img.final, img.trajectory").all()[:2]:
        # Wait for the picture itself: the card is swapped in before its images have loaded.
        width = img.evaluate("img => img.complete && img.naturalWidth ? img.naturalWidth"
                             " : new Promise(done => { img.onload = () => done(img.naturalWidth); })")
        assert width >= 32
    page.screenshot(path=str(artifacts / "diffusion-lab.png"), full_page=True)

    # The graded exercise: the target is the student's own; the classifier gives the score.
    exercise = Exercise.objects.get(slug="diffusion-generate-target")
    page.goto(f"{base}/exercises/{exercise.pk}/")
    target = page.locator("#target").inner_text()
    page.fill("#prompt", target)
    page.locator("#steps").fill("20")
    page.click("#generate-btn")
    page.wait_for_selector(".generation[data-status=done]", timeout=120_000)
    text = page.locator(".generation").first.inner_text()
    assert "Score" in text and "classifieur" in text
    page.screenshot(path=str(artifacts / "diffusion-graded.png"), full_page=True)

    # The teacher's gallery shows both, with the student's name.
    page.context.clear_cookies()
    login(page, base, "teacher", "stride-teacher")
    page.goto(f"{base}/courses/cnn-diffusion/generations/")
    gallery = page.locator(".gallery").inner_text()
    assert gallery.count("student") >= 2 and "citron jaune" in gallery
