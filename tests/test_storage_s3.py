"""Files in an S3 store (SeaweedFS, started by the tests): the site's storage API on a real,
authenticated, private bucket (issue #13). The whole path with a worker on another "host" is
tests/test_split_hosts.py; here, what the web side alone must get right."""
from __future__ import annotations

import io

import numpy as np
import pytest
import requests
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from tests.factories import logged_in, student, teacher


def test_the_default_storage_is_the_bucket_and_it_is_private(s3_store):
    name = default_storage.save("generations/1/probe.png", ContentFile(b"\x89PNG probe"))
    assert s3_store.keys() == [name]
    with default_storage.open(name, "rb") as handle:
        assert handle.read() == b"\x89PNG probe"
    # Nobody reads the object without the key; a signed URL (if anything hands one out) expires.
    assert requests.get(f"{s3_store.endpoint_url}/{s3_store.bucket}/{name}", timeout=10).status_code == 403
    signed = default_storage.url(name)
    assert "X-Amz-Expires=300" in signed and requests.get(signed, timeout=10).content == b"\x89PNG probe"
    # A name already taken gets another one: nothing is overwritten.
    again = default_storage.save("generations/1/probe.png", ContentFile(b"other"))
    assert again != name and default_storage.open(name).read() == b"\x89PNG probe"


def test_a_teachers_hidden_test_set_goes_to_the_bucket_and_a_bad_one_changes_nothing(s3_store, db, settings, tmp_path):
    from exercises.models import Exercise, HiddenTestSet
    from exercises.submissions.datasets import hidden_test_set, hidden_test_set_upload
    from grader.datasets import TestSetError, generate

    call_command("load_course", verbosity=0)
    exercise = Exercise.objects.get(slug="model-shapes-classifier")
    prof = teacher(exercise.course)
    with pytest.raises(TestSetError):
        hidden_test_set_upload(exercise=exercise, user=prof, upload=SimpleUploadedFile("bad.npz", b"not an npz"))
    assert s3_store.keys() == [] and not HiddenTestSet.objects.exists()

    x, y = generate(exercise.params["dataset"], n=50, seed=9)
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)
    stored = hidden_test_set_upload(exercise=exercise, user=prof, upload=SimpleUploadedFile("set.npz", buffer.getvalue()))
    assert s3_store.keys() == [stored.file.name]
    # A worker reads it through a local copy in its own var/ (another host has none yet).
    settings.VAR_DIR = tmp_path / "worker-var"
    got_x, got_y, public = hidden_test_set(exercise=Exercise.objects.get(pk=exercise.pk))
    assert np.array_equal(got_x, x) and np.array_equal(got_y, y) and 0 < public.sum() < 50
    assert list((tmp_path / "worker-var" / "cache" / "stored").iterdir())[0].name == f"testset-{stored.sha256}.npz"


def _tiny_model_bytes(folder, exercise) -> bytes:
    import keras

    from exercises.types.model import model_params
    from grader.datasets import DATASETS

    spec = DATASETS[model_params(exercise.params)["dataset"]]
    model = keras.Sequential([keras.Input(shape=tuple(spec.input_shape)), keras.layers.Rescaling(1 / 255),
                              keras.layers.Flatten(), keras.layers.Dense(len(spec.class_names), activation="softmax")])
    model.save(folder / "tiny.keras")
    return (folder / "tiny.keras").read_bytes()


@pytest.mark.keras
def test_a_store_that_refuses_the_write_is_a_clear_503_and_nothing_is_kept(s3_store, db, settings, tmp_path):
    from exercises.models import Exercise, Submission

    call_command("load_course", verbosity=0)
    exercise = Exercise.objects.get(slug="model-shapes-classifier")
    broken = s3_store.storage_options()
    broken["OPTIONS"] = {**broken["OPTIONS"], "secret_key": "wrong-secret"}
    settings.STORAGES = {**settings.STORAGES, "default": broken}
    client = logged_in(student(exercise.course))
    # A valid model (a refused file is never stored, so it could not reach the store).
    response = client.post(f"/api/v1/exercises/{exercise.pk}/submissions",
                           {"file": SimpleUploadedFile("m.keras", _tiny_model_bytes(tmp_path, exercise))})
    assert response.status_code == 503, response.content
    assert "stockage" in response.json()["detail"]
    assert not Submission.objects.exists() and s3_store.keys() == []
