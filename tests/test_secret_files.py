"""Secrets from files: every setting X may be given as X_FILE (compose's /run/secrets/NAME), so
that no secret sits in a process's environment. That the sandbox child can read neither the
files nor the worker's environment is the escape kit's read_secret_files attack
(tests/sandbox/test_escape_kit.py)."""
from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _secret(folder: Path, name: str, value: str) -> Path:
    path = folder / name
    path.write_text(value + "\n")  # as `echo value > file` writes it: the newline is dropped
    path.chmod(0o600)
    return path


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "DATABASE_", "STRIDE_S3_", "STRIDE_HIDDEN_"))}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.production", DJANGO_ALLOWED_HOSTS="stride.example.org",
               PYTHONPATH=f"{ROOT / 'platform'}:{ROOT}")
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return {**env, **extra}


def _python(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_production_settings_read_each_secret_from_its_file(tmp_path):
    files = {
        "DJANGO_SECRET_KEY_FILE": _secret(tmp_path, "django_secret_key", "k" * 60),
        "DATABASE_URL_FILE": _secret(tmp_path, "database_url", "postgres://stride:in-url@db.internal:5432/stride"),
        "DATABASE_PASSWORD_FILE": _secret(tmp_path, "postgres_password", "pg-from-file"),
        "STRIDE_S3_SECRET_KEY_FILE": _secret(tmp_path, "s3_secret_key", "s3-from-file"),
        "STRIDE_HIDDEN_SET_KEY_FILE": _secret(tmp_path, "hidden_set_key", "hmac-from-file"),
    }
    # The file wins over a variable of the same name.
    env = _env(**{k: str(v) for k, v in files.items()}, STRIDE_S3_SECRET_KEY="s3-from-the-environment")
    code = ("import django, json, os; django.setup(); from django.conf import settings as s; "
            "db = s.DATABASES['default']; "
            "print(json.dumps([s.SECRET_KEY, db['HOST'], db['PASSWORD'], s.STRIDE_S3_SECRET_KEY, "
            "s.STRIDE_HIDDEN_SET_KEY, open('/proc/self/environ').read()]))")
    out = _python(code, env)
    assert out.returncode == 0, out.stderr
    import json

    secret_key, host, password, s3, hidden, environ = json.loads(out.stdout)
    assert secret_key == "k" * 60  # no trailing newline
    assert (host, password) == ("db.internal", "pg-from-file")  # the URL from its file, the password apart
    assert (s3, hidden) == ("s3-from-file", "hmac-from-file")
    for value in ("k" * 60, "pg-from-file", "in-url", "hmac-from-file"):
        assert value not in environ  # the process's environment holds paths, not secrets


def test_production_passes_check_deploy_with_its_key_from_a_file(tmp_path):
    import secrets

    env = _env(DJANGO_SECRET_KEY_FILE=str(_secret(tmp_path, "key", secrets.token_urlsafe(50))))
    out = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                    reason="needs PostgreSQL (DATABASE_URL)")
def test_the_database_url_from_a_file_reaches_postgresql(tmp_path):
    env = _env(DJANGO_SECRET_KEY_FILE=str(_secret(tmp_path, "key", "x" * 60)),
               DATABASE_URL_FILE=str(_secret(tmp_path, "database_url", os.environ["DATABASE_URL"])))
    code = ("import django; django.setup(); from django.db import connection; "
            "cur = connection.cursor(); cur.execute('select current_database()'); print(cur.fetchone()[0])")
    out = _python(code, env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == os.environ["DATABASE_URL"].rsplit("/", 1)[-1].split("?")[0]


def test_an_unreadable_secret_file_is_a_clear_error(tmp_path):
    missing = tmp_path / "nope"
    out = _python("import django; django.setup()", _env(DJANGO_SECRET_KEY_FILE=str(missing)))
    assert out.returncode != 0
    assert f"DJANGO_SECRET_KEY_FILE={missing}: the file that holds DJANGO_SECRET_KEY cannot be read" in out.stderr


def test_flower_takes_its_password_from_a_file_and_refuses_to_start_without(tmp_path, monkeypatch):
    conf = ROOT / "workers" / "flowerconfig.py"
    path = _secret(tmp_path, "flower_basic_auth", "admin:a-long-password")
    monkeypatch.setenv("STRIDE_FLOWER_BASIC_AUTH_FILE", str(path))
    monkeypatch.delenv("FLOWER_BASIC_AUTH", raising=False)
    assert runpy.run_path(str(conf))["basic_auth"] == "admin:a-long-password"
    monkeypatch.delenv("STRIDE_FLOWER_BASIC_AUTH_FILE")
    with pytest.raises(SystemExit, match="STRIDE_FLOWER_BASIC_AUTH_FILE"):
        runpy.run_path(str(conf))
    path.write_text("no-password\n")
    monkeypatch.setenv("STRIDE_FLOWER_BASIC_AUTH_FILE", str(path))
    with pytest.raises(SystemExit, match="user:password"):
        runpy.run_path(str(conf))
