"""axe-core on every student page, in French and English, at 1280 and 390 px (issue 14, point 14).

One browser context per language and one login each; the width changes on the same page. No
serious or critical violation is allowed; the whole report (every impact) is kept under
test-artifacts/ (axe-student-pages.json and .md).
"""
from __future__ import annotations

import pytest

from exercises.engine.services import attempt_submit
from exercises.models import Exercise
from tests.browser.a11y import axe_run, blocking, write_report
from tests.browser.conftest import login
from tests.factories import PASSWORD, right_answer
from tests.test_permissions import build_world

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = (1280, 390)


def student_pages(world) -> dict[str, str]:
    """Every page a student reaches, with the exercise pages of each type and of each state."""
    course = world.course
    by_slug = {e.slug: e for e in Exercise.objects.filter(course=course)}
    return {
        "course list": "/courses/",
        "course page": f"/courses/{course.slug}/",
        "kernel, reconstruct (answered)": f"/exercises/{world.ex['kernel'].pk}/",
        "kernel, identify": f"/exercises/{by_slug['kernel-identify-laplacian'].pk}/",
        "output size (a wrong answer)": f"/exercises/{world.ex['output_size'].pk}/",
        "parameter count": f"/exercises/{world.ex['param_count'].pk}/",
        "quiz": f"/exercises/{world.ex['mcq'].pk}/",
        "model (graded)": f"/exercises/{world.ex['model'].pk}/",
        "model, transfer": f"/exercises/{world.ex['transfer'].pk}/",
        "leaderboard": f"/exercises/{world.ex['model'].pk}/leaderboard/",
        "submission, opened directly": f"/submissions/{world.submission.pk}/",
        "diffusion, target (generated)": f"/exercises/{world.ex['diffusion'].pk}/",
        "diffusion, fewest steps": f"/exercises/{by_slug['diffusion-fewest-steps'].pk}/",
        "generation, opened directly": f"/generations/{world.generation.pk}/",
        "lab": f"/courses/{course.slug}/lab/",
        "my results": "/me/results/",
        "profile": "/accounts/profile/",
    }


def test_no_serious_or_critical_axe_violation_on_any_student_page(browser, live_server, settings, tmp_path, artifacts):
    world = build_world(settings, tmp_path)
    owner = world.users["owner"]
    wrong = right_answer(world.ex["output_size"], owner)
    attempt_submit(exercise=world.ex["output_size"], user=owner,
                   answer={"shape": [wrong["shape"][0] + 1, *wrong["shape"][1:]]})
    pages = student_pages(world)

    runs, failures = [], []
    for language, locale in (("fr", "fr-FR"), ("en", "en-GB")):
        context = browser.new_context(locale=locale, viewport={"width": WIDTHS[0], "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            login(page, live_server.url, owner.username, PASSWORD)
            if language == "en":  # French is the site's language whatever the browser says
                page.click("button[name=language][value=en]")
                page.wait_for_selector("html[lang=en]")
            for name, url in pages.items():
                page.goto(live_server.url + url)
                assert page.locator("html").get_attribute("lang") == language, (name, language)
                for width in WIDTHS:
                    page.set_viewport_size({"width": width, "height": 900})
                    violations = axe_run(page)
                    runs.append({"page": name, "url": url, "language": language, "width": width,
                                 "violations": violations})
                    failures += [f"{name} [{language}, {width} px]: {v['id']} ({v['impact']}) on "
                                 f"{[n['target'] for n in v['nodes']][:3]}" for v in blocking(violations)]
                page.set_viewport_size({"width": WIDTHS[0], "height": 900})
        finally:
            context.close()
            write_report(artifacts / "axe-student-pages.json", runs)  # kept even when a check fails
    assert len(runs) == len(pages) * 4
    assert not failures, "axe-core found serious or critical violations:\n" + "\n".join(failures)
