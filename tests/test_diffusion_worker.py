"""The diffusion lab end to end: the shipped model generates through a real Celery worker.

Three requests queued before the worker starts are claimed as one batch (one forward pass per
step for the three), their pictures are stored under each student and served only to them,
the graded one is scored by the judging classifier into an attempt, a rerun with the same
settings gives the same picture, and a row whose message was lost is recovered by the sweeper.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from PIL import Image

from tests.conftest import database_url_of_test_db
from tests.factories import logged_in, student, teacher
from tests.procs import wait_until_finished

pytestmark = [pytest.mark.worker, pytest.mark.keras]


def _wait(client, generation_id: int, timeout: float = 180) -> dict:
    return wait_until_finished(client, f"/api/v1/generations/{generation_id}", timeout=timeout)


def _pixels(client, url: str) -> np.ndarray:
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))


def _post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_batched_generations_through_a_real_worker(transactional_db, settings, tmp_path):
    from exercises.lab.services import generations_sweep
    from exercises.models import Attempt, Exercise, Generation
    from tests.procs import celery_worker

    call_command("load_course", verbosity=0)
    exercise = Exercise.objects.get(slug="diffusion-generate-target")
    Exercise.objects.filter(pk=exercise.pk).update(params={**exercise.params, "targets": ["banane verte"]})
    course = exercise.course
    ana, bob = student(course, username="ana"), student(course, username="bob")
    as_ana, as_bob = logged_in(ana), logged_in(bob)

    graded = _post(as_ana, f"/api/v1/exercises/{exercise.pk}/generations",
                   {"prompt": "banane verte", "steps": 20, "seed": 11, "guidance": 3})
    lab = _post(as_ana, f"/api/v1/courses/{course.slug}/generations",
                {"prompt": "citron violet", "steps": 20, "seed": 5, "guidance": 4})
    other = _post(as_bob, f"/api/v1/courses/{course.slug}/generations",
                  {"prompt": "cerise orange", "steps": 20, "seed": 5, "guidance": 4})
    assert {graded.status_code, lab.status_code, other.status_code} == {202}
    ids = [r.json()["generation_id"] for r in (graded, lab, other)]
    assert as_ana.get(f"/api/v1/generations/{ids[1]}").json()["position"] == 2

    with celery_worker(broker_url=settings.CELERY_BROKER_URL, var_dir=Path(settings.VAR_DIR),
                       database_url=database_url_of_test_db(), log=tmp_path / "worker.log",
                       DJANGO_MEDIA_ROOT=str(settings.MEDIA_ROOT)):
        results = [_wait(as_ana, ids[0]), _wait(as_ana, ids[1]), _wait(as_bob, ids[2])]
        assert [r["status"] for r in results] == ["done"] * 3, (results, (tmp_path / "worker.log").read_text()[-3000:])
        # One claim took all three: they shared every forward pass.
        assert [r["batch_size"] for r in results] == [3, 3, 3]

        # The graded one: the classifier's reading became the score and an attempt.
        done = results[0]
        assert done["recognition"]["caption"] == "banane verte", done
        assert done["score"] == 1.0 and "banane verte" in done["feedback"]
        attempt = Attempt.objects.get(exercise=exercise, user=ana)
        assert attempt.score == 1.0 and attempt.answer == {"generation_id": ids[0]}
        assert results[1]["score"] is None and "citron" in results[1]["feedback"]

        # Pictures: the final image, and a trajectory from noise (varied) to the image.
        image = _pixels(as_ana, done["image_url"])
        assert image.shape == (32, 32, 3)
        frames = [_pixels(as_ana, url) for url in done["trajectory_urls"]]
        assert len(frames) == len(done["trajectory_steps"]) == 8 and frames[0].shape == (32, 32, 3)
        assert frames[0].std() > 2 * frames[-1].std() or np.abs(frames[0].astype(int) - image).mean() > 30
        assert len(done["prediction_urls"]) == 8
        files = [Path(settings.MEDIA_ROOT) / Generation.objects.get(pk=ids[0]).image.name]
        assert files[0].is_file() and f"generations/{ana.pk}/" in str(files[0])

        # Privacy: bob cannot see ana's picture; their teacher can.
        assert as_bob.get(done["image_url"]).status_code == 404
        assert logged_in(teacher(course)).get(done["image_url"]).status_code == 200

        # The same settings again, alone this time: the same picture.
        again = _post(as_ana, f"/api/v1/exercises/{exercise.pk}/generations",
                      {"prompt": "banane verte", "steps": 20, "seed": 11, "guidance": 3})
        rerun = _wait(as_ana, again.json()["generation_id"])
        assert rerun["batch_size"] == 1
        assert np.abs(_pixels(as_ana, rerun["image_url"]).astype(int) - image.astype(int)).max() <= 2

        # A row whose message was lost (never sent) is found by the sweeper and generated.
        lost = Generation.objects.create(course=course, user=bob, prompt="poire jaune", steps=5, seed=1, guidance=3)
        assert generations_sweep()["resent"] == 1
        assert _wait(as_bob, lost.pk)["status"] == "done"

    # The galleries show them.
    page = as_ana.get(f"/courses/{course.slug}/lab/").content.decode()
    assert f'id="generation-{ids[1]}"' in page and f'id="generation-{ids[2]}"' not in page
    gallery = logged_in(teacher(course, username="prof")).get(f"/courses/{course.slug}/generations/").content.decode()
    assert all(f'id="generation-{pk}"' in gallery for pk in ids)
