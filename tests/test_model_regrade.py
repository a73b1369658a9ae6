"""A model regrade never leaves a gap: the old grade stays on the student's attempt until a real
worker saves the new one over it, and the audit log records both."""
from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from tests.factories import logged_in, teacher
from tests.test_model_submissions import _api, _wait, trained_model

pytestmark = [pytest.mark.worker, pytest.mark.keras]


def test_a_model_regrade_keeps_the_old_grade_until_the_new_one_is_saved(live_worker, tmp_path):
    import io
    import time

    import numpy as np

    from exercises.models import Attempt, Exercise
    from gradebook.models import AuditLog

    call_command("load_course", verbosity=0)
    exercise = Exercise.objects.get(slug="model-shapes-classifier")
    api, user = _api(exercise.course)
    variant = api.get(f"/api/v1/exercises/{exercise.pk}").json()["variant"]
    response = api.get(f"/api/v1/exercises/{exercise.pk}/dataset")
    data = np.load(io.BytesIO(b"".join(response.streaming_content)), allow_pickle=False)
    path = trained_model(tmp_path, data["x"], data["y"], num_classes=variant["num_classes"])
    with open(path, "rb") as f:
        created = api.post(f"/api/v1/exercises/{exercise.pk}/submissions", {"file": f}).json()
    assert _wait(api, created["submission_id"], timeout=600)["status"] == "done"  # a loaded 2-core machine
    attempt = Attempt.objects.get(exercise=exercise, user=user)
    old = attempt.score
    # The grading also sent the integrity report's task to the default queue: the worker wrote it.
    from exercises.models import IntegrityFingerprint, IntegrityReport

    for _ in range(600):
        if IntegrityReport.objects.filter(exercise=exercise).exists():
            break
        time.sleep(0.1)
    assert IntegrityReport.objects.get(exercise=exercise).compared == 1
    assert IntegrityFingerprint.objects.get(submission__exercise=exercise).weights_digest
    assert old > 0

    # The teacher makes the thresholds impossible, previews, then confirms.
    exercise.params = {**exercise.params, "thresholds": [[0.9999, 1.0]]}  # out of reach: the grade drops to 0
    exercise.save()
    t = teacher(exercise.course)
    client: Client = logged_in(t)
    url = f"/teach/{exercise.course.slug}/exercises/{exercise.pk}/regrade/"
    page = client.get(url).content.decode()
    assert 'id="confirm-regrade"' in page and "after grading" in page.replace("après la correction", "after grading")
    client.post(url, {"confirm": "1"})
    # Right after the confirmation, before and while the worker grades: the old grade is there.
    seen = set()
    for _ in range(6000):  # up to ten minutes on a loaded machine
        row = Attempt.objects.filter(pk=attempt.pk).values_list("score", flat=True).first()
        assert row is not None, "the attempt vanished during the regrade"
        seen.add(row)
        status = exercise.submissions.get().status
        if status == "done" and row != old:
            break
        time.sleep(0.1)
    assert old in seen, live_worker.log_path.read_text()[-3000:]
    assert Attempt.objects.filter(exercise=exercise, user=user).count() == 1  # updated, not duplicated
    assert Attempt.objects.get(pk=attempt.pk).score == 0, (exercise.submissions.get().status,
                                                           live_worker.log_path.read_text()[-3000:])
    regrades = AuditLog.objects.filter(action="regrade", student=user)
    assert regrades.filter(old__score=old, new__score=0).exists()
    listing = {r["slug"]: r for r in api.get(f"/api/v1/courses/{exercise.course.slug}/exercises").json()}
    assert listing[exercise.slug]["best_score"] == 0
