"""The grading task when the worker cannot build its jail: a clear failure, never silent retries."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from tests.factories import student

pytestmark = [pytest.mark.django_db, pytest.mark.keras]


def _tiny_model(path, input_shape, classes):
    import keras

    model = keras.Sequential([keras.Input(shape=input_shape), keras.layers.Rescaling(1 / 255),
                              keras.layers.Flatten(), keras.layers.Dense(classes, activation="softmax")])
    model.save(path)
    return path


def test_an_unavailable_sandbox_fails_the_submission_with_a_clear_message(tmp_path, monkeypatch,
                                                                           django_capture_on_commit_callbacks):
    from exercises.models import Exercise, Submission
    from exercises.submissions.services import submission_create
    from exercises.types.model import model_params
    from grader.datasets import DATASETS
    from workers import sandbox, tasks

    call_command("load_course", verbosity=0)
    exercise = Exercise.objects.get(slug="model-shapes-classifier")
    spec = DATASETS[model_params(exercise.params)["dataset"]]
    path = _tiny_model(tmp_path / "model.keras", tuple(spec.input_shape), len(spec.class_names))
    with django_capture_on_commit_callbacks(execute=False):  # no broker here: the task is run below
        submission = submission_create(exercise=exercise, user=student(exercise.course, username="jailless"),
                                       upload=SimpleUploadedFile("model.keras", path.read_bytes()))
    assert submission.status == "queued"

    def unavailable(**kwargs):
        raise sandbox.SandboxUnavailable("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")

    monkeypatch.setattr(sandbox, "run_model_in_sandbox", unavailable)
    outcome = tasks.grade_submission.run(submission.pk)
    assert outcome["status"] == "failed" and "bubblewrap" in outcome["reason"]
    submission = Submission.objects.get(pk=submission.pk)
    assert submission.status == "failed" and submission.claim_token is None
    assert "bac à sable" in submission.feedback["fr"] and "not your model" in submission.feedback["en"]
