from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from config.i18n import localize


def join_code_new() -> str:
    return secrets.token_hex(4).upper()


class Course(models.Model):
    slug = models.SlugField(_("slug"), unique=True)
    title_i18n = models.JSONField(_("title"), help_text='{"fr": "...", "en": "..."}')
    description_i18n = models.JSONField(_("description"), default=dict, blank=True)
    language = models.CharField(_("language"), max_length=5, choices=settings.LANGUAGES, default="fr")
    join_code = models.CharField(_("join code"), max_length=32, unique=True, default=join_code_new)
    device_seconds_per_day = models.PositiveIntegerField(
        _("device-seconds per student per day"), null=True, blank=True,
        help_text=_("Worker time (GPU or CPU) each student may use in 24 hours for model gradings and generations, "
                    "on top of the exercises' own counts. Empty: the site's default (STRIDE_DEVICE_SECONDS_PER_DAY); "
                    "0: no limit."))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]
        permissions = [("view_gradebook", "Can view gradebooks and statistics")]

    def __str__(self) -> str:
        return self.title

    @property
    def title(self) -> str:
        return localize(self.title_i18n) or self.slug

    @property
    def description(self) -> str:
        return localize(self.description_i18n) or ""


class Enrollment(models.Model):
    class Role(models.TextChoices):
        STUDENT = "student", _("student")
        TEACHER = "teacher", _("teacher")

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="enrollments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrollments")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.STUDENT)
    # The name a student chooses for the course's leaderboards (classmates never see the
    # username; teachers do). Empty: "Student #<rank>".
    pseudonym = models.CharField(_("leaderboard pseudonym"), max_length=40, blank=True, default="")
    # A student the LMS's roster no longer lists (lti): their work stays, the course is closed to them.
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["course", "user"], name="enrollment_unique_course_user")]
        indexes = [models.Index(fields=["course", "role"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.course.slug} ({self.role})"
