"""Model submissions end to end: a model trained here from the downloaded training set is
uploaded through the API, graded by a real worker in the sandbox, and the grade matches the
accuracy this test computes itself on the same hidden data."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.test import Client

from tests.factories import PASSWORD, student
from tests.procs import wait_until_finished

pytestmark = [pytest.mark.worker, pytest.mark.keras]


def trained_model(tmp_dir: Path, x: np.ndarray, y: np.ndarray, *, num_classes: int,
                  scale_outside: bool = False) -> Path:
    """A small CNN trained for real on the downloaded training set. ``scale_outside`` trains it
    on ``x / 255`` with no Rescaling layer: the classic mistake the grader's raw inputs expose."""
    import keras

    keras.utils.set_random_seed(0)
    if scale_outside:
        x = x / 255.0
    model = keras.Sequential([
        keras.Input(shape=x.shape[1:]),
        *([] if scale_outside else [keras.layers.Rescaling(1 / 255)]),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(num_classes, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x.astype("float32"), y, epochs=3, batch_size=64, verbose=0)
    path = tmp_dir / "model.keras"
    model.save(path)
    return path


def _api(course):
    user = student(course, username="modeller")
    client = Client()
    token = client.post("/api/v1/auth/token", {"username": user.username, "password": PASSWORD},
                        content_type="application/json").json()["token"]
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client, user


def _wait(api, submission_id: int, timeout: float = 120) -> dict:
    return wait_until_finished(api, f"/api/v1/submissions/{submission_id}", timeout=timeout)


def test_a_trained_model_is_graded_like_the_test_grades_it(live_worker, tmp_path):
    import keras

    from exercises.models import Attempt, Exercise
    from exercises.submissions.datasets import hidden_test_set

    call_command("load_course", verbosity=0)
    exercise = Exercise.objects.get(slug="model-shapes-classifier")
    api, user = _api(exercise.course)

    variant = api.get(f"/api/v1/exercises/{exercise.pk}").json()["variant"]
    assert variant["input_shape"] == [32, 32, 3] and variant["num_classes"] >= 2
    response = api.get(f"/api/v1/exercises/{exercise.pk}/dataset")
    assert response.status_code == 200
    data = np.load(io.BytesIO(b"".join(response.streaming_content)), allow_pickle=False)
    path = trained_model(tmp_path, data["x"], data["y"], num_classes=variant["num_classes"])

    with open(path, "rb") as f:
        created = api.post(f"/api/v1/exercises/{exercise.pk}/submissions", {"file": f})
    assert created.status_code == 202, created.content
    assert created.json()["status"] == "queued"
    result = _wait(api, created.json()["submission_id"])
    assert result["status"] == "done", (result, live_worker.log_path.read_text()[-3000:])

    # The test's own evaluation on the same hidden data.
    x, y, public = hidden_test_set(exercise=exercise)
    predictions = keras.saving.load_model(path).predict(x.astype("float32"), verbose=0).argmax(axis=1)
    assert result["metrics"]["public_accuracy"] == pytest.approx(float((predictions[public] == y[public]).mean()), abs=1e-6)
    accuracy = float((predictions == y).mean())
    assert accuracy > 0.6, "the small CNN should learn the shapes"
    expected_grade = max([g for a, g in exercise.params["thresholds"] if accuracy >= a] or [0.0])
    # No due date: the private split and the grade are visible at once.
    assert result["metrics"]["accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert result["score"] == pytest.approx(expected_grade)
    attempt = Attempt.objects.get(exercise=exercise, user=user)
    assert attempt.score == pytest.approx(expected_grade)
    # The report recounts the first Conv2D with the course's formula: ((3*3*3)+1)*16 = 448.
    sub = exercise.submissions.get()
    conv = next(row for row in sub.report if row["class_name"] == "Conv2D")
    assert conv["params"] == 448
    browser = Client()
    browser.force_login(user)
    confusion = browser.get(f"/submissions/{sub.pk}/confusion.png")
    assert confusion.status_code == 200 and confusion["Content-Type"] == "image/png"
    assert confusion["X-Content-Type-Options"] == "nosniff"
    # The public split's own confusion matrix, computed by the worker from the same predictions.
    assert result["metrics"]["n_public"] == int(public.sum())
    expected_public = np.zeros((variant["num_classes"],) * 2, dtype=int)
    np.add.at(expected_public, (y[public], predictions[public]), 1)
    assert result["metrics"]["public_confusion"] == expected_public.tolist()
    public_png = api.get(result["pictures"]["public"])
    assert public_png.status_code == 200 and public_png["Content-Type"] == "image/png"
    board = api.get(f"/api/v1/exercises/{exercise.pk}/leaderboard").json()
    assert board[0]["username"] == "modeller"
    assert "Cause probable" not in result["feedback"]  # it rescales inside itself

    # The same network trained on x / 255 outside the model: far below its training accuracy on
    # the grader's raw pixels, and the feedback names the likely cause.
    (tmp_path / "outside").mkdir()
    scaled = trained_model(tmp_path / "outside", data["x"], data["y"], num_classes=variant["num_classes"],
                           scale_outside=True)
    with open(scaled, "rb") as f:
        created = api.post(f"/api/v1/exercises/{exercise.pk}/submissions", {"file": f})
    outside = _wait(api, created.json()["submission_id"])
    assert outside["status"] == "done", outside
    assert outside["metrics"]["public_accuracy"] < exercise.params["thresholds"][0][0]
    assert "Cause probable" in outside["feedback"] and "Rescaling(1/255)" in outside["feedback"]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buffer.getvalue()


def test_hostile_files_are_rejected_at_upload_and_nothing_is_queued(db, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from exercises.models import Exercise

    call_command("load_course", verbosity=0)
    exercise = Exercise.objects.get(slug="model-shapes-classifier")
    api, _user = _api(exercise.course)
    cases = {
        "model.h5": b"\x89HDF\r\n\x1a\n" + b"0" * 100,
        "notazip.keras": b"this is not a zip file",
        "truncated.keras": _zip({"config.json": b"{}", "metadata.json": b"{}"})[:40],
        "lambda.keras": _zip({
            "metadata.json": b'{"keras_version": "3.15.1"}',
            "config.json": b'{"module": "keras", "class_name": "Sequential", "config": {"layers": [{"module": "keras.layers", "class_name": "Lambda", "config": {"function": "os.system"}}]}}',
            "model.weights.h5": b"",
        }),
    }
    for name, content in cases.items():
        response = api.post(f"/api/v1/exercises/{exercise.pk}/submissions", {"file": SimpleUploadedFile(name, content)})
        assert response.status_code == 202, (name, response.content)
        body = response.json()
        assert body["status"] == "rejected", name
        assert body["feedback"], name
    assert not exercise.submissions.exclude(status="rejected").exists()


def test_an_oversized_upload_is_refused_with_a_clear_error(db, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from exercises.models import Exercise

    call_command("load_course", verbosity=0)
    exercise = Exercise.objects.get(slug="model-shapes-classifier")
    api, _user = _api(exercise.course)
    big = SimpleUploadedFile("model.keras", b"0" * (11 * 2**20))
    response = api.post(f"/api/v1/exercises/{exercise.pk}/submissions", {"file": big})
    assert response.status_code == 413
    assert "10 Mo" in response.json()["detail"]  # the limit, in the site's language (French by default)
    settings.STRIDE_MAX_REQUEST_BYTES = 1000  # the hard ceiling, before Django reads the body
    huge = api.post(f"/api/v1/exercises/{exercise.pk}/submissions", {"file": SimpleUploadedFile("m.keras", b"0" * 5000)})
    assert huge.status_code == 413
    assert not exercise.submissions.exists()


def test_a_teacher_replaces_the_hidden_test_set_and_a_bad_file_changes_nothing(db, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from exercises.models import Exercise
    from exercises.submissions.datasets import hidden_test_set
    from tests.factories import teacher

    call_command("load_course", verbosity=0)
    exercise = Exercise.objects.get(slug="model-shapes-classifier")
    generated_x, generated_y, _ = hidden_test_set(exercise=exercise)
    client = Client()
    client.force_login(teacher(exercise.course))
    url = f"/exercises/{exercise.pk}/test-set/"

    pickled = io.BytesIO()
    np.savez(pickled, x=np.array([object()] * 20, dtype=object), y=np.zeros(20, dtype=np.int64))
    client.post(url, {"test_set": SimpleUploadedFile("bad.npz", pickled.getvalue())})
    assert not hasattr(Exercise.objects.get(pk=exercise.pk), "hidden_test_set") or \
        not Exercise.objects.filter(pk=exercise.pk, hidden_test_set__isnull=False).exists()

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (50, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 6, 50).astype(np.int64)
    good = io.BytesIO()
    np.savez(good, x=x, y=y)
    response = client.post(url, {"test_set": SimpleUploadedFile("mine.npz", good.getvalue())}, follow=True)
    assert "50" in response.content.decode()
    exercise = Exercise.objects.get(pk=exercise.pk)
    hx, hy, public = hidden_test_set(exercise=exercise)
    assert hx.shape == (50, 32, 32, 3) and (hy == y).all() and 0 < public.sum() < 50

    # A student cannot touch it.
    other = Client()
    other.force_login(student(exercise.course, username="sneaky"))
    assert other.post(url, {"test_set": SimpleUploadedFile("x.npz", good.getvalue())}).status_code == 404
