"""The media disk is full when a student uploads a model (issue #7, "Full disk").

MEDIA_ROOT is a 2 MiB tmpfs mounted for the test (root only; a container may refuse it, then
the test is skipped with mount's own words). Two real ``.keras`` files are uploaded:

- one larger than the whole disk (~3 MB: Django spools it to a temporary file first, then
  copies it onto the full disk);
- a small one, onto a disk that a filler file has left with less room than the model needs
  (an upload kept in memory, written by the storage).

Asserted, through the API and the web page: a clear "no room" message with status 507, not a
500; no Submission row and no file (whole or partial) left behind; and once space is freed,
the same upload is accepted.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from tests.factories import student
from tests.faults.support import report

pytestmark = [pytest.mark.faults, pytest.mark.keras]

SIZE = 2 * 2**20


@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mountpoint = tmp_path / "media"
    mountpoint.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0755", "tmpfs", str(mountpoint)],
                          capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {(done.stderr or done.stdout).strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, timeout=30)


def _big_model(folder: Path) -> Path:
    """A real model larger than the whole disk: ~3 MB of Dense weights."""
    import keras

    from grader.datasets import DATASETS

    spec = DATASETS["shapes32"]
    model = keras.Sequential([
        keras.Input(shape=tuple(spec.input_shape)),
        keras.layers.Rescaling(1 / 255),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(960, activation="relu"),
        keras.layers.Dense(len(spec.class_names), activation="softmax"),
    ])
    path = folder / "big.keras"
    model.save(path)
    return path


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _free(root: Path) -> int:
    stat = os.statvfs(root)
    return stat.f_bavail * stat.f_frsize


def test_an_upload_onto_a_full_disk_is_a_clear_error_and_leaves_nothing(db, settings, small_disk, model_files,
                                                                       tmp_path):
    from exercises.models import Exercise, Submission

    call_command("load_course", verbosity=0)
    exercise = Exercise.objects.get(slug="model-shapes-classifier")
    # A model that is valid for the exercise, only too big for the disk: the intake checks the
    # parameter budget before anything is stored, so the budget makes room for its 744,006.
    Exercise.objects.filter(pk=exercise.pk).update(params={**exercise.params, "max_params": 1_000_000})
    exercise.refresh_from_db()
    user = student(exercise.course, username="fulldisk")
    settings.MEDIA_ROOT = str(small_disk)
    # transaction.on_commit never runs inside the db fixture's transaction: nothing is sent.
    browser = Client()
    browser.force_login(user)
    api_url = f"/api/v1/exercises/{exercise.pk}/submissions"
    page_url = reverse("exercises:submit", kwargs={"exercise_id": exercise.pk})
    big = _big_model(tmp_path)
    small = model_files["small"]
    assert big.stat().st_size > SIZE > small.stat().st_size
    seen = []

    def refused(path: Path, via: str, messages) -> None:
        upload = SimpleUploadedFile("model.keras", path.read_bytes())
        if via == "api":
            response = browser.post(api_url, {"file": upload}, HTTP_ACCEPT_LANGUAGE="en")
            assert response.status_code == 507, (response.status_code, response.content[:300])
            text = response.json()["detail"]
        else:
            response = browser.post(page_url, {"file": upload}, HTTP_HX_REQUEST="true")
            assert response.status_code == 200 and response["X-Stride-Status"] == "507", response.status_code
            text = response.content.decode()
        assert any(m in text for m in messages), text[:2000]
        seen.append((via, path.name, response.status_code))

    messages = ("no room", "plus de place")
    # 1. A model larger than the whole disk.
    for via in ("api", "page"):
        refused(big, via, messages)
        assert not Submission.objects.exists()
        assert _files(small_disk) == [], _files(small_disk)

    # 2. A small model onto a disk that a filler has almost filled.
    filler = small_disk / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * (_free(small_disk) - small.stat().st_size // 2))
    assert _free(small_disk) < small.stat().st_size
    for via in ("api", "page"):
        refused(small, via, messages)
        assert not Submission.objects.exists()
        assert _files(small_disk) == ["filler"], _files(small_disk)

    # 3. Room again: the same upload is accepted.
    filler.unlink()
    response = browser.post(api_url, {"file": SimpleUploadedFile("model.keras", small.read_bytes())})
    assert response.status_code == 202 and response.json()["status"] == "queued", response.content
    sub = Submission.objects.get()
    assert Path(sub.file.path).is_file() and Path(sub.file.path).stat().st_size == small.stat().st_size
    report(f"full disk (tmpfs of {SIZE // 2**20} MiB): {len(seen)} uploads refused with 507 and a clear message "
           f"({', '.join(f'{via} {name}' for via, name, _ in seen)}), no row or file left; accepted once freed")
