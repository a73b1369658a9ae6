"""The integrity report of an exercise: pairs of students whose models look copied (the same
mistakes on the hidden set, the same or nearly the same weights) and generations made with the
same prompt, seed and steps. Computed by a default-queue task after each grading
(``workers.tasks.integrity_refresh``); the teacher's page only reads the stored report."""
from __future__ import annotations

import zipfile

import numpy as np
from django.db import transaction

from exercises.engine.files import STORAGE_ERRORS, storage_local_copy
from exercises.models import Exercise, Generation, IntegrityFingerprint, IntegrityReport, Submission
from exercises.types import GENERATION, UPLOAD, grading_of

# Pairs kept in the report besides the flagged ones: the closest, for context.
CONTEXT_PAIRS = 10


def fingerprint_store_predictions(*, submission_id: int, probabilities) -> None:
    """Keep a graded model's answers (class indices) on the hidden set; its weights are read by
    the report's task. A regrade replaces both."""
    answers = np.asarray(probabilities).argmax(axis=1).astype("<i2").tobytes()
    IntegrityFingerprint.objects.update_or_create(
        submission_id=submission_id,
        defaults={"predictions": answers, "architecture": "", "weights_digest": "", "sketch": None})


def _weights(fingerprint: IntegrityFingerprint, submission: Submission) -> None:
    from grader.integrity import fingerprint_keras_file

    try:
        # Through the storage API: the file may live in an S3 store, not on this host.
        with storage_local_copy(storage=submission.file.storage, name=submission.file.name,
                                filename="model.keras") as path:
            found = fingerprint_keras_file(path)
    except (*STORAGE_ERRORS, KeyError, ValueError, TypeError, zipfile.BadZipFile):
        # An unreadable file only loses its weights' signals; its answers still count.
        fingerprint.architecture = "unreadable"
        fingerprint.weights_digest = f"unreadable-{submission.pk}"
        fingerprint.sketch = None
    else:
        fingerprint.architecture, fingerprint.weights_digest = found.architecture, found.weights_digest
        fingerprint.sketch = found.sketch.astype("<f4").tobytes()
    fingerprint.save(update_fields=["architecture", "weights_digest", "sketch"])


def _model_pairs(exercise: Exercise) -> tuple[list[dict], int]:
    from grader.integrity import ModelFingerprint, integrity_pairs

    from .datasets import hidden_test_set

    # Each student's latest graded submission speaks for them.
    latest: dict[int, Submission] = {}
    for submission in (Submission.objects.filter(exercise=exercise, status=Submission.Status.DONE, fingerprint__isnull=False)
                       .select_related("fingerprint").order_by("user_id", "-queued_at", "-pk")):
        latest.setdefault(submission.user_id, submission)
    _x, labels, _public = hidden_test_set(exercise=exercise)
    predictions, fingerprints = {}, {}
    for submission in latest.values():
        fingerprint = submission.fingerprint
        answers = np.frombuffer(bytes(fingerprint.predictions), dtype="<i2")
        if len(answers) != len(labels):
            continue  # graded on another hidden set: a regrade is on its way
        if not fingerprint.weights_digest:
            _weights(fingerprint, submission)
        predictions[submission.pk] = answers
        if fingerprint.sketch is not None:
            fingerprints[submission.pk] = ModelFingerprint(
                architecture=fingerprint.architecture, weights_digest=fingerprint.weights_digest,
                sketch=np.frombuffer(bytes(fingerprint.sketch), dtype="<f4"))
    pairs = integrity_pairs(predictions=predictions, labels=labels, fingerprints=fingerprints)
    kept = [p for p in pairs if p.flagged] + [p for p in pairs if not p.flagged][:CONTEXT_PAIRS]
    users = {s.pk: s.user_id for s in latest.values()}
    return [{**p.as_dict(), "user_a": users[p.a], "user_b": users[p.b]} for p in kept], len(predictions)


def exercise_integrity_refresh(*, exercise_id: int) -> dict:
    """Recompute and store an exercise's integrity report. Run by a worker, never the web side."""
    from grader.integrity import generation_pairs

    exercise = Exercise.objects.filter(pk=exercise_id).first()
    if exercise is None:
        return {"exercise_id": exercise_id, "status": "gone"}
    kind = grading_of(exercise)
    pairs, compared, generations = [], 0, []
    if kind == UPLOAD:
        pairs, compared = _model_pairs(exercise)
    elif kind == GENERATION:
        rows = Generation.objects.filter(exercise=exercise, status=Generation.Status.DONE).values_list(
            "pk", "user_id", "prompt", "seed", "steps")
        generations = generation_pairs(list(rows))
        compared = len({row[1] for row in rows})
    else:
        return {"exercise_id": exercise_id, "status": "not compared"}
    with transaction.atomic():
        IntegrityReport.objects.update_or_create(
            exercise=exercise, defaults={"pairs": pairs, "generations": generations, "compared": compared})
    return {"exercise_id": exercise_id, "compared": compared, "flagged": sum(p["flagged"] for p in pairs),
            "generation_groups": len(generations)}
