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
