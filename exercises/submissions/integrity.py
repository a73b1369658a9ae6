"""The integrity report of an exercise: pairs of students whose models look copied (the same
mistakes on the hidden set, the same or nearly the same weights) and generations made with the
same prompt, seed and steps. Computed by a default-queue task after each grading
(``workers.tasks.integrity_refresh``); the teacher's page only reads the stored report."""
from __future__ import annotations

import numpy as np
from django.db import transaction

from exercises.models import Exercise, Generation, IntegrityFingerprint, IntegrityReport, Submission
from exercises.types import GENERATION, UPLOAD, grading_of

# Pairs kept in the report besides the flagged ones: the closest, for context.
CONTEXT_PAIRS = 10


def fingerprint_store_predictions(*, submission_id: int, probabilities, weights: dict | None = None) -> None:
    """Keep a graded model's answers (class indices) on the hidden set and the fingerprint of its
    weights, which the sandbox child read inside the jail (``SandboxResult.fingerprint``; None
    when it could not). A regrade replaces both."""
    answers = np.asarray(probabilities).argmax(axis=1).astype("<i2").tobytes()
    if weights is None:
        found = {"architecture": "unreadable", "weights_digest": f"unreadable-{submission_id}", "sketch": None}
    else:
        found = {"architecture": weights["architecture"], "weights_digest": weights["weights_digest"],
                 "sketch": np.asarray(weights["sketch"], dtype="<f4").tobytes()}
    IntegrityFingerprint.objects.update_or_create(submission_id=submission_id,
                                                  defaults={"predictions": answers, **found})


def _weights_unknown(fingerprint: IntegrityFingerprint, submission: Submission) -> None:
    """A fingerprint stored before the jail read the weights: the worker never parses a
    student's file itself (HDF5 is hostile input), so its weight signals wait for a regrade;
    its answers still count."""
    fingerprint.architecture = "unreadable"
    fingerprint.weights_digest = f"unreadable-{submission.pk}"
    fingerprint.sketch = None
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
            _weights_unknown(fingerprint, submission)
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
