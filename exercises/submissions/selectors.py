"""Reads of model submissions: a submission for its owner or teacher, the queue, the leaderboard."""
from __future__ import annotations

from exercises.engine.selectors import owned_or_taught
from exercises.jobs import queue_position
from exercises.models import Exercise, Submission

Status = Submission.Status


def submission_position(*, submission: Submission) -> int | None:
    """1 for the next one to be graded; None once it has left the queue."""
    return queue_position(submission)


def submission_get_for_user(*, user, submission_id: int) -> Submission:
    """The user's own submission, or any submission of a course they teach; else 404."""
    submission = Submission.objects.select_related("exercise__course", "user").filter(pk=submission_id).first()
    return owned_or_taught(submission, user=user, course=submission.exercise.course if submission else None)


def leaderboard(*, exercise: Exercise, reveal_private: bool) -> list[dict]:
    """Best public-split accuracy per student (Kaggle-style); the private column after the deadline."""
    best: dict[int, dict] = {}
    rows = Submission.objects.filter(exercise=exercise, status=Status.DONE).select_related("user").order_by("queued_at")
    for sub in rows:
        acc = sub.metrics.get("public_accuracy")
        if acc is None:
            continue
        current = best.get(sub.user_id)
        if current is None or acc > current["public_accuracy"]:
            best[sub.user_id] = {
                "username": sub.user.username, "public_accuracy": acc, "submission_id": sub.pk,
                "private_accuracy": sub.metrics.get("private_accuracy") if reveal_private else None,
                "submitted_at": sub.queued_at,
            }
    ranked = sorted(best.values(), key=lambda r: (-r["public_accuracy"], r["submitted_at"]))
    for rank, row in enumerate(ranked, start=1):
        row["rank"] = rank
    return ranked
