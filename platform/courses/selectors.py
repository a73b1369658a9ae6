from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from accounts.roles import Role, user_role

from .models import Course, Enrollment


def course_list_for_user(*, user) -> QuerySet[Course]:
    """The courses a user studies in or teaches. Admins see every course."""
    if user_role(user) == Role.ADMIN:
        return Course.objects.all()
    return Course.objects.filter(enrollments__user=user, enrollments__is_active=True).distinct()


def course_get_for_user(*, user, slug: str) -> tuple[Course, str]:
    """A course the user may see, and their role in it ("student" or "teacher"); else 404."""
    # The API takes any text as a slug; PostgreSQL refuses NUL characters in a query (a 500).
    course = Course.objects.filter(slug=slug).first() if "\x00" not in slug else None
    if course is None:
        raise Http404
    return course, course_role(user=user, course=course)


def course_role(*, user, course: Course) -> str:
    """The user's role in a course they may see ("student" or "teacher"); else 404."""
    if user_role(user) == Role.ADMIN:
        return Enrollment.Role.TEACHER
    role = Enrollment.objects.filter(course=course, user=user, is_active=True).values_list("role", flat=True).first()
    if role is None:
        raise Http404
    return role


def course_get_taught(*, user, slug: str) -> Course:
    """A course the user teaches (or any, for admins). Otherwise 404: nothing leaks."""
    course, role = course_get_for_user(user=user, slug=slug)
    if role != Enrollment.Role.TEACHER:
        raise Http404
    return course


def course_students(*, course: Course, include_inactive: bool = False) -> QuerySet:
    """The course's students. Those whose enrolment is inactive (the LMS's roster no longer
    lists them) leave the gradebook, its statistics and exports; a teacher can still open one of
    them by name (``include_inactive``), their work is kept."""
    from django.contrib.auth import get_user_model

    enrolled = {"enrollments__course": course, "enrollments__role": Enrollment.Role.STUDENT}
    if not include_inactive:
        enrolled["enrollments__is_active"] = True
    return get_user_model().objects.filter(**enrolled).order_by("last_name", "username")
