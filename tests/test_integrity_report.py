"""The integrity report's service and page: real Keras files read as data, the stored report,
and the pair shown side by side to the teacher (never to a student)."""
from __future__ import annotations

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command

from exercises.models import Exercise, IntegrityReport, Submission
from exercises.submissions.datasets import hidden_test_set
from exercises.submissions.integrity import exercise_integrity_refresh, fingerprint_store_predictions
from grader.integrity import fingerprint_keras_file
from tests.factories import logged_in, student, teacher

pytestmark = [pytest.mark.django_db, pytest.mark.keras]


def _keras_bytes(tmp_path, seed: int, *, copy_of=None, prefix: str = "") -> tuple[bytes, object]:
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input(shape=(32, 32, 3)), keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(4, 3, strides=4, name=f"{prefix}conv" if prefix else None), keras.layers.Flatten(),
        keras.layers.Dense(6, activation="softmax", name=f"{prefix}out" if prefix else None)])
    if copy_of is not None:
        model.set_weights(copy_of.get_weights())
    path = tmp_path / f"{seed}.keras"
    model.save(path)
    return path.read_bytes(), model


def test_a_renamed_copy_is_flagged_and_shown_side_by_side(tmp_path):
    call_command("load_course", verbosity=0)
    exercise = Exercise.objects.get(slug="model-shapes-classifier")
    x, _y, _public = hidden_test_set(exercise=exercise)
    models = {}
    for k in range(6):
        user = student(exercise.course, username=f"s{k}")
        copy_of = models[0][1] if k == 5 else None
        data, model = _keras_bytes(tmp_path, 10 + k, copy_of=copy_of, prefix="mine_" if k == 5 else "")
        sub = Submission(exercise=exercise, user=user, original_name=f"s{k}.keras", status="done", score=0.5,
                         metrics={"accuracy": 0.5})
        sub.file.save(f"s{k}.keras", ContentFile(data), save=False)
        sub.save()
        # What the sandbox child reads inside the jail and returns (SandboxResult.fingerprint).
        found = fingerprint_keras_file(tmp_path / f"{10 + k}.keras")
        weights = {"architecture": found.architecture, "weights_digest": found.weights_digest,
                   "sketch": found.sketch.tolist()}
        fingerprint_store_predictions(submission_id=sub.pk, probabilities=model.predict(x.astype("float32"), verbose=0),
                                      weights=weights)
        models[k] = (sub, model)

    result = exercise_integrity_refresh(exercise_id=exercise.pk)
    assert result["compared"] == 6 and result["flagged"] >= 1
    report = IntegrityReport.objects.get(exercise=exercise)
    flagged = [p for p in report.pairs if p["flagged"]]
    pair = next(p for p in flagged if {p["a"], p["b"]} == {models[0][0].pk, models[5][0].pk})
    assert pair["same_weights"] and pair["same_architecture"] and "same_weights" in pair["reasons"]
    assert not any({p["a"], p["b"]} & {models[k][0].pk for k in (1, 2, 3, 4)} and "same_weights" in p["reasons"]
                   for p in flagged)

    t = teacher(exercise.course)
    page = logged_in(t).get(f"/teach/{exercise.course.slug}/exercises/{exercise.pk}/integrity/").content.decode()
    assert f'data-pair="{pair["a"]}-{pair["b"]}"' in page and "s0" in page and "s5" in page
    assert logged_in(models[0][0].user).get(f"/teach/{exercise.course.slug}/exercises/{exercise.pk}/integrity/").status_code == 404
    assert np.frombuffer(bytes(models[0][0].fingerprint.predictions), dtype="<i2").shape == (len(x),)
