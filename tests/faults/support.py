"""What the fault tests share: the trial counts of the two modes, our own Redis and site
processes on loopback, the process tree of a Celery worker, and the Celery app of this
process pointed at another broker.

``STRIDE_FAULTS=full`` switches the counts and durations to the issue's numbers; without it
the suite is sized for CI. Every loop is bounded in count and in time.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FULL = os.environ.get("STRIDE_FAULTS", "").strip().lower() == "full"


def sized(ci, full):
    """The CI value, or the issue's value under ``STRIDE_FAULTS=full``."""
    return full if FULL else ci


SUMMARY: list[str] = []


def report(line: str) -> None:
    """A line for the "faults" section at the end of the run (docs/faults.md quotes a full run's)."""
    SUMMARY.append(line)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, timeout: float = 0.5) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=timeout).close()
        return True
    except OSError:
        return False


def wait_until(predicate, *, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached after {timeout:g}s")
        time.sleep(interval)


def stop_group(proc: subprocess.Popen, grace: float = 10) -> None:
    """Stop a process we started in its own session, and whatever is left of its group
    (a killed Celery main process leaves its pool child and forkserver behind)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


# --- Redis of our own -----------------------------------------------------------------------
class RedisServer:
    """``redis-server`` on a free loopback port, without persistence: stopping it loses what
    it held, like a crashed broker."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20) -> None:
        log = open(self.workdir / "redis.log", "ab")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--daemonize", "no"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        wait_until(self._answers, timeout=timeout, what=f"redis on port {self.port}")

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited:\n{(self.workdir / 'redis.log').read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc, grace=5)
            self.proc = None
        wait_until(lambda: not port_open(self.port), timeout=10, what="redis stopped")


# --- the site as a real server ----------------------------------------------------------------
def site_env(*, database_url: str, broker_url: str | None = None, **extra: str) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url,
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    if broker_url:
        env["CELERY_BROKER_URL"] = broker_url
        env["CELERY_RESULT_BACKEND"] = broker_url
    return env


@contextlib.contextmanager
def gunicorn_site(*, env: dict, log: Path, workers: int = 2, timeout: float = 60):
    """``gunicorn config.wsgi:application`` on a free loopback port; yields its base URL."""
    port = free_port()
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "config.wsgi:application", "--chdir", "platform", "--bind", f"127.0.0.1:{port}",
             "--workers", str(workers), "--timeout", "60", "--graceful-timeout", "5", "--access-logfile", "-"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def up():
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        return port_open(port)

    try:
        wait_until(up, timeout=timeout, interval=0.2, what="gunicorn listening")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(proc)


# --- the process tree of a Celery worker ------------------------------------------------------
def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[1])


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _ppid(int(entry)) == pid:
            found.append(int(entry))
    return sorted(found)


def alive(pid: int) -> bool:
    return _ppid(pid) is not None


@dataclass(frozen=True)
class WorkerTree:
    main: int
    pool: int | None  # the prefork pool process that runs the task (concurrency 1)
    sandbox: int | None  # the sandbox child that holds the student's model right now


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, parents before their children."""
    found, todo = [], children(pid)
    while todo:
        kid = todo.pop(0)
        found.append(kid)
        todo.extend(children(kid))
    return found


def _host_cwd(pid: int) -> Path | None:
    """A process's working directory as this (the host's) mount namespace sees it: the jail's
    processes live in their own mount namespace, so their cwd is read through /proc/<pid>/root."""
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None
    return Path(f"/proc/{pid}/root") / cwd.lstrip("/")


def worker_tree(main_pid: int) -> WorkerTree:
    """The worker's main process, its pool process and the busy sandbox child, if any.

    main → pool process → the jail (bubblewrap, the forkserver, each job's namespace) → the job.
    The busy one is the deepest process whose working directory (its scratch folder) holds a
    model and no result yet."""
    pools = children(main_pid)
    pool = pools[0] if len(pools) == 1 else None
    sandbox = None
    if pool is not None:
        for kid in descendants(pool):
            scratch = _host_cwd(kid)
            try:
                if scratch is not None and (scratch / "model.keras").exists() and not (scratch / "result.json").exists():
                    sandbox = kid  # descendants come parents first: the last match is the job itself
            except OSError:
                continue
    return WorkerTree(main=main_pid, pool=pool, sandbox=sandbox)


# --- the Celery app of this (the site's) process ----------------------------------------------
def _reset_connections(app) -> None:
    from kombu import pools

    # The app's pools live in kombu's process-wide registries, keyed by broker URL: closing
    # one without clearing the registry would hand the closed pool back to every later test
    # ("Acquire on closed pool"). reset() closes them all and clears the registries.
    pools.reset()
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None
    app._backend_cache = None
    app._local.__dict__.pop("backend", None)


@contextlib.contextmanager
def site_broker(settings, url: str):
    """Point this process's ``workers.celery.app`` (what ``send_task`` and the sweeper use) at
    ``url``. The app read Django's settings once, when it was configured, and keeps pools of
    connections: both are switched, and switched back afterwards."""
    from workers.celery import app

    keys = ("broker_url", "result_backend", "broker_transport_options")
    saved = {key: app.conf.get(key) for key in keys}
    # Celery reads these two from the environment before its configuration (bin/test sets them).
    saved_env = {name: os.environ.get(name) for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")}
    os.environ["CELERY_BROKER_URL"] = os.environ["CELERY_RESULT_BACKEND"] = url
    settings.CELERY_BROKER_URL = url
    app.conf.update(broker_url=url, result_backend=url, broker_transport_options={"visibility_timeout": 3600})
    _reset_connections(app)
    try:
        yield app
    finally:
        _reset_connections(app)
        app.conf.update(saved)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
