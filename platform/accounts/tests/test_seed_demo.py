import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from accounts.demo import demo_removed_marker
from courses.models import Enrollment
from tests.factories import CourseFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[3]
User = get_user_model()


def _logs_in(username: str, password: str) -> bool:
    return Client().post("/accounts/login/", {"username": username, "password": password}).status_code == 302


@pytest.fixture(autouse=True)
def _no_marker():
    demo_removed_marker().unlink(missing_ok=True)
    yield
    demo_removed_marker().unlink(missing_ok=True)


def test_seed_demo_creates_the_three_accounts_enrolled_and_prints_them(capsys):
    course = CourseFactory()
    call_command("seed_demo")
    out = capsys.readouterr().out
    for username in ("student", "teacher", "admin"):
        assert f"login: {username}" in out
        assert Enrollment.objects.filter(course=course, user__username=username).exists()
    assert _logs_in("teacher", "stride-teacher")


@override_settings(STRIDE_DEMO_ACCOUNTS=False)
def test_seed_demo_is_refused_when_demo_accounts_are_off():
    with pytest.raises(CommandError, match="never created under the production settings"):
        call_command("seed_demo")
    with pytest.raises(CommandError):
        call_command("seed_demo", "--unless-removed")
    assert not User.objects.filter(username__in=["student", "teacher", "admin"]).exists()


def test_the_production_settings_turn_demo_accounts_off_whatever_the_environment_says():
    env = {**os.environ, "DJANGO_SECRET_KEY": "x" * 60, "DJANGO_ALLOWED_HOSTS": "stride.example.org",
           "STRIDE_DEMO_ACCOUNTS": "true"}
    code = "import config.settings.production as s, config.settings.embedded as e; print(s.STRIDE_DEMO_ACCOUNTS, e.STRIDE_DEMO_ACCOUNTS)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "platform", env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.split() == ["False", "True"], out.stderr


def test_make_runs_seed_never_resets_a_changed_password(capsys):
    call_command("seed_demo", "--unless-removed")
    admin = User.objects.get(username="admin")
    admin.set_password("a-real-secret-now")
    admin.save()
    capsys.readouterr()
    call_command("seed_demo", "--unless-removed")
    out = capsys.readouterr().out
    assert _logs_in("admin", "a-real-secret-now")
    assert "login: admin" not in out  # its password is no longer the demo one: not printed
    assert "login: student" in out


def test_removed_demo_accounts_are_not_created_again_by_make_run(capsys):
    call_command("seed_demo")
    call_command("seed_demo", "--remove")
    assert "Removed the demo accounts: admin, student, teacher" in capsys.readouterr().out
    assert not User.objects.filter(username__in=["student", "teacher", "admin"]).exists()
    call_command("seed_demo", "--unless-removed")
    assert "not creating them again" in capsys.readouterr().out
    assert not User.objects.filter(username="admin").exists()
    call_command("seed_demo")  # asked for explicitly: back
    assert _logs_in("student", "stride-student")
    assert not demo_removed_marker().exists()
