"""The three demo accounts of a first run (known passwords): create them, list them, remove them.

They exist so that a teacher trying Stride can log in at once. They are never created under
the production settings of a real deployment (``STRIDE_DEMO_ACCOUNTS`` is off there), and once
removed (``seed_demo --remove``) ``make run`` does not bring them back.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from accounts.roles import Role
from accounts.services import user_create
from courses.models import Course
from courses.services import enrollment_add

DEMO_ACCOUNTS: list[tuple[str, Role, str]] = [
    ("student", Role.STUDENT, "stride-student"),
    ("teacher", Role.TEACHER, "stride-teacher"),
    ("admin", Role.ADMIN, "stride-admin"),
]


class DemoAccountsRefused(RuntimeError):
    pass


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: Role
    password: str
    created: bool


def demo_removed_marker() -> Path:
    """Written by ``demo_accounts_remove``, so that ``make run`` does not create them again."""
    return Path(settings.VAR_DIR) / "demo-accounts-removed"


def demo_accounts_seed(*, keep_existing: bool) -> list[DemoAccount]:
    """Create the demo accounts, enrolled in every course; the accounts whose password is still
    the demo one. ``keep_existing``: an account that exists keeps its password and role (what
    ``make run`` does, so a password a teacher changed is never reset); otherwise they are reset.
    """
    if not settings.STRIDE_DEMO_ACCOUNTS:
        raise DemoAccountsRefused(
            "The demo accounts have known passwords: they are never created under the production "
            "settings of a real deployment (STRIDE_DEMO_ACCOUNTS is off). Create real accounts with "
            "`manage.py create_user USERNAME --role ...`."
        )
    users = get_user_model().objects
    courses = list(Course.objects.all())
    out = []
    with transaction.atomic():
        for username, role, password in DEMO_ACCOUNTS:
            user = users.filter(username=username).first()
            created = user is None
            if created or not keep_existing:
                user, _ = user_create(username=username, role=role, password=password)
                for course in courses:
                    enrollment_add(course=course, user=user, role=role)
            if user.check_password(password):
                out.append(DemoAccount(username=username, role=role, password=password, created=created))
    demo_removed_marker().unlink(missing_ok=True)
    return out


def demo_accounts_remove() -> list[str]:
    """Delete the demo accounts (with their attempts); ``make run`` will not create them again."""
    usernames = [username for username, _role, _password in DEMO_ACCOUNTS]
    users = get_user_model().objects.filter(username__in=usernames)
    removed = sorted(users.values_list("username", flat=True))
    users.delete()
    marker = demo_removed_marker()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("The demo accounts were removed (manage.py seed_demo --remove).\n")
    return removed
