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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.apps import apps
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from config.i18n import localize
from exercises.engine.files import STORAGE_ERRORS, storage_local_copy, upload_local_path
from exercises.engine.policy import AttemptRefused, due_at_for, policy_state, score_after_penalties
from exercises.engine.services import RegradeReport, ScoreChange, attempt_record_graded, jsonable
from exercises.jobs import (
    GRADE_SUBMISSION_TASK,
    INTEGRITY_TASK,
    MAX_TRIES,
    QuotaBusy,
    device_budget_for,
    device_budget_refusal,
    finish,
    quota_lock,
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
    # A first look without the lock: a student over the limit is told at once, before any upload
    # is stored or checked. The count that decides is taken again under the lock below.
    _refuse_over_quota(exercise=exercise, user=user, now=now, per_day=p["submissions_per_day"])
    budget = device_budget_for(user=user, course=exercise.course, now=now)
    if budget.exhausted:
        raise SubmissionRefused(device_budget_refusal(budget), 429)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    submission = Submission(
        exercise=exercise, user=user, original_name=(upload.name or "model.keras")[:255], size=upload.size or 0,
        sha256=digest.hexdigest(), late=state.late, queued_at=now,
    )
    # The intake checks read the upload where it lies on this host, before it goes to the store.
    with upload_local_path(upload) as local:
        try:
            intake = check_model_file(local, filename=submission.original_name, max_bytes=max_bytes)
            # The trusted side checks the parameter budget itself, from the config.
            _refuse_over_budget(estimated=intake.estimated_params, budget=int(p["max_params"]))
            refused = None
        except IntakeError as exc:
            refused = exc.message
    if refused is not None:
        # A refused file is never stored (nothing will ever run it); the row keeps its name, size,
        # digest and the reason, for the student and the teacher.
        submission.status = Status.REJECTED
        submission.feedback = refused
        submission.finished_at = now
        with _quota(submission):
            submission.save()
        return submission
    _store_upload(submission, upload)
    try:
        with _quota(submission):
            # The slow part (storing, hashing, the intake) ran outside the lock; the count that
            # admits the row and the row itself are one serialised step, so N parallel uploads
            # against a limit of L accept exactly L.
            _refuse_over_quota(exercise=exercise, user=user, now=now, per_day=p["submissions_per_day"])
            submission.save()
            transaction.on_commit(lambda: submission_enqueue(submission_id=submission.pk))
    except SubmissionRefused:
        _delete_upload(submission)
        raise
    return submission


def _refuse_over_budget(*, estimated: int, budget: int) -> None:
    """The exercise's parameter budget, from a count the trusted side computed (``IntakeError``)."""
    from grader.intake import IntakeError
    from grader.text import format_int

    if estimated > budget:
        raise IntakeError(code="over_budget", message=i18n(
            f"Le modèle a {format_int(estimated, 'fr')} paramètres, plus que la limite de {format_int(budget, 'fr')} "
            "fixée par l'exercice. Réduisez le nombre de filtres ou de neurones, ou ajoutez du pooling avant les "
            "couches denses.",
            f"The model has {format_int(estimated, 'en')} parameters, more than the exercise's limit of "
            f"{format_int(budget, 'en')}. Use fewer filters or units, or pool before the dense layers."))


def _refuse_over_quota(*, exercise: Exercise, user, now: datetime, per_day: int) -> None:
    """Refuse (429) a student who has used the day's submissions of this exercise, or sent too many
    refused files (they are deleted, and rate-limited by ``STRIDE_REJECTED_UPLOADS_PER_DAY``)."""
    today = Submission.objects.filter(exercise=exercise, user=user, queued_at__gte=now - timedelta(days=1))
    if today.exclude(status=Status.REJECTED).count() >= per_day:
        raise SubmissionRefused(
            _("You have used your %(n)s submissions of the last 24 hours. Try again later.") % {"n": per_day}, 429)
    refused_cap = settings.STRIDE_REJECTED_UPLOADS_PER_DAY
    if today.filter(status=Status.REJECTED).count() >= refused_cap:
        raise SubmissionRefused(
            _("%(n)s of your files were refused in the last 24 hours; read the reasons, fix the model, and try again "
              "later.") % {"n": refused_cap}, 429)


@contextmanager
def _quota(submission: Submission) -> Iterator[None]:
    try:
        with quota_lock(user_id=submission.user_id):
            yield
    except QuotaBusy as exc:
        _delete_upload(submission)
        raise SubmissionRefused(exc.message, exc.status) from exc


def _delete_upload(submission: Submission) -> None:
    if not submission.file:
        return
    try:
        submission.file.storage.delete(submission.file.name)
    except OSError:
        log.exception("could not remove the upload %s", submission.file.name)
    submission.file = ""


def _store_upload(submission: Submission, upload: UploadedFile) -> None:
    """Write the file under its final name. A disk that is full (or failing) is a clear 507 for
    the student, a store that cannot be reached or refuses the write (S3) a clear 503, and
    whatever part of the file was written is removed: no row, no stray file."""
    field = Submission._meta.get_field("file")
    storage = field.storage
    name = field.generate_filename(submission, "model.keras")
    try:
        submission.file = storage.save(name, upload, max_length=field.max_length)
    except STORAGE_ERRORS as exc:
        log.error("could not store an uploaded model (%s): %s", name, exc)
        try:
            storage.delete(name)
        except STORAGE_ERRORS:
            log.exception("could not remove the partial upload %s", name)
        if isinstance(exc, OSError):
            raise SubmissionRefused(localize(i18n(
                "Le serveur n'a plus de place pour enregistrer votre fichier. Réessayez plus tard, et prévenez votre "
                "enseignant si cela dure.",
                "The server has no room to store your file right now. Try again later, and tell your teacher if it "
                "persists.",
            )), 507) from exc
        raise SubmissionRefused(localize(i18n(
            "Le stockage des fichiers ne répond pas pour le moment : votre fichier n'a pas été enregistré. Réessayez "
            "dans un instant, et prévenez votre enseignant si cela dure.",
            "The file store is not answering right now: your file was not saved. Try again in a moment, and tell "
            "your teacher if it persists.",
        )), 503) from exc


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


def submission_grade(*, submission_id: int, run_model: Callable, device: str = "cpu") -> GradeOutcome:
    """Claim, check, run in the sandbox, score and save one submission.

    ``run_model`` is the sandbox runner (``workers.sandbox.run_model_in_sandbox``), passed in
    by the task: it loads the model in a jail and returns its predictions. ``device`` is where
    that jail is planned to compute (``cpu``, ``gpu:0``); the device the jail reports having used
    (``result.device``, e.g. ``cpu`` after a GPU that did not start) is what is recorded, with
    the sandbox's seconds."""
    from grader.datasets import DATASETS
    from grader.evaluation import (
        architecture_report,
        confusion_matrix_png,
        grade_from_accuracy,
        input_scale_diagnosis,
        score_predictions,
    )
    from grader.intake import IntakeError, check_model_file
    from grader.text import format_int, format_percent, join_lines

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
    spec = DATASETS[p["dataset"]]
    # The worker may run on another host: it fetches the model from the store into a folder of
    # its own, checks it again there (the store is not trusted more than the upload) and hands
    # that path to the sandbox, which copies it into the jail's scratch folder.
    with storage_local_copy(storage=submission.file.storage, name=submission.file.name, filename="model.keras") as path:
        try:
            intake = check_model_file(path, filename=submission.original_name,
                                      max_bytes=int(float(p["max_file_mb"]) * 2**20))
            # The trusted parent checks the budget itself, from the config: the jail's own count
            # (below) is a second opinion from untrusted code, never the only one.
            _refuse_over_budget(estimated=intake.estimated_params, budget=int(p["max_params"]))
        except IntakeError as exc:
            return _fail(submission, token, Status.REJECTED, exc.message)
        x, y, public = hidden_test_set(exercise=exercise)
        Submission.objects.filter(pk=submission.pk, claim_token=token).update(progress=20)
        result = run_model(
            model_path=path, inputs=x, expected_input_shape=tuple(spec.input_shape),
            num_classes=len(spec.class_names), max_params=int(p["max_params"]),
        )
    Submission.objects.filter(pk=submission.pk, claim_token=token).update(progress=85)
    if not result.ok:
        return _fail(submission, token, Status.FAILED, result.error or i18n("Le modèle a échoué.", "The model failed."))
    try:
        _refuse_over_budget(estimated=result.param_count, budget=int(p["max_params"]))
    except IntakeError as exc:
        return _fail(submission, token, Status.FAILED, exc.message)
    metrics = score_predictions(probabilities=result.predictions, labels=y, public_mask=public)
    score = float(grade_from_accuracy(metrics.accuracy, p["thresholds"]))
    # The public split's own confusion matrix: all a student may see before the due date (the
    # whole set's would give the private accuracy away: engine.visibility.PRIVATE_METRICS).
    public_confusion = score_predictions(probabilities=result.predictions[public], labels=y[public],
                                         public_mask=np.ones(int(public.sum()), dtype=bool)).confusion
    names = [n.get("fr") if isinstance(n, dict) else str(n) for n in spec.class_names]
    storage = submission.file.storage
    for split, confusion in (("all", metrics.confusion), ("public", public_confusion)):
        png_name = confusion_png_name(submission.file.name, split=split)
        storage.delete(png_name)  # a regrade writes it again under the same name
        storage.save(png_name, ContentFile(confusion_matrix_png(np.asarray(confusion), names)))
    report = architecture_report(
        input_shape=tuple(spec.input_shape), layers_from_sandbox=result.layers,
        layer_configs={layer.name: layer.config for layer in intake.layers},
    )
    public_fr, public_en = (format_percent(metrics.public_accuracy, lang) for lang in ("fr", "en"))
    feedback = i18n(
        f"Précision sur la partie publique du jeu de test caché : {public_fr}. "
        f"{format_int(result.param_count, 'fr')} paramètres (budget : {format_int(int(p['max_params']), 'fr')}).",
        f"Accuracy on the public part of the hidden test set: {public_en}. "
        f"{format_int(result.param_count, 'en')} parameters (budget: {format_int(int(p['max_params']), 'en')}).",
    )
    predicted = np.asarray(metrics.confusion).sum(axis=0)
    diagnosis = input_scale_diagnosis(
        accuracy=metrics.public_accuracy, thresholds=p["thresholds"],
        layer_classes=[layer.class_name for layer in intake.layers],
        predicted_share=float(predicted.max() / max(predicted.sum(), 1)))
    if diagnosis is not None:
        feedback = join_lines([feedback, diagnosis])
    saved = _finish(
        submission, token, status=Status.DONE, score=score, feedback=feedback, report=jsonable(report),
        device=getattr(result, "device", None) or device, device_seconds=round(result.seconds, 3),
        metrics={
            "accuracy": metrics.accuracy, "public_accuracy": metrics.public_accuracy,
            "private_accuracy": metrics.private_accuracy, "confusion": jsonable(metrics.confusion),
            "public_confusion": jsonable(public_confusion), "n_public": metrics.public_count,
            "public_grade": float(grade_from_accuracy(metrics.public_accuracy, p["thresholds"])),
            "param_count": result.param_count, "sandbox_seconds": round(result.seconds, 3), "n_test": int(len(y)),
        },
    )
    if saved:
        # The integrity report compares every student's answers on the hidden set and their
        # weights' fingerprints (read in the jail): keep them, and let a default-queue task redo it.
        from .integrity import fingerprint_store_predictions

        fingerprint_store_predictions(submission_id=submission.pk, probabilities=result.predictions,
                                      weights=getattr(result, "fingerprint", None))
        transaction.on_commit(lambda: send_light_task(INTEGRITY_TASK, exercise.pk))
    return GradeOutcome(status=Status.DONE if saved else "superseded")


def submission_fail_after_time_limit(*, submission_id: int) -> None:
    Submission.objects.filter(pk=submission_id, status=Status.RUNNING).update(
        status=Status.FAILED, finished_at=timezone.now(), progress=100,
        feedback=i18n("La correction a dépassé le temps permis : votre modèle est-il très lent ?",
                      "Grading took longer than allowed: is your model very slow?"),
    )


def submission_fail_grader_unavailable(*, submission_id: int, reason: str) -> None:
    """The worker cannot build its jail (bubblewrap missing, a uid refused): a server fault, never
    the model's. The student reads it clearly instead of three silent retries; the log says why."""
    log.error("model sandbox unavailable, submission %s failed: %s", submission_id, reason)
    Submission.objects.filter(pk=submission_id, status=Status.RUNNING).update(
        status=Status.FAILED, finished_at=timezone.now(), progress=100, claim_token=None,
        feedback=i18n("Le serveur de correction n'est pas prêt (son bac à sable ne peut pas démarrer) : ce n'est pas "
                      "votre modèle. Prévenez votre enseignant, puis déposez-le à nouveau.",
                      "The grading server is not ready (its sandbox cannot start): this is not your model's fault. "
                      "Tell your teacher, then upload it again."),
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
