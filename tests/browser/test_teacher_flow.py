"""The teacher opens the gradebook, drills into a student, downloads the CSV and regrades."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from exercises.engine.services import attempt_submit
from exercises.models import Exercise

pytestmark = pytest.mark.django_db(transaction=True)


def test_teacher_gradebook_drill_down_csv_and_regrade(page, live_server, artifacts):
    call_command("load_course", verbosity=0)
    call_command("seed_demo", verbosity=0)
    exercise = Exercise.objects.get(slug="output-size-224-chain")
    student = get_user_model().objects.get(username="student")
    attempt_submit(exercise=exercise, user=student, answer={"shape": [1, 2, 3]})
    base = live_server.url
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "teacher")
    page.fill("#id_password", "stride-teacher")
    page.press("#id_password", "Enter")
    page.wait_for_url(f"{base}/courses/")
    page.goto(f"{base}/teach/cnn-diffusion/gradebook/")
    assert page.locator("table#gradebook").is_visible()
    page.screenshot(path=str(artifacts / "teacher-gradebook.png"), full_page=True)
    page.click("table#gradebook a:text-is('student')")
    page.wait_for_url("**/students/**")
    assert page.locator(f"#exercise-{exercise.pk}").is_visible()
    assert "[1, 2, 3]" in page.inner_text(f"#exercise-{exercise.pk}")
    page.go_back()
    with page.expect_download() as download:
        page.click("a[href$='gradebook.csv']")
    csv_text = open(download.value.path(), encoding="utf-8").read()
    assert csv_text.splitlines()[0].startswith("username,") and "student" in csv_text
    page.click(f"a.regrade-link[href$='/exercises/{exercise.pk}/regrade/']")
    page.wait_for_selector("#regrade-preview")  # what changes, before anything is done
    page.click("#confirm-regrade")
    page.wait_for_selector(".msg-success")
    page.goto(f"{base}/teach/cnn-diffusion/audit/")
    assert page.locator("#audit tbody tr").count() >= 1
