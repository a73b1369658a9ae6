from __future__ import annotations

from django.db import transaction

from accounts.roles import Role

from .models import Course, Enrollment


def enrollment_add(*, course: Course, user, role: Role | str) -> Enrollment:
    """Enrol a user; teachers and admins teach, everyone else studies. Idempotent."""
    kind = Enrollment.Role.TEACHER if Role(role) in (Role.TEACHER, Role.ADMIN) else Enrollment.Role.STUDENT
    enrollment, _ = Enrollment.objects.update_or_create(course=course, user=user, defaults={"role": kind})
    return enrollment


class JoinCodeError(ValueError):
    pass


@transaction.atomic
def course_join(*, user, code: str) -> Course:
    code = (code or "").strip().upper()
    course = Course.objects.filter(join_code=code).first() if code else None
    if course is None:
        raise JoinCodeError(code)
    Enrollment.objects.get_or_create(course=course, user=user, defaults={"role": Enrollment.Role.STUDENT})
    return course


class PseudonymError(ValueError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


PSEUDONYM_MAX = 40


def enrollment_set_pseudonym(*, course: Course, user, pseudonym: str) -> Enrollment:
    """The name a student shows on the course's leaderboards; empty to go back to "#rank".
    Unique in the course (whatever the case), never another member's username."""
    from django.utils.translation import gettext as _

    name = " ".join((pseudonym or "").split())
    if len(name) > PSEUDONYM_MAX or any(not char.isprintable() for char in name):
        raise PseudonymError(_("A pseudonym is at most %(n)d printable characters.") % {"n": PSEUDONYM_MAX})
    enrollment = Enrollment.objects.filter(course=course, user=user).first()
    if enrollment is None:
        raise PseudonymError(_("You are not enrolled in this course."))
    if name:
        members = Enrollment.objects.filter(course=course).exclude(user=user)
        if members.filter(pseudonym__iexact=name).exists() or members.filter(user__username__iexact=name).exists():
            raise PseudonymError(_("This pseudonym is already taken in this course."))
    enrollment.pseudonym = name
    enrollment.save(update_fields=["pseudonym"])
    return enrollment
