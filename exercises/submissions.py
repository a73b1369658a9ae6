"""Services and selectors of model submissions (DESIGN.md, "How data flows").

1. The web side stores the file and a ``queued`` row, and sends the task after commit.
2. A worker claims the row atomically, counts the try, runs the intake checks, the sandbox
   and the scoring, and saves the result only if it still holds the claim.
3. A periodic sweeper re-sends rows stuck in ``queued`` and puts back stale ``running`` rows,
   failing them with a clear message after ``MAX_TRIES``: nothing accepted is ever dropped.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from config.i18n import localize
from grader.result import i18n

from .jobs import send_task, sweep, tries_exhausted
from .models import Exercise, Submission
from .services import AttemptRefused, jsonable, due_at_for, policy_state
from .types.model import model_params

log = logging.getLogger(__name__)
Status = Submission.Status

MAX_TRIES = 3
TASK_NAME = "stride.models.grade_submission"


# --- datasets -------------------------------------------------------------------------------
def _cache_dir(name: str) -> Path:
    folder = Path(settings.VAR_DIR) / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _atomic_npz(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
    os.close(fd)
    np.savez_compressed(tmp, x=x, y=y)
    os.replace(tmp, path)  # readers never see a half-written file
    return path


def training_set_path(*, exercise: Exercise) -> Path:
    """The downloadable training set (.npz with x, y), generated once and cached."""
    from grader.datasets import generate

    p = model_params(exercise.params)
    path = _cache_dir("datasets") / f"{p['dataset']}-train-{p['train_seed']}-{p['train_size']}.npz"
    if not path.exists():
        x, y = generate(p["dataset"], n=p["train_size"], seed=p["train_seed"])
        _atomic_npz(path, x, y)
    return path


def hidden_test_set(*, exercise: Exercise) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hidden test set (x, y) and its public mask. It never leaves the server."""
    from grader.datasets import DATASETS, generate

    p = model_params(exercise.params)
    spec = DATASETS[p["dataset"]]
    uploaded = getattr(exercise, "hidden_test_set", None) if exercise.pk else None
    if uploaded is not None:
        path, split_seed = Path(uploaded.file.path), int(uploaded.sha256[:8], 16)
    else:
        path = _cache_dir("hidden") / f"{p['dataset']}-test-{p['test_seed']}-{p['test_size']}.npz"
        if not path.exists():
            _atomic_npz(path, *generate(p["dataset"], n=p["test_size"], seed=p["test_seed"]))
        split_seed = p["test_seed"]
    x, y = _load_test_set_cached(str(path), path.stat().st_mtime_ns, tuple(spec.input_shape), len(spec.class_names))
    order = np.random.default_rng(split_seed).permutation(len(y))
    public = np.zeros(len(y), dtype=bool)
    public[order[: max(1, round(len(y) * float(p["public_fraction"])))]] = True
    return x, y, public


@functools.lru_cache(maxsize=4)
def _load_test_set_cached(path: str, mtime_ns: int, input_shape: tuple, num_classes: int):
    """A worker grades many submissions against the same set: decompress and validate it once
    per file version (the mtime is part of the key, so a replaced file is read again)."""
    from grader.datasets import load_test_set

    x, y = load_test_set(Path(path), input_shape=input_shape, num_classes=num_classes)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


# --- the web side ---------------------------------------------------------------------------
class SubmissionRefused(AttemptRefused):
    pass


def submission_create(*, exercise: Exercise, user, upload: UploadedFile, now: datetime | None = None) -> Submission:
    """Store an uploaded model and queue it. Intake checks run at once, so a hostile or broken
    file is ``rejected`` with its reason before any worker sees it."""
    from grader.intake import IntakeError, check_model_file

    now = now or timezone.now()
    if exercise.type != "model":
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
    return send_task(TASK_NAME, submission_id, Submission)


# --- the worker side ------------------------------------------------------------------------
@dataclass(frozen=True)
class GradeOutcome:
    status: str
    reason: str = ""


def _finish(submission: Submission, token: uuid.UUID, **fields) -> bool:
    """Save a result only if this worker still holds the claim (never grade twice)."""
    fields.setdefault("finished_at", timezone.now())
    fields.setdefault("progress", 100)
    with transaction.atomic():
        saved = Submission.objects.filter(pk=submission.pk, claim_token=token).update(**fields)
        if saved and fields.get("status") == Status.DONE:
            _record_attempt(submission=submission, score=fields["score"], feedback=fields.get("feedback") or {})
    return bool(saved)


def _record_attempt(*, submission: Submission, score: float, feedback: dict) -> None:
    from .services import attempt_record_graded

    attempt = attempt_record_graded(
        exercise=submission.exercise, user=submission.user, answer={"submission_id": submission.pk}, raw_score=score,
        feedback=feedback, late=submission.late, received_at=submission.queued_at,
    )
    Submission.objects.filter(pk=submission.pk).update(attempt=attempt)


def _fail(submission, token, status, message: dict) -> GradeOutcome:
    _finish(submission, token, status=status, feedback=message)
    return GradeOutcome(status=status, reason=message.get("en", ""))


def submission_grade(*, submission_id: int) -> GradeOutcome:
    """Claim, check, run in the sandbox, score and save one submission."""
    from grader.evaluation import architecture_report, confusion_matrix_png, grade_from_accuracy, score_predictions
    from grader.intake import IntakeError, check_model_file
    from workers.sandbox import run_model_in_sandbox

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
    from grader.datasets import DATASETS

    spec = DATASETS[p["dataset"]]
    result = run_model_in_sandbox(
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
    png_path = path.with_name(path.stem + "-confusion.png")
    png_path.write_bytes(png)
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
    return GradeOutcome(status=Status.DONE if saved else "superseded")


def submission_fail_after_time_limit(*, submission_id: int) -> None:
    Submission.objects.filter(pk=submission_id, status=Status.RUNNING).update(
        status=Status.FAILED, finished_at=timezone.now(), progress=100,
        feedback=i18n("La correction a dépassé le temps permis : votre modèle est-il très lent ?",
                      "Grading took longer than allowed: is your model very slow?"),
    )


def _tries_exhausted() -> dict:
    return tries_exhausted(MAX_TRIES, "la soumission", "the submission")


def submissions_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Put stuck submissions back in the queue; fail those out of tries. Run by Celery beat."""
    return sweep(model=Submission, enqueue=lambda pk: submission_enqueue(submission_id=pk), max_tries=MAX_TRIES,
                 exhausted=_tries_exhausted(), now=now)


# --- selectors ------------------------------------------------------------------------------
def submission_position(*, submission: Submission) -> int | None:
    """1 for the next one to be graded; None once it has left the queue."""
    if submission.status != Status.QUEUED:
        return None
    ahead = Submission.objects.filter(status=Status.QUEUED).filter(
        Q(queued_at__lt=submission.queued_at) | Q(queued_at=submission.queued_at, pk__lt=submission.pk)
    ).count()
    return ahead + 1


def submission_get_for_user(*, user, submission_id: int) -> Submission:
    """The user's own submission, or any submission of a course they teach; else 404."""
    from .selectors import owned_or_taught

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



def private_split_visible(*, exercise: Exercise, viewer) -> bool:
    """Teachers always; students once the due date has passed (or when there is none)."""
    from accounts.roles import Role, user_role

    if user_role(viewer) in (Role.TEACHER, Role.ADMIN):
        return True
    return exercise.due_at is None or timezone.now() > exercise.due_at


def hidden_test_set_upload(*, exercise: Exercise, upload: UploadedFile, user) -> "HiddenTestSet":
    """Validate a teacher's .npz (x, y) against the exercise and make it the hidden test set.

    It is validated with ``allow_pickle=False`` before it replaces anything: a bad file changes
    nothing. Students' past submissions keep the grades they had; regrade to apply it to them.
    """
    from grader.datasets import DATASETS, TestSetError, load_test_set

    from .models import HiddenTestSet

    p = model_params(exercise.params)
    spec = DATASETS[p["dataset"]]
    folder = Path(settings.MEDIA_ROOT) / "testsets"
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npz")
    digest = hashlib.sha256()
    with os.fdopen(fd, "wb") as out:
        for chunk in upload.chunks():
            digest.update(chunk)
            out.write(chunk)
    try:
        _x, y = load_test_set(Path(tmp), input_shape=tuple(spec.input_shape), num_classes=len(spec.class_names))
    except TestSetError:
        os.unlink(tmp)
        raise
    final = folder / f"exercise-{exercise.pk}-{digest.hexdigest()[:16]}.npz"
    os.replace(tmp, final)
    test_set, _ = HiddenTestSet.objects.update_or_create(
        exercise=exercise,
        defaults={"file": str(final.relative_to(settings.MEDIA_ROOT)), "size": int(len(y)),
                  "sha256": digest.hexdigest(), "uploaded_by": user},
    )
    return test_set
