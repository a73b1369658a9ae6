import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from accounts.roles import Role, user_role
from courses.models import Enrollment
from tests.factories import CourseFactory

pytestmark = pytest.mark.django_db


def _logs_in(username: str, password: str) -> bool:
    response = Client().post(reverse("accounts:login"), {"username": username, "password": password})
    return response.status_code == 302


def test_create_user_with_role_course_and_password(capsys):
    CourseFactory(slug="cnn")
    call_command("create_user", "alice", "--role", "teacher", "--course", "cnn", "--password", "s3cret-pass")
    out = capsys.readouterr().out
    assert "alice" in out and "teacher" in out
    from django.contrib.auth import get_user_model

    alice = get_user_model().objects.get(username="alice")
    assert user_role(alice) == Role.TEACHER
    assert Enrollment.objects.get(user=alice).role == "teacher"
    assert _logs_in("alice", "s3cret-pass")


def test_create_user_prints_a_generated_password(capsys):
    call_command("create_user", "bob", "--role", "student")
    out = capsys.readouterr().out
    password = out.strip().rsplit(" ", 1)[-1]
    assert len(password) >= 12
    assert _logs_in("bob", password)


def test_create_user_with_an_unknown_course_fails_clearly():
    with pytest.raises(CommandError, match="No course"):
        call_command("create_user", "carol", "--role", "student", "--course", "nope")


def test_admin_role_is_staff_and_superuser():
    call_command("create_user", "root2", "--role", "admin", "--password", "x-long-password")
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="root2")
    assert user.is_staff and user.is_superuser and user_role(user) == Role.ADMIN
