from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from config.i18n import localize


class Exercise(models.Model):
    class LatePolicy(models.TextChoices):
        PENALTY = "penalty", _("accepted with a penalty")
        CLOSED = "closed", _("closed after the due date")

    class FeedbackPolicy(models.TextChoices):
        # While attempts remain, a wrong answer gets a diagnosis without the answer; the worked
        # solution comes after a right answer, the last attempt or the due date.
        AFTER_SOLVED = "after_solved", _("diagnosis first, the solution once solved, out of attempts or past the due date")
        # Practice: the worked solution with every answer.
        AT_ONCE = "at_once", _("the solution at once")

    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE, related_name="exercises")
    slug = models.SlugField(_("slug"), max_length=80)
    type = models.CharField(_("type"), max_length=32)
    position = models.PositiveIntegerField(_("position"), default=0)
    section_i18n = models.JSONField(_("section"), default=dict, blank=True)
    title_i18n = models.JSONField(_("title"))
    statement_i18n = models.JSONField(_("statement"), default=dict, blank=True)
    explanation_i18n = models.JSONField(_("explanation"), default=dict, blank=True)
    params = models.JSONField(_("parameters"), default=dict)
    max_score = models.FloatField(_("maximum score"), default=1.0)
    weight = models.FloatField(_("weight"), default=1.0)
    # Attempt policy, enforced at the time of receipt.
    max_attempts = models.PositiveIntegerField(_("maximum attempts"), null=True, blank=True)
    retry_penalty = models.FloatField(_("penalty per retry"), default=0.0)
    due_at = models.DateTimeField(_("due date"), null=True, blank=True)
    late_policy = models.CharField(_("late policy"), max_length=10, choices=LatePolicy.choices, default=LatePolicy.PENALTY)
    late_penalty = models.FloatField(_("late penalty"), default=0.0)
    feedback_policy = models.CharField(_("feedback policy"), max_length=16, choices=FeedbackPolicy.choices,
                                       default=FeedbackPolicy.AFTER_SOLVED)
    published = models.BooleanField(_("published"), default=True)
    # Where an imported exercise came from (a GIFT question's key): a re-import updates it
    # instead of adding a copy.
    import_key = models.CharField(_("import key"), max_length=120, blank=True, default="", db_index=True)
    # A deleted exercise is hidden everywhere but kept, with its attempts, for the audit.
    deleted_at = models.DateTimeField(_("deleted"), null=True, blank=True)
    # Until then students see that their answer was recorded, not its score or feedback.
    grades_visible_at = models.DateTimeField(_("grades visible from"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["course", "position", "pk"]
        constraints = [models.UniqueConstraint(fields=["course", "slug"], name="exercise_unique_course_slug")]
        permissions = [("regrade_exercise", "Can regrade an exercise")]

    def __str__(self) -> str:
        return f"{self.course.slug}/{self.slug}"

    @property
    def title(self) -> str:
        return localize(self.title_i18n) or self.slug

    @property
    def section(self) -> str:
        return localize(self.section_i18n) or ""

    @property
    def statement(self) -> str:
        return localize(self.statement_i18n) or ""

    @property
    def explanation(self) -> str:
        return localize(self.explanation_i18n) or ""


class Attempt(models.Model):
    """One graded answer to an instant exercise.

    ``number`` counts a student's attempts at an exercise; the unique constraint on it is what
    stops two concurrent submits from spending one allowance twice.
    """

    exercise = models.ForeignKey(Exercise, on_delete=models.CASCADE, related_name="attempts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    variant_no = models.PositiveIntegerField(default=0)
    answer = models.JSONField()
    raw_score = models.FloatField(help_text="The grader's score in [0, 1], before penalties.")
    score = models.FloatField(help_text="The score counted, in [0, 1], after retry and late penalties.")
    correct = models.BooleanField(default=False)
    feedback = models.JSONField(default=dict)
    details = models.JSONField(default=dict, blank=True)
    late = models.BooleanField(default=False)
    # The time of receipt, which the late policy uses (not the time of grading).
    created_at = models.DateTimeField(default=timezone.now)
    # The form's token of one render, or the API's Idempotency-Key: a resent answer (a double
    # click, a retried request) finds its first attempt instead of spending another.
    idempotency_key = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ["exercise", "user", "number"]
        constraints = [
            models.UniqueConstraint(fields=["exercise", "user", "number"], name="attempt_unique_number"),
            models.UniqueConstraint(fields=["exercise", "user", "idempotency_key"], name="attempt_unique_idempotency_key",
                                    condition=~models.Q(idempotency_key="")),
        ]
        indexes = [models.Index(fields=["user", "exercise"])]

    def __str__(self) -> str:
        return f"{self.user} · {self.exercise} #{self.number}"

    @property
    def points(self) -> float:
        return self.score * self.exercise.max_score


def submission_upload_to(instance: Submission, filename: str) -> str:
    # The student's file name is never used on disk: only a random one under their id.
    return f"submissions/{instance.user_id}/{uuid.uuid4().hex}.keras"


class Submission(models.Model):
    """An uploaded model and its grading, moving through queued → running → done | failed.

    ``rejected`` is for files the intake checks refuse before any code could run.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")
        REJECTED = "rejected", _("rejected")

    exercise = models.ForeignKey(Exercise, on_delete=models.CASCADE, related_name="submissions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="submissions")
    file = models.FileField(upload_to=submission_upload_to, max_length=255)
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0)
    tries = models.PositiveSmallIntegerField(default=0)
    # Set when a worker claims the row; only the holder of the current token may save a result.
    claim_token = models.UUIDField(null=True, blank=True)
    late = models.BooleanField(default=False)
    queued_at = models.DateTimeField(default=timezone.now, db_index=True)
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="When the task was last sent to the broker.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    score = models.FloatField(null=True, blank=True, help_text="The grade in [0, 1] from the teacher's thresholds.")
    metrics = models.JSONField(default=dict, blank=True)
    feedback = models.JSONField(default=dict, blank=True)
    report = models.JSONField(default=list, blank=True, help_text="The architecture report, layer by layer.")
    # Where the worker ran it ("cpu", "gpu:0", ...) and for how long it held that device.
    device = models.CharField(max_length=16, blank=True, default="")
    device_seconds = models.FloatField(null=True, blank=True)
    attempt = models.OneToOneField(Attempt, null=True, blank=True, on_delete=models.SET_NULL, related_name="submission")

    class Meta:
        ordering = ["-queued_at"]
        indexes = [models.Index(fields=["exercise", "user", "queued_at"]), models.Index(fields=["status", "queued_at"])]

    def __str__(self) -> str:
        return f"submission {self.pk} of {self.user} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class HiddenTestSet(models.Model):
    """A teacher's own hidden test set for a model exercise (an .npz with x and y)."""

    exercise = models.OneToOneField(Exercise, on_delete=models.CASCADE, related_name="hidden_test_set")
    file = models.FileField(upload_to="testsets/", max_length=255)
    size = models.PositiveIntegerField(help_text="Number of examples.")
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    uploaded_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"hidden test set of {self.exercise} ({self.size} examples)"


class Extension(models.Model):
    """A personal due date for one student (a teacher's extension)."""

    exercise = models.ForeignKey(Exercise, on_delete=models.CASCADE, related_name="extensions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="extensions")
    due_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["exercise", "user"], name="extension_unique_exercise_user")]

    def __str__(self) -> str:
        return f"{self.user} on {self.exercise}: due {self.due_at:%Y-%m-%d %H:%M}"


def generation_upload_to(instance: Generation, filename: str) -> str:
    return f"generations/{instance.user_id}/{filename}"


class Generation(models.Model):
    """One text-to-image diffusion run of a student, moving through queued → running → done | failed.

    ``exercise`` is empty for the course's free lab. The pictures are kept under the student's
    folder and served only through authenticated views.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE, related_name="generations")
    exercise = models.ForeignKey(Exercise, null=True, blank=True, on_delete=models.CASCADE, related_name="generations")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generations")
    prompt = models.CharField(max_length=80)
    steps = models.PositiveSmallIntegerField()
    seed = models.PositiveBigIntegerField()
    guidance = models.FloatField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0)
    tries = models.PositiveSmallIntegerField(default=0)
    claim_token = models.UUIDField(null=True, blank=True, db_index=True)
    late = models.BooleanField(default=False)
    queued_at = models.DateTimeField(default=timezone.now, db_index=True)
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="When the task was last sent to the broker.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    image = models.FileField(upload_to=generation_upload_to, max_length=255, blank=True)
    trajectory = models.FileField(upload_to=generation_upload_to, max_length=255, blank=True)
    predictions = models.FileField(upload_to=generation_upload_to, max_length=255, blank=True,
                                   help_text="The predicted clean image at each shown step.")
    trajectory_steps = models.JSONField(default=list, blank=True)
    recognition = models.JSONField(default=dict, blank=True, help_text="What the judging classifier sees in the image.")
    batch_size = models.PositiveSmallIntegerField(default=0, help_text="How many generations shared its forward passes.")
    seconds = models.FloatField(null=True, blank=True)
    score = models.FloatField(null=True, blank=True)
    feedback = models.JSONField(default=dict, blank=True)
    attempt = models.OneToOneField(Attempt, null=True, blank=True, on_delete=models.SET_NULL, related_name="generation")
    # The device of its batch ("cpu", "gpu:0", ...), and its share of the batch's time on it.
    device = models.CharField(max_length=16, blank=True, default="")
    device_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-queued_at", "-pk"]
        indexes = [models.Index(fields=["course", "user", "queued_at"]), models.Index(fields=["status", "steps", "queued_at"])]

    def __str__(self) -> str:
        return f"generation {self.pk} of {self.user} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class IntegrityFingerprint(models.Model):
    """What the integrity report keeps of a graded model: its answers on the hidden test set
    (class indices, int16) and, once the report's task has read the file, its weights' digest,
    a sketch of its weights and its architecture without names (``grader.integrity``)."""

    submission = models.OneToOneField(Submission, on_delete=models.CASCADE, related_name="fingerprint")
    predictions = models.BinaryField()
    architecture = models.CharField(max_length=64, blank=True)
    weights_digest = models.CharField(max_length=64, blank=True)
    sketch = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"fingerprint of submission {self.submission_id}"


class IntegrityReport(models.Model):
    """The latest integrity report of an exercise: suspicious pairs (flagged first) with their
    figures, computed by a worker task after each grading."""

    exercise = models.OneToOneField(Exercise, on_delete=models.CASCADE, related_name="integrity_report")
    pairs = models.JSONField(default=list, blank=True)
    generations = models.JSONField(default=list, blank=True, help_text="Same prompt, seed and steps by several students.")
    compared = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"integrity report of {self.exercise}"
