"""What Stride keeps of the LMSs it is plugged into, beside django-lti's own models
(``lti_tool``: registrations, deployments, keys, users, contexts, memberships, line items).

django-lti matches a launch's user by (registration, ``sub``) in ``LtiUser``, whose
``auth_user`` is the Stride account: never by e-mail. Stride adds which course an LMS context
is, and, per student and line item, whether the LMS has the latest score.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class PlatformCourse(models.Model):
    """The Stride course that a registered LMS's contexts land in unless one is linked already."""

    registration = models.OneToOneField("lti_tool.LtiRegistration", on_delete=models.CASCADE, related_name="stride")
    course = models.ForeignKey("courses.Course", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                               verbose_name=_("default course"))

    class Meta:
        verbose_name = _("LMS default course")

    def __str__(self) -> str:
        return f"{self.registration} → {self.course or '—'}"


class CourseContext(models.Model):
    """An LMS course (an LTI context) and the Stride course it is."""

    class Grain(models.TextChoices):
        EXERCISE = "exercise", _("one line item per exercise")
        SECTION = "section", _("one line item per section")

    context = models.OneToOneField("lti_tool.LtiContext", on_delete=models.CASCADE, related_name="stride")
    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE, related_name="lti_contexts")
    grain = models.CharField(_("grades sent"), max_length=10, choices=Grain.choices, default=Grain.EXERCISE)
    roster_synced_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.context} → {self.course.slug}"


class ScoreSync(models.Model):
    """One student's score on one line item of one LMS context: what Stride last sent, and
    whether the LMS has the gradebook's latest figure."""

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting to be sent")
        HELD = "held", _("held until the release date")
        SENT = "sent", _("the LMS has the latest score")
        FAILED = "failed", _("sending failed")

    link = models.ForeignKey(CourseContext, on_delete=models.CASCADE, related_name="scores")
    lti_user = models.ForeignKey("lti_tool.LtiUser", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # What the line item stands for: "exercise:<id>" or "section:<title>".
    target = models.CharField(max_length=255)
    exercise = models.ForeignKey("exercises.Exercise", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    line_item = models.ForeignKey("lti_tool.LtiLineItem", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    sent_score = models.FloatField(null=True, blank=True, help_text="scoreGiven last accepted by the LMS.")
    sent_maximum = models.FloatField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    tries = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["link", "lti_user", "target"], name="lti_score_unique")]

    def __str__(self) -> str:
        return f"{self.user} {self.target}: {self.status}"


class LaunchValue(models.Model):
    """pylti1p3's launch data store (state, nonces, validated launches) in the database, so that
    every web process sees it, with an expiry. A nonce is deleted as it is checked: used once."""

    key = models.CharField(max_length=255, unique=True)
    value = models.JSONField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.key
