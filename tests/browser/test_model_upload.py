"""A student uploads a trained model from the browser and watches it get graded live."""
from __future__ import annotations

import numpy as np
import pytest
from django.core.management import call_command

from tests.test_model_submissions import trained_model

pytestmark = [pytest.mark.worker, pytest.mark.keras]


def test_upload_from_the_page_and_watch_the_status(page, live_server, live_worker, artifacts, tmp_path):
    from exercises.models import Exercise
    from exercises.submissions.datasets import training_set_path

    call_command("load_course", verbosity=0)
    call_command("seed_demo", verbosity=0)
    exercise = Exercise.objects.get(slug="model-shapes-classifier")
    with np.load(training_set_path(exercise=exercise), allow_pickle=False) as data:
        model_path = trained_model(tmp_path, data["x"][:2000], data["y"][:2000], num_classes=int(data["y"].max()) + 1)

    base = live_server.url
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "student")
    page.fill("#id_password", "stride-student")
    page.press("#id_password", "Enter")
    page.wait_for_url(f"{base}/courses/")
    page.goto(f"{base}/exercises/{exercise.pk}/")
    page.set_input_files("input[name=file]", str(model_path))
    page.click("#upload-btn")
    card = page.locator(".submission").first
    card.wait_for()
    # Live status through HTMX polling: it leaves the queue and ends graded.
    page.wait_for_selector(".submission[data-status=done]", timeout=90_000)
    text = page.locator(".submission").first.inner_text()
    assert "%" in text
    # The confusion matrix loads (it is fetched once the card is swapped in: wait, do not race it).
    page.wait_for_function("() => { const img = document.querySelector('.submission img');"
                           " return img !== null && img.complete && img.naturalWidth > 0; }", timeout=30_000)
    page.screenshot(path=str(artifacts / "model-graded.png"), full_page=True)
    page.goto(f"{base}/exercises/{exercise.pk}/leaderboard/")
    assert page.locator("#leaderboard tbody tr").first.inner_text().startswith("1")
