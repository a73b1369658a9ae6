from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditLog(models.Model):
    """Who changed a grade or a rule, when, and from what to what. Never edited, never deleted."""

    class Action(models.TextChoices):
        REGRADE = "regrade", _("regrade")
        OVERRIDE = "override", _("grade override")
        EXTENSION = "extension", _("due-date extension")
        WEIGHTS = "weights", _("section weights")
        LTI_REFUSED = "lti_refused", _("LTI message refused")
        LTI_ROSTER = "lti_roster", _("LMS roster synchronised")
        LTI_RESEND = "lti_resend", _("score sent to the LMS again")

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=20, choices=Action.choices)
    # Empty only for an LTI message refused before any course was known (``lti``).
    course = models.ForeignKey("courses.Course", null=True, blank=True, on_delete=models.CASCADE, related_name="audit_log")
    exercise = models.ForeignKey("exercises.Exercise", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    old = models.JSONField(default=dict, blank=True)
    new = models.JSONField(default=dict, blank=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor} {self.action}"


class GradeOverride(models.Model):
    """A teacher's grade for one student and exercise, replacing the best attempt's score."""

    exercise = models.ForeignKey("exercises.Exercise", on_delete=models.CASCADE, related_name="overrides")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="grade_overrides")
    score = models.FloatField(help_text="In [0, 1].")
    comment = models.TextField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["exercise", "student"], name="override_unique_exercise_student"),
            models.CheckConstraint(condition=models.Q(score__gte=0) & models.Q(score__lte=1), name="override_score_range"),
        ]

    def __str__(self) -> str:
        return f"{self.student} on {self.exercise}: {self.score:.0%}"


class SectionWeight(models.Model):
    """A teacher's weight for one section of a course in the grade. Sections without one weigh
    the sum of their exercises' weights, so a course without any is graded as before."""

    course = models.ForeignKey("courses.Course", on_delete=models.CASCADE, related_name="section_weights")
    section = models.CharField(max_length=200, help_text="The section's title in the course's first language.")
    weight = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["course", "section"], name="section_weight_unique"),
            models.CheckConstraint(condition=models.Q(weight__gte=0), name="section_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.course} · {self.section}: {self.weight}"
