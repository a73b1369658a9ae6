"""Every change of a grade asks for a passback to the LMSs that link the course: a new attempt
(instant answers, a graded model, a judged generation) and every audited change (a teacher's
override, a regrade, a model graded again by a worker). The request only records it; the task
sends it after the commit (``services.scores_request``)."""
from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from exercises.models import Attempt
from gradebook.models import AuditLog

from .services import scores_request_on_commit

GRADE_ACTIONS = {AuditLog.Action.OVERRIDE, AuditLog.Action.REGRADE}


@receiver(post_save, sender=Attempt, dispatch_uid="lti.attempt_saved")
def attempt_saved(sender, instance: Attempt, created: bool, **kwargs) -> None:
    if created:
        scores_request_on_commit(exercise_id=instance.exercise_id, user_ids=[instance.user_id])


@receiver(post_save, sender=AuditLog, dispatch_uid="lti.grade_changed")
def grade_changed(sender, instance: AuditLog, created: bool, **kwargs) -> None:
    if created and instance.action in GRADE_ACTIONS and instance.exercise_id:
        users = [instance.student_id] if instance.student_id else None
        scores_request_on_commit(exercise_id=instance.exercise_id, user_ids=users)
