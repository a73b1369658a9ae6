"""The daily limits of model uploads: refused files are deleted and rate-limited, accepted ones
are counted (the race itself is tests/test_quota_race.py, against a live server)."""
from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from exercises.models import Exercise, Submission
from exercises.submissions.services import SubmissionRefused, submission_create
from grader.tests.test_intake import write_archive
from tests.factories import CourseFactory, student

pytestmark = pytest.mark.django_db


@pytest.fixture
def exercise():
    return Exercise.objects.create(course=CourseFactory(slug="quota"), slug="m", type="model",
                                   title_i18n={"fr": "M", "en": "M"},
                                   params={"dataset": "shapes32", "submissions_per_day": 2})


def upload(data: bytes, name="model.keras"):
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def user_folder(user) -> Path:
    return Path(settings.MEDIA_ROOT) / "submissions" / str(user.pk)


def test_a_refused_file_is_deleted_its_reason_kept_and_it_uses_no_submission(exercise, tmp_path):
    user = student(exercise.course)
    bad = write_archive(tmp_path / "bad.keras", members={"evil.py": "import os"}).read_bytes()
    refused = submission_create(exercise=exercise, user=user, upload=upload(bad))
    assert refused.status == "rejected" and refused.feedback["en"] and not refused.file
    assert refused.sha256 and refused.size == len(bad)
    assert not user_folder(user).exists() or not any(user_folder(user).iterdir())
    good = write_archive(tmp_path / "good.keras").read_bytes()
    accepted = [submission_create(exercise=exercise, user=user, upload=upload(good)) for _ in range(2)]
    assert [s.status for s in accepted] == ["queued", "queued"]
    assert all(Path(s.file.path).stat().st_mode & 0o777 == 0o600 for s in accepted)  # FILE_UPLOAD_PERMISSIONS
    assert sorted(p.name for p in user_folder(user).iterdir()) == sorted(Path(s.file.name).name for s in accepted)
    with pytest.raises(SubmissionRefused) as over:
        submission_create(exercise=exercise, user=user, upload=upload(good))
    assert over.value.status == 429 and "2" in over.value.message
    assert Submission.objects.filter(user=user).count() == 3
    assert len(list(user_folder(user).iterdir())) == 2  # the refused third file is not kept


def test_refused_files_are_rate_limited(exercise, tmp_path, settings):
    settings.STRIDE_REJECTED_UPLOADS_PER_DAY = 3
    user = student(exercise.course)
    bad = write_archive(tmp_path / "bad.keras", members={"evil.py": "import os"}).read_bytes()
    for _ in range(3):
        assert submission_create(exercise=exercise, user=user, upload=upload(bad)).status == "rejected"
    with pytest.raises(SubmissionRefused) as caught:
        submission_create(exercise=exercise, user=user, upload=upload(bad))
    assert caught.value.status == 429 and "3" in caught.value.message
    assert Submission.objects.filter(user=user).count() == 3
    # Another student is not affected.
    other = student(exercise.course, username="other")
    assert submission_create(exercise=exercise, user=other, upload=upload(bad)).status == "rejected"


def test_the_parameter_budget_is_checked_from_the_intake_estimate_at_upload(exercise, tmp_path):
    exercise.params = {**exercise.params, "max_params": 5000}  # the small CNN has 11,030
    exercise.save()
    user = student(exercise.course)
    model = write_archive(tmp_path / "m.keras").read_bytes()
    refused = submission_create(exercise=exercise, user=user, upload=upload(model))
    assert refused.status == "rejected" and "11,030" in refused.feedback["en"] and "5000" in refused.feedback["en"].replace(",", "")


def test_the_worker_checks_the_budget_itself_before_any_model_runs(exercise, tmp_path):
    from exercises.submissions.services import submission_grade

    user = student(exercise.course)
    model = write_archive(tmp_path / "m.keras").read_bytes()
    queued = submission_create(exercise=exercise, user=user, upload=upload(model))
    assert queued.status == "queued"
    # The teacher lowers the budget after the upload: the trusted parent refuses it from the
    # config's count; the jail is never asked (its count would come from untrusted code).
    Exercise.objects.filter(pk=exercise.pk).update(params={**exercise.params, "max_params": 5000})

    def run_model(**kwargs):
        raise AssertionError("the sandbox must not run a model over the budget")

    outcome = submission_grade(submission_id=queued.pk, run_model=run_model)
    queued.refresh_from_db()
    assert outcome.status == "rejected" and queued.status == "rejected"
    assert "11,030" in queued.feedback["en"]
