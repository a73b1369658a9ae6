"""Writes of model submissions (DESIGN.md, "How data flows").

1. The web side stores the file and a ``queued`` row, and sends the task after commit.
2. A worker claims the row atomically, counts the try, runs the intake checks, the sandbox
   (the task passes the sandbox runner in: ``exercises`` never imports ``workers``) and the
   scoring, and saves the result only if it still holds the claim.
3. The sweeper of ``exercises.jobs`` re-sends rows stuck in ``queued`` and puts back stale
   ``running`` rows, failing them with a clear message after ``MAX_TRIES``: nothing accepted
   is ever dropped.
"""
from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from django.apps import apps
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from config.i18n import localize
from exercises.engine.policy import AttemptRefused, due_at_for, policy_state, score_after_penalties
from exercises.engine.services import RegradeReport, ScoreChange, attempt_record_graded, jsonable
from exercises.jobs import (
    GRADE_SUBMISSION_TASK,
    INTEGRITY_TASK,
    MAX_TRIES,
    finish,
    send_light_task,
    send_task,
    sweep,
    tries_exhausted,
)
from exercises.models import Attempt, Exercise, Submission
from exercises.types import UPLOAD, grading_of
from exercises.types.model import model_params
from grader.result import i18n

from .datasets import confusion_png_name, hidden_test_set

log = logging.getLogger(__name__)
Status = Submission.Status


class SubmissionRefused(AttemptRefused):
    pass


def submission_create(*, exercise: Exercise, user, upload: UploadedFile, now: datetime | None = None) -> Submission:
    """Store an uploaded model and queue it. Intake checks run at once, so a hostile or broken
    file is ``rejected`` with its reason before any worker sees it."""
    from grader.intake import IntakeError, check_model_file

    now = now or timezone.now()
    if grading_of(exercise) != UPLOAD:
        raise SubmissionRefused(_("This exercise does not take model files."), 400)
    p = model_params(exercise.params)
    state = policy_state(exercise=exercise, attempts_used=0, now=now, due_at=due_at_for(exercise=exercise, user=user))
    if state.closed:
        raise SubmissionRefused(_("The due date has passed and this exercise is closed."))
    max_bytes = int(float(p["max_file_mb"]) * 2**20)
    if upload.size is not None and upload.size > max_bytes:
        raise SubmissionRefused(
            _("The file is %(size).1f MB; the limit is %(limit)s MB.") % {"size": upload.size / 2**20, "limit": p["max_file_mb"]},
            413,
        )
    day_start = now - timedelta(days=1)
    used_today = Submission.objects.filter(exercise=exercise, user=user, queued_at__gte=day_start).exclude(status=Status.REJECTED).count()
    if used_today >= p["submissions_per_day"]:
        raise SubmissionRefused(
            _("You have used your %(n)s submissions of the last 24 hours. Try again later.") % {"n": p["submissions_per_day"]},
            429,
        )
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    submission = Submission(
        exercise=exercise, user=user, original_name=(upload.name or "model.keras")[:255], size=upload.size or 0,
        sha256=digest.hexdigest(), late=state.late, queued_at=now,
    )
    _store_upload(submission, upload)
    try:
        check_model_file(Path(submission.file.path), filename=submission.original_name, max_bytes=max_bytes)
    except IntakeError as exc:
        submission.status = Status.REJECTED
        submission.feedback = exc.message
        submission.finished_at = now
        submission.save()
        return submission
    with transaction.atomic():
        submission.save()
        transaction.on_commit(lambda: submission_enqueue(submission_id=submission.pk))
    return submission


def _store_upload(submission: Submission, upload: UploadedFile) -> None:
    """Write the file under its final name. A disk that is full (or failing) is a clear 507 for
    the student, and whatever part of the file was written is removed: no row, no stray file."""
    field = Submission._meta.get_field("file")
    storage = field.storage
    name = field.generate_filename(submission, "model.keras")
    try:
        submission.file = storage.save(name, upload, max_length=field.max_length)
    except OSError as exc:
        log.error("could not store an uploaded model (%s): %s", name, exc)
        try:
            storage.delete(name)
        except OSError:
            log.exception("could not remove the partial upload %s", name)
        raise SubmissionRefused(localize(i18n(
            "Le serveur n'a plus de place pour enregistrer votre fichier. Réessayez plus tard, et prévenez votre "
            "enseignant si cela dure.",
            "The server has no room to store your file right now. Try again later, and tell your teacher if it "
            "persists.",
        )), 507) from exc


def submission_enqueue(*, submission_id: int) -> bool:
    """Send the grading task; a broker that is down leaves the row to the sweeper."""
    return send_task(GRADE_SUBMISSION_TASK, submission_id, Submission)


# --- the worker side ------------------------------------------------------------------------
@dataclass(frozen=True)
class GradeOutcome:
    status: str
    reason: str = ""


def _regraded(submission: Submission, fields: dict) -> None:
    """A regraded submission updates the attempt it already had, in the same transaction as the
    result: the old grade stays valid until the new one is saved, never a gap. The gradebook's
    audit log records the new score beside the old one (looked up by name: the gradebook app
    depends on this one, not the other way)."""
    attempt = Attempt.objects.select_for_update().get(pk=submission.attempt_id)
    exercise = submission.exercise
    new = score_after_penalties(exercise=exercise, raw_score=fields["score"], number=1, late=attempt.late)
    Attempt.objects.filter(pk=attempt.pk).update(
        raw_score=fields["score"], score=new, correct=fields["score"] >= 0.999, feedback=fields.get("feedback") or {})
    if new != attempt.score:
        apps.get_model("gradebook", "AuditLog").objects.create(
            actor=None, action="regrade", course_id=exercise.course_id, exercise=exercise, student_id=submission.user_id,
            old={"score": attempt.score, "submission": submission.pk}, new={"score": new, "submission": submission.pk},
            comment="model graded again")


def _finish(submission: Submission, token: uuid.UUID, **fields) -> bool:
    """Save a result only if this worker still holds the claim; a grade is recorded as an attempt
    (the attempt it already had, when this is a regrade)."""
    def record() -> None:
        if submission.attempt_id and Attempt.objects.filter(pk=submission.attempt_id).exists():
            _regraded(submission, fields)
            return
        attempt = attempt_record_graded(
            exercise=submission.exercise, user=submission.user, answer={"submission_id": submission.pk},
            raw_score=fields["score"], feedback=fields.get("feedback") or {}, late=submission.late,
            received_at=submission.queued_at)
        Submission.objects.filter(pk=submission.pk).update(attempt=attempt)

    return finish(submission, token, on_done=record if fields.get("status") == Status.DONE else None, **fields)


def _fail(submission, token, status, message: dict) -> GradeOutcome:
    _finish(submission, token, status=status, feedback=message)
    return GradeOutcome(status=status, reason=message.get("en", ""))


def submission_grade(*, submission_id: int, run_model: Callable) -> GradeOutcome:
    """Claim, check, run in the sandbox, score and save one submission.

    ``run_model`` is the sandbox runner (``workers.sandbox.run_model_in_sandbox``), passed in
    by the task: it loads the model in a jail and returns its predictions."""
    from grader.datasets import DATASETS
    from grader.evaluation import architecture_report, confusion_matrix_png, grade_from_accuracy, score_predictions
    from grader.intake import IntakeError, check_model_file

    token = uuid.uuid4()
    now = timezone.now()
    claimed = Submission.objects.filter(pk=submission_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now, tries=F("tries") + 1, claim_token=token, progress=5
    )
    if not claimed:
        return GradeOutcome(status="skipped", reason="not queued (already claimed, graded or unknown)")
    submission = Submission.objects.select_related("exercise__course").get(pk=submission_id)
    if submission.tries > MAX_TRIES:
        return _fail(submission, token, Status.FAILED, _tries_exhausted())
    exercise = submission.exercise
    p = model_params(exercise.params)
    path = Path(submission.file.path)
    try:
        intake = check_model_file(path, filename=submission.original_name, max_bytes=int(float(p["max_file_mb"]) * 2**20))
    except IntakeError as exc:
        return _fail(submission, token, Status.REJECTED, exc.message)
    x, y, public = hidden_test_set(exercise=exercise)
    Submission.objects.filter(pk=submission.pk, claim_token=token).update(progress=20)
    spec = DATASETS[p["dataset"]]
    result = run_model(
        model_path=path, inputs=x, expected_input_shape=tuple(spec.input_shape),
        num_classes=len(spec.class_names), max_params=int(p["max_params"]),
    )
    Submission.objects.filter(pk=submission.pk, claim_token=token).update(progress=85)
    if not result.ok:
        return _fail(submission, token, Status.FAILED, result.error or i18n("Le modèle a échoué.", "The model failed."))
    metrics = score_predictions(probabilities=result.predictions, labels=y, public_mask=public)
    score = float(grade_from_accuracy(metrics.accuracy, p["thresholds"]))
    names = [n.get("fr") if isinstance(n, dict) else str(n) for n in spec.class_names]
    png = confusion_matrix_png(np.asarray(metrics.confusion), names)
    storage, png_name = submission.file.storage, confusion_png_name(submission.file.name)
    storage.delete(png_name)  # a regrade writes it again under the same name
    storage.save(png_name, ContentFile(png))
    report = architecture_report(
        input_shape=tuple(spec.input_shape), layers_from_sandbox=result.layers,
        layer_configs={layer.name: layer.config for layer in intake.layers},
    )
    feedback = i18n(
        f"Précision sur la partie publique du jeu de test caché : {metrics.public_accuracy:.1%}. "
        f"{result.param_count} paramètres (budget : {p['max_params']}).",
        f"Accuracy on the public part of the hidden test set: {metrics.public_accuracy:.1%}. "
        f"{result.param_count} parameters (budget: {p['max_params']}).",
    )
    saved = _finish(
        submission, token, status=Status.DONE, score=score, feedback=feedback, report=jsonable(report),
        metrics={
            "accuracy": metrics.accuracy, "public_accuracy": metrics.public_accuracy,
            "private_accuracy": metrics.private_accuracy, "confusion": jsonable(metrics.confusion),
            "public_grade": float(grade_from_accuracy(metrics.public_accuracy, p["thresholds"])),
            "param_count": result.param_count, "sandbox_seconds": round(result.seconds, 3), "n_test": int(len(y)),
        },
    )
    if saved:
        # The integrity report compares every student's answers on the hidden set: keep them
        # (class indices), and let a default-queue task read the weights and redo the report.
        from .integrity import fingerprint_store_predictions

        fingerprint_store_predictions(submission_id=submission.pk, probabilities=result.predictions)
        transaction.on_commit(lambda: send_light_task(INTEGRITY_TASK, exercise.pk))
    return GradeOutcome(status=Status.DONE if saved else "superseded")


def submission_fail_after_time_limit(*, submission_id: int) -> None:
    Submission.objects.filter(pk=submission_id, status=Status.RUNNING).update(
        status=Status.FAILED, finished_at=timezone.now(), progress=100,
        feedback=i18n("La correction a dépassé le temps permis : votre modèle est-il très lent ?",
                      "Grading took longer than allowed: is your model very slow?"),
    )


def _tries_exhausted() -> dict:
    return tries_exhausted("la soumission", "the submission")


def submissions_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Put stuck submissions back in the queue; fail those out of tries. Run by Celery beat."""
    return sweep(model=Submission, enqueue=lambda pk: submission_enqueue(submission_id=pk),
                 exhausted=_tries_exhausted(), now=now)


def submissions_regrade(*, exercise: Exercise, dry_run: bool = False) -> RegradeReport:
    """Send every graded submission of an exercise back to the queue (after a new hidden test
    set or new thresholds). Pending ones are already on their way.

    The attempt of a graded submission stays, with its score, until the worker saves the new
    grade over it (``_regraded``): students and gradebooks never see a grade vanish.
    ``dry_run`` lists what would be sent again and changes nothing."""
    pending = []
    changes: list[ScoreChange] = []
    with transaction.atomic():
        rows = Submission.objects.filter(exercise=exercise).exclude(status=Submission.Status.REJECTED).select_related("attempt")
        for submission in (rows if dry_run else rows.select_for_update(of=("self",))):
            if submission.is_pending:
                continue  # already on its way
            attempt = submission.attempt
            changes.append(ScoreChange(attempt_id=attempt.pk if attempt else None, user_id=submission.user_id,
                                       old=attempt.score if attempt else None, new=None))
            pending.append(submission.pk)
            if dry_run:
                continue
            Submission.objects.filter(pk=submission.pk).update(
                status=Submission.Status.QUEUED, tries=0, claim_token=None, progress=0, enqueued_at=None,
                queued_at=submission.queued_at,
            )
    if not dry_run:
        for pk in pending:
            transaction.on_commit(lambda pk=pk: submission_enqueue(submission_id=pk))
    return RegradeReport(attempts=len(pending), changed=0, requeued=len(pending), changes=tuple(changes), dry_run=dry_run)
