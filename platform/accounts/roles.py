"""The three roles, as Django groups with permissions.

A student has no model permission at all: what a student sees is decided by enrolment.
A teacher may read gradebooks and regrade, but only in the courses they teach (enforced by
selectors). An admin authors exercises and courses everywhere.
"""
from __future__ import annotations

from enum import StrEnum

from django.contrib.auth.models import Group, Permission


class Role(StrEnum):
    STUDENT = "student"
    TEACHER = "teacher"
    ADMIN = "admin"


ROLE_PERMISSIONS: dict[Role, list[str]] = {
    Role.STUDENT: [],
    Role.TEACHER: [
        "courses.view_course",
        "courses.view_gradebook",
        "exercises.view_exercise",
        "exercises.view_attempt",
        "exercises.regrade_exercise",
    ],
    Role.ADMIN: [
        "courses.add_course",
        "courses.change_course",
        "courses.delete_course",
        "courses.view_course",
        "courses.view_gradebook",
        "courses.add_enrollment",
        "courses.change_enrollment",
        "courses.delete_enrollment",
        "courses.view_enrollment",
        "exercises.add_exercise",
        "exercises.change_exercise",
        "exercises.delete_exercise",
        "exercises.view_exercise",
        "exercises.view_attempt",
        "exercises.regrade_exercise",
    ],
}


def roles_ensure_groups() -> None:
    """Create the role groups and give them their permissions (idempotent)."""
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role.value)
        perms = []
        for dotted in codenames:
            app_label, codename = dotted.split(".")
            perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if perm is not None:  # an app not migrated yet: the next post_migrate completes it
                perms.append(perm)
        group.permissions.set(perms)


def user_role(user) -> Role | None:
    """The highest role of a user; None for anonymous users."""
    if not getattr(user, "is_authenticated", False):
        return None
    if user.is_superuser:
        return Role.ADMIN
    # Asked several times per request (the API's checks, the page's menu): one query per
    # user object, which lives for one request. Roles are set when an account is created.
    cached = getattr(user, "_stride_role", None)
    if cached is not None:
        return cached
    names = {g.name for g in user.groups.all()}
    role = next((role for role in (Role.ADMIN, Role.TEACHER, Role.STUDENT) if role.value in names), Role.STUDENT)
    user._stride_role = role
    return role
