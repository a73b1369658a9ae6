"""Files Stride writes are private: every entry point runs with umask 077, uploads are 0600 and
the SQLite database is 0600 (even one an older version left 0644). A model's jail runs under
another uid, and nobody else on the host may read the database, the uploads or the secrets."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def umask_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    raise AssertionError("no Umask line")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run(args: list[str], tmp_path: Path, **env) -> str:
    full = {**os.environ, "STRIDE_VAR_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "DJANGO_SETTINGS_MODULE": "config.settings.local", **env}
    result = subprocess.run(args, cwd=ROOT, env=full, capture_output=True, text=True, timeout=120,
                            preexec_fn=lambda: os.umask(0o022))  # started with a wide umask, as a shell does
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


PRINT = ("import os; from django.db import connection; connection.ensure_connection(); "
         "print(oct(os.umask(0o077)), oct(os.stat(connection.settings_dict['NAME']).st_mode & 0o777))")


def test_manage_py_creates_a_private_sqlite_file(tmp_path):
    out = run([sys.executable, "manage.py", "shell", "-c", PRINT], tmp_path).split()
    assert out[-2:] == ["0o77", "0o600"], out


def test_an_old_0644_database_is_made_private_on_connect(tmp_path):
    db = tmp_path / "db.sqlite3"
    db.touch(mode=0o644)
    os.chmod(db, 0o644)
    run([sys.executable, "manage.py", "shell", "-c", PRINT], tmp_path)
    assert mode(db) == 0o600


def test_the_wsgi_entry_point_sets_umask_077(tmp_path):
    code = ("import sys; sys.path[:0] = ['platform', '.']; import os, config.wsgi; "
            "from django.conf import settings; "
            "print(oct(os.umask(0o077)), oct(settings.FILE_UPLOAD_PERMISSIONS))")
    out = run([sys.executable, "-c", code], tmp_path).split()
    assert out[-2:] == ["0o77", "0o600"], out


@pytest.mark.worker
def test_a_celery_worker_runs_with_umask_077(live_worker):
    assert umask_of(live_worker.pid) == 0o077
