"""config.settings.embedded, the settings of `make run`: production mode on one machine, plain HTTP."""
import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _env(var_dir: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "DATABASE_URL", "CELERY_", "STRIDE_"))}
    return {**env, "DJANGO_SETTINGS_MODULE": "config.settings.embedded", "STRIDE_VAR_DIR": str(var_dir),
            "PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}", **extra}


def _settings(var_dir: Path, *names: str, **extra: str) -> list[str]:
    code = "from django.conf import settings; import django; django.setup(); " + \
        "; ".join(f"print(repr(settings.{name}))" for name in names)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "platform", env=_env(var_dir, **extra),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_check_deploy_passes_except_the_https_checks_of_plain_http(tmp_path):
    out = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                         cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    silenced = _settings(tmp_path, "SILENCED_SYSTEM_CHECKS")[0]
    assert sorted(eval(silenced)) == ["security.W004", "security.W008", "security.W012", "security.W016"]


def test_debug_is_off_and_the_secret_key_is_generated_once_into_var(tmp_path):
    debug, key = _settings(tmp_path, "DEBUG", "SECRET_KEY", DJANGO_DEBUG="true")
    assert debug == "False"  # DEBUG is `make dev`'s business
    stored = tmp_path / "secret_key"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert eval(key) == stored.read_text().strip() and len(eval(key)) >= 50
    assert _settings(tmp_path, "SECRET_KEY") == [key]  # the same on the next start
    assert eval(_settings(tmp_path, "SECRET_KEY", DJANGO_SECRET_KEY="k" * 60)[0]) == "k" * 60


def test_processes_starting_together_agree_on_one_key(tmp_path):
    code = "from config.settings.embedded import SECRET_KEY; print(SECRET_KEY)"
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT / "platform", env=_env(tmp_path),
                              stdout=subprocess.PIPE, text=True) for _ in range(6)]
    keys = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert len(keys) == 1 and keys == {(tmp_path / "secret_key").read_text().strip()}
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".secret_key")]  # no temporary file left


def test_the_secret_key_is_never_committed():
    out = subprocess.run(["git", "check-ignore", "-q", "var/secret_key"], cwd=ROOT)
    assert out.returncode == 0


def test_allowed_hosts_are_loopback_alone_unless_make_run_listens_on_the_network(tmp_path):
    import socket

    assert eval(_settings(tmp_path, "ALLOWED_HOSTS")[0]) == ["localhost", "127.0.0.1", "[::1]"]
    lan = eval(_settings(tmp_path, "ALLOWED_HOSTS", STRIDE_BIND="0.0.0.0")[0])
    assert {"localhost", "127.0.0.1", socket.gethostname()} <= set(lan)
    assert eval(_settings(tmp_path, "ALLOWED_HOSTS", STRIDE_BIND="0.0.0.0", DJANGO_ALLOWED_HOSTS="stride.lan")[0]) == \
        ["stride.lan"]


def test_plain_http_cookies_and_the_headers_that_still_apply(tmp_path):
    values = _settings(tmp_path, "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT",
                       "SESSION_COOKIE_HTTPONLY", "X_FRAME_OPTIONS", "SECURE_CONTENT_TYPE_NOSNIFF")
    assert values == ["False", "False", "False", "True", "'DENY'", "True"]
