"""Reads of model submissions: a submission for its owner or teacher, the queue, the leaderboard."""
from __future__ import annotations

from exercises.engine.selectors import owned_or_taught
from exercises.jobs import queue_position
from exercises.models import Exercise, Submission

Status = Submission.Status


def submission_position(*, submission: Submission) -> int | None:
    """1 for the next one to be graded; None once it has left the queue."""
    return queue_position(submission)


def submission_queue_length() -> int:
    """Submissions waiting for a worker (the sandbox keeps spares warm for them)."""
    return Submission.objects.filter(status=Status.QUEUED).count()


RECENT_GRADINGS = 20  # how many finished gradings the wait estimate averages


def submission_wait_estimate(*, submission: Submission, position: int | None) -> float | None:
    """Seconds until this submission is graded, as a student reads it while it waits: the
    submissions ahead of it and itself (``position``) times the mean service time (claimed to
    saved) of the last gradings; for a running one, that mean less the time it has run. None
    once it is graded, or before any grading has been timed. One worker per queue is assumed:
    with more, it is an upper bound."""
    if submission.status not in (Status.QUEUED, Status.RUNNING):
        return None
    recent = list(Submission.objects.filter(status=Status.DONE, started_at__isnull=False, finished_at__isnull=False)
                  .order_by("-finished_at").values_list("started_at", "finished_at")[:RECENT_GRADINGS])
    if not recent:
        return None
    mean = sum((end - start).total_seconds() for start, end in recent) / len(recent)
    if submission.status == Status.RUNNING:
        from django.utils import timezone

        ran = (timezone.now() - submission.started_at).total_seconds() if submission.started_at else 0.0
        return round(max(0.0, mean - ran), 1)
    return round((position or 1) * mean, 1)


def submission_get_for_user(*, user, submission_id: int) -> Submission:
    """The user's own submission, or any submission of a course they teach; else 404."""
    submission = Submission.objects.select_related("exercise__course", "user").filter(pk=submission_id).first()
    return owned_or_taught(submission, user=user, course=submission.exercise.course if submission else None)


def leaderboard(*, exercise: Exercise, reveal_private: bool, viewer=None, real_names: bool = False) -> list[dict]:
    """Best public-split accuracy per student (Kaggle-style); the private column, and the
    ranking by it, after the deadline (``reveal_private``, from the visibility rule).

    Students appear under the pseudonym they chose for the course ("Student #n" without one);
    ``real_names`` (the course's teachers) adds their username. ``is_you`` marks the viewer."""
    from courses.models import Enrollment

    pseudonyms = dict(Enrollment.objects.filter(course_id=exercise.course_id).exclude(pseudonym="")
                      .values_list("user_id", "pseudonym"))
    best: dict[int, dict] = {}
    rows = Submission.objects.filter(exercise=exercise, status=Status.DONE).select_related("user").order_by("queued_at")
    for sub in rows:
        acc = sub.metrics.get("public_accuracy")
        if acc is None:
            continue
        current = best.get(sub.user_id)
        if current is None or acc > current["public_accuracy"]:
            best[sub.user_id] = {
                "user_id": sub.user_id, "username": sub.user.username, "public_accuracy": acc, "submission_id": sub.pk,
                "private_accuracy": sub.metrics.get("private_accuracy") if reveal_private else None,
                "submitted_at": sub.queued_at,
            }
    if reveal_private:
        ranked = sorted(best.values(), key=lambda r: (-(r["private_accuracy"] or 0.0), -r["public_accuracy"], r["submitted_at"]))
    else:
        ranked = sorted(best.values(), key=lambda r: (-r["public_accuracy"], r["submitted_at"]))
    viewer_id = getattr(viewer, "pk", None)
    for rank, row in enumerate(ranked, start=1):
        row["rank"] = rank
        row["is_you"] = row["user_id"] == viewer_id
        row["name"] = pseudonyms.get(row["user_id"]) or f"#{rank}"
        if not (real_names or row["is_you"]):
            row["username"] = None
        del row["user_id"]
    return ranked
