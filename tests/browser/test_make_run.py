"""The stack that ``make run`` starts (``bin/run``: gunicorn, DEBUG off, whitenoise, a Celery
worker with beat, SQLite), driven through chromium: Stride's own 404 and 500 pages, static files,
and Ctrl-C stopping everything so that a second ``make run`` starts at once.

``bin/run`` runs as a teacher would run it, with the environment of the test command scrubbed
(no DATABASE_URL, no Redis broker): the embedded defaults, in a folder of its own.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import requests

from .conftest import login

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.worker


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def _live_processes_of_group(pgid: int) -> list[int]:
    """Processes of this group that are not zombies (init may be slow to reap orphans here)."""
    live = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    live.append(int(entry.name))
    return live


class MakeRun:
    """``bin/run`` in a session of its own, as in a terminal (SIGINT is Ctrl-C)."""

    def __init__(self, var_dir: Path):
        self.var_dir = var_dir
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = var_dir.parent / "make-run.log"

    def env(self) -> dict:
        scrubbed = {k: v for k, v in os.environ.items()
                    if not k.startswith(("DJANGO_", "CELERY_", "DATABASE_URL", "STRIDE_"))}
        return {**scrubbed, "STRIDE_VAR_DIR": str(self.var_dir), "PORT": str(self.port),
                "STRIDE_SKIP_BOOTSTRAP": "1"}  # the test command's virtualenv is already installed

    def start(self, timeout: float = 240) -> str:
        self.log.write_bytes(b"")
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            ["bin/run"], cwd=ROOT, env=self.env(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as a terminal leaves it
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            if "Ctrl-C stops everything" in text:
                return text
            if self.proc.poll() is not None:
                raise AssertionError(f"bin/run exited with {self.proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.5)
        raise AssertionError(f"bin/run not ready in {timeout}s:\n{self.log.read_text()[-3000:]}")

    def groups(self) -> list[int]:
        pids = self.var_dir / "run.pids"
        return [int(x) for x in pids.read_text().split()] if pids.exists() else []

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C; the exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        finally:
            self.proc = None

    def kill_everything(self) -> None:
        groups = self.groups()
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.interrupt(timeout=60)
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    run = MakeRun(tmp_path_factory.mktemp("make-run") / "var")
    run.var_dir.mkdir()
    try:
        run.start()
        yield run
    finally:
        run.kill_everything()


def test_first_screen_says_where_how_to_stop_and_the_demo_accounts(stack):
    text = stack.log.read_text()
    assert f"http://127.0.0.1:{stack.port}/" in text
    assert "Ctrl-C stops everything" in text
    assert "student  login: student  password: stride-student" in text
    assert "seed_demo --remove" in text
    # The noise the issue names is gone.
    assert "superuser privileges" not in text
    assert "No hostname was supplied" not in text
    assert (stack.var_dir / "secret_key").stat().st_mode & 0o777 == 0o600


def test_a_404_shows_strides_page_not_a_url_list(stack, page):
    css = []
    page.on("response", lambda r: css.append(r) if r.url.endswith(".css") else None)
    response = page.goto(f"{stack.base}/no/such/page/")
    assert response.status == 404
    assert page.locator("#error-404").is_visible()
    assert page.locator("h1").inner_text() == "Page introuvable"
    body = page.content()
    assert "urlpatterns" not in body and "URLconf" not in body and "DEBUG = True" not in body
    # Styled by Stride's own stylesheet, served by whitenoise under a content-hashed name.
    assert css and all(r.status == 200 for r in css)
    assert page.eval_on_selector(".topbar", "e => getComputedStyle(e).display") != "inline"


def test_static_files_load_with_long_lived_cache_headers(stack, page):
    assets = []
    page.on("response", lambda r: assets.append(r) if "/static/" in r.url else None)
    page.goto(f"{stack.base}/accounts/login/")
    page.wait_for_load_state("load")
    urls = {r.url for r in assets}
    assert any(u.endswith(".css") for u in urls) and any(u.endswith(".js") for u in urls), urls
    for r in assets:
        assert r.status == 200, r.url
        assert "immutable" in r.headers.get("cache-control", ""), (r.url, r.headers)
    # The API docs' Swagger UI is served from the collected files too, not a CDN.
    assert requests.get(f"{stack.base}/static/ninja/swagger-ui.css", timeout=10).status_code == 200


def test_a_server_error_shows_strides_500_page_without_a_traceback(stack, page):
    """A row damaged in the database (an impossible date) breaks the course list: a real 500."""
    login(page, stack.base, "student", "stride-student")
    database = stack.var_dir / "stride.sqlite3"
    with contextlib.closing(sqlite3.connect(database, timeout=20)) as db, db:
        before = db.execute("SELECT id, created_at FROM courses_course").fetchall()
        db.execute("UPDATE courses_course SET created_at = '2024-13-45 25:61:00'")
    try:
        answer = page.goto(f"{stack.base}/courses/")
        assert answer.status == 500
        page.wait_for_selector("#error-500")
        assert page.locator("h1").inner_text() == "Erreur du serveur"
        body = page.content()
        assert "Traceback" not in body and "ValueError" not in body and "month must be" not in body
        assert page.eval_on_selector(".topbar", "e => getComputedStyle(e).display") != "inline"
    finally:
        with contextlib.closing(sqlite3.connect(database, timeout=20)) as db, db:
            db.executemany("UPDATE courses_course SET created_at = ? WHERE id = ?", [(c, i) for i, c in before])
    # Logged for the teacher in the terminal: the error and its traceback.
    assert "Internal Server Error: /courses/" in stack.log.read_text()
    assert page.goto(f"{stack.base}/courses/").status == 200  # and the site works again


def test_ctrl_c_stops_everything_and_a_second_make_run_starts_at_once(stack):
    groups = stack.groups()
    assert len(groups) == 2  # gunicorn, the Celery worker
    assert stack.interrupt() == 0
    assert "==> stopped" in stack.log.read_text()
    assert not _port_listening(stack.port)
    assert not [p for g in groups for p in _live_processes_of_group(g)]
    assert not (stack.var_dir / "run.pids").exists()

    text = stack.start()  # at once, same folder, same port
    assert "already running" not in text and "in use" not in text
    assert requests.get(f"{stack.base}/healthz", timeout=10).json() == {"status": "ok"}
    # The same key: sessions survive a restart.
    assert len((stack.var_dir / "secret_key").read_text().strip()) >= 50


def test_a_second_make_run_while_one_runs_says_so(stack):
    other = subprocess.run(["bin/run"], cwd=ROOT, env=stack.env(), capture_output=True, text=True, timeout=120)
    assert other.returncode == 1
    assert "already running" in other.stderr
    assert requests.get(f"{stack.base}/healthz", timeout=10).status_code == 200  # the first is untouched
