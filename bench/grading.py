"""Grading models: 20 queued submissions end to end, against a warm process and fresh processes.

Measured side by side in one run, and printed as ratios:

1. **end to end**: 20 small-CNN submissions queued at once through the broker (Redis when it
   answers on 127.0.0.1:6379, else the filesystem broker), one real Celery worker, the
   intake checks, the sandbox and the scoring: latency per submission (queued → finished,
   and started → finished) and throughput;
2. **warm in-process**: the same load + predict in one process that has Keras imported, no
   sandbox (the floor);
3. **fresh process**: a new ``python`` per submission that imports Keras, loads, predicts.

    .venv/bin/python -m bench.grading [--submissions 20]

Goals (issue "Keras model submissions"): sandboxed latency ≤ 1.5× (2); end-to-end throughput
≥ 8× (3).
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


def _setup(var_dir: Path) -> None:
    for entry in (str(ROOT), str(ROOT / "platform")):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    os.environ["STRIDE_VAR_DIR"] = str(var_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{var_dir / 'bench.sqlite3'}")
    if "CELERY_BROKER_URL" not in os.environ:
        os.environ["CELERY_BROKER_URL"] = "redis://127.0.0.1:6379/15" if _redis_up() else "filesystem://"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("load_course", verbosity=0)


def _train_shapes_cnn(folder: Path) -> Path:
    """A small CNN for the built-in shapes exercise, trained in a subprocess (no Keras here)."""
    path = folder / "shapes-cnn.keras"
    code = f"""
import sys; sys.path.insert(0, {str(ROOT)!r})
import keras
from grader.datasets import generate
x, y = generate("shapes32", n=2000, seed=1)
keras.utils.set_random_seed(0)
m = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Rescaling(1 / 255),
    keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(),
    keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
    keras.layers.Flatten(), keras.layers.Dense(6, activation="softmax")])
m.compile("adam", "sparse_categorical_crossentropy")
m.fit(x.astype("float32"), y, epochs=1, verbose=0)
m.save({str(path)!r})
"""
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return path


def end_to_end(model_path: Path, n: int, var_dir: Path) -> dict:
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile

    from accounts.roles import Role
    from accounts.services import user_create
    from courses.services import enrollment_add
    from exercises.models import Exercise, Submission
    from exercises.submissions.services import submission_create
    from tests.procs import celery_worker

    exercise = Exercise.objects.get(slug="model-shapes-classifier")
    exercise.params = {**exercise.params, "submissions_per_day": 1000}
    exercise.save()
    user, _ = user_create(username=f"bench-{os.getpid()}", role=Role.STUDENT, password="bench-password")
    enrollment_add(course=exercise.course, user=user, role=Role.STUDENT)
    content = model_path.read_bytes()
    db_url = os.environ["DATABASE_URL"]
    with celery_worker(broker_url=settings.CELERY_BROKER_URL, var_dir=var_dir, queues="gpu",
                       database_url=db_url, DJANGO_MEDIA_ROOT=str(settings.MEDIA_ROOT)):
        # One warm-up submission: the worker's sandbox starts its first child.
        first = submission_create(exercise=exercise, user=user, upload=SimpleUploadedFile("m.keras", content))
        _wait([first.pk], timeout=180)
        start = time.perf_counter()
        ids = [submission_create(exercise=exercise, user=user, upload=SimpleUploadedFile("m.keras", content)).pk
               for _ in range(n)]
        _wait(ids, timeout=600)
        wall = time.perf_counter() - start
    rows = list(Submission.objects.filter(pk__in=ids))
    bad = [r for r in rows if r.status != "done"]
    if bad:
        raise RuntimeError(f"{len(bad)} submissions not done: {[(r.pk, r.status, r.feedback) for r in bad][:3]}")
    return {
        "latency": [(r.finished_at - r.queued_at).total_seconds() for r in rows],
        "service": [(r.finished_at - r.started_at).total_seconds() for r in rows],
        "throughput": n / wall,
        "sandbox": [r.metrics["sandbox_seconds"] for r in rows],
    }


def _wait(ids: list[int], timeout: float) -> None:
    from exercises.models import Submission

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Submission.objects.filter(pk__in=ids, status__in=["queued", "running"]).exists():
            return
        time.sleep(0.05)
    raise TimeoutError(f"submissions {ids} not graded in {timeout}s")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=20)
    parser.add_argument("--fresh", type=int, default=5, help="fresh-process jobs (each pays the Keras import)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stride-bench-grading-") as folder:
        var_dir = Path(folder)
        _setup(var_dir)
        from bench.grading_sandbox import time_fresh_process, time_warm_in_process
        from exercises.models import Exercise
        from exercises.submissions.datasets import hidden_test_set

        model_path = _train_shapes_cnn(var_dir)
        x, _y, _public = hidden_test_set(exercise=Exercise.objects.get(slug="model-shapes-classifier"))
        inputs = x.astype("float32")
        e2e = end_to_end(model_path, args.submissions, var_dir)
        warm = time_warm_in_process(model_path, inputs, args.submissions, num_classes=6)
        fresh = time_fresh_process(model_path, inputs, args.fresh, num_classes=6)

    med = statistics.median
    results = {
        "broker": os.environ["CELERY_BROKER_URL"].split(":")[0],
        "warm in-process latency (ms)": med(warm) * 1000,
        "fresh process latency (ms)": med(fresh) * 1000,
        "sandbox job, in the worker (ms)": med(e2e["sandbox"]) * 1000,
        "end-to-end service time, started→finished (ms)": med(e2e["service"]) * 1000,
        "end-to-end latency, queued→finished, 20 at once (ms)": med(e2e["latency"]) * 1000,
        "sandbox job / warm in-process (goal ≤ 1.5)": med(e2e["sandbox"]) / med(warm),
        "service time / warm in-process": med(e2e["service"]) / med(warm),
        "isolation overhead per submission (ms)": (med(e2e["sandbox"]) - med(warm)) * 1000,
        "end-to-end throughput (submissions/s)": e2e["throughput"],
        "throughput / fresh-process throughput (goal ≥ 8)": e2e["throughput"] * med(fresh),
    }
    for name, value in results.items():
        print(f"{name:58s} {value if isinstance(value, str) else f'{value:10.2f}'}")
    return results


if __name__ == "__main__":
    main()
