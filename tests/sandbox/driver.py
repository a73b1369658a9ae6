"""Run every attack of the escape kit in the real sandbox, as this process's user (root, or the
unprivileged user the test dropped to), each followed by a valid model, and write a JSON report.

    python -m tests.sandbox.driver MODEL.keras WORKDIR REPORT.json
    python -m tests.sandbox.driver MODEL.keras WORKDIR REPORT.json --no-jail

WORKDIR (owned by this user) receives the worker's secrets: a database file (0600), media with
another student's upload, a hidden test set (0600), secret files as compose mounts them (0644).
The worker's environment holds the secret from its start (DJANGO_SECRET_KEY, DATABASE_URL: the
test passes them), so that it is in /proc/PID/environ.

``--no-jail`` is the negative control: the same attacks, the same targets, each run in a plain
subprocess of this user instead of the sandbox (the fd of a listening socket passed on, as a
fork would leave it; a decoy process with the worker's environment and an open socket stands in
for the worker, so that ptrace never stops this one). There every attack must succeed, or the
kit would pass whatever the jail does. What the attacks leave (files, a sleeper) is removed."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
# The test passes the secret in the environment this process starts with; alone, make one.
SECRET = os.environ.get("DJANGO_SECRET_KEY", "") or "kit-secret-" + os.urandom(6).hex()
ORPHAN = "stride-orphan"
FILE_LIMIT_MIB = 4


def _processes_named(name: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() == name:
                    found.append(int(entry))
            except OSError:
                pass
    return found


_RUNNER = """
import json, sys
with open("targets.json") as handle:
    targets = json.load(handle)
outcome = attack(targets)
with open("outcome.json", "w") as handle:
    json.dump(outcome, handle)
"""


def _run_unjailed(name: str, source: str, targets: dict, work: Path, inherited_fd: int) -> dict:
    """The attack in a plain subprocess of this user: no namespaces, Landlock, seccomp or limits."""
    scratch = work / "plain" / name
    scratch.mkdir(parents=True)
    (scratch / "targets.json").write_text(json.dumps(targets))
    # Output through files: a process the attack leaves behind keeps no pipe of ours open.
    run = subprocess.run([sys.executable, "-c", source + _RUNNER], cwd=scratch,
                         pass_fds=(inherited_fd,), stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=(scratch / "stderr").open("wb"),
                         timeout=120)
    try:
        return json.loads((scratch / "outcome.json").read_text())
    except (OSError, ValueError):
        return {"escaped": None, "detail": f"exit {run.returncode}: "
                + (scratch / "stderr").read_text(errors="replace")[-800:]}


def main(model: str, workdir: str, out: str, *, jail: bool = True) -> None:
    os.environ["DJANGO_SECRET_KEY"] = SECRET  # the worker's own environment holds a secret
    os.environ["DATABASE_URL"] = f"postgres://stride:{SECRET}@127.0.0.1/stride"
    os.environ["STRIDE_SANDBOX_TEST_HOOKS"] = "1"
    from config.processes import private_files

    private_files()  # as a Celery worker does at start (workers.celery): the jail must work under it
    from tests.sandbox.attacks import ATTACKS, COMMON
    from workers import sandbox

    work = Path(workdir)
    var = work / "var"
    (var / "media" / "uploads" / "other").mkdir(parents=True, exist_ok=True)
    db = var / "db.sqlite3"
    db.write_text(SECRET)
    db.chmod(0o600)
    upload = var / "media" / "uploads" / "other" / "model.keras"
    upload.write_text(SECRET)
    upload.chmod(0o644)  # readable by anyone: only the jail, not the file's mode, may stop the attack
    hidden = var / "hidden-test.npz"
    hidden.write_text(SECRET)
    hidden.chmod(0o600)
    # Secret files as compose mounts them (/run/secrets/NAME): often readable by anyone in the
    # container, so only the jail, not the mode, may stop the attack.
    secrets_dir = work / "secrets"
    secrets_dir.mkdir(exist_ok=True)
    secret_files = []
    for name in ("django_secret_key", "postgres_password"):
        path = secrets_dir / name
        path.write_text(SECRET + "\n")
        path.chmod(0o644)
        secret_files.append(str(path))
    secrets_dir.chmod(0o755)
    os.environ["DJANGO_SECRET_KEY_FILE"] = secret_files[0]
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix_path = work / "worker.sock"
    listener.bind(str(unix_path))
    listener.listen()
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind("\0stride-kit-" + SECRET)
    abstract.listen()
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.5)
    outside = [str(var / "celerybeat-schedule"), str(work / "escaped"),
               "/tmp/stride-escaped", str(ROOT / "escaped.py")]
    targets = {
        "worker_pid": os.getpid(), "secret": SECRET, "db": str(db), "var": str(var),
        "media": str(var / "media"), "other_upload": str(upload), "hidden": str(hidden),
        "source": str(ROOT / "workers" / "sandbox.py"), "project": str(ROOT),
        "tcp_ports": [tcp.getsockname()[1], 6379, 5432], "udp_port": udp.getsockname()[1],
        "unix_path": str(unix_path), "unix_abstract": "\0stride-kit-" + SECRET,
        "outside": outside, "orphan_name": ORPHAN, "file_limit_mib": FILE_LIMIT_MIB,
        "secret_files": secret_files, "secrets_dir": str(secrets_dir),
    }
    if not jail:
        _control(work, targets, tcp, udp, listener, out)
        return
    rng = np.random.default_rng(0)
    inputs = rng.uniform(0, 255, (64, 16, 16, 1)).astype("float32")
    limits = sandbox.SandboxLimits(wall_seconds=60, file_bytes=FILE_LIMIT_MIB * 2**20)

    def job(attack: str | None = None):
        result = sandbox.run_model_in_sandbox(
            model_path=Path(model), inputs=inputs, expected_input_shape=(16, 16, 1),
            num_classes=4, max_params=100_000, limits=limits,
            _debug_attack=None if attack is None else {
                "source": COMMON + ATTACKS[attack], "targets": targets})
        return result

    sandbox.sandbox_warm_up(wait=True)
    report = {"uid": os.getuid(), "attacks": {}}
    for name in ATTACKS:
        started = time.monotonic()
        result = job(name)
        entry = {"ok": result.ok, "error_code": result.error_code,
                 "error": (result.error or {}).get("en"), "isolation": result.isolation,
                 "attack": (result.debug or {}).get("attack"),
                 "score_fields": sorted(set(vars(result)) & {"score", "accuracy", "grade"})}
        time.sleep(0.5)
        entry.update(_traces(outside, udp, listener))
        after = job()
        entry["after"] = {"ok": after.ok, "error": (after.error or {}).get("en"),
                          "argmax": None if after.predictions is None
                          else after.predictions.argmax(1).tolist()}
        entry["seconds"] = round(time.monotonic() - started, 2)
        report["attacks"][name] = entry
    sandbox.sandbox_shutdown()
    Path(out).write_text(json.dumps(report, indent=1))


def _traces(outside: list[str], udp, listener) -> dict:
    """What an attack left behind, jailed or not: its surviving processes, the files it wrote
    outside, and whether its datagram or its Unix connection reached the worker's sockets."""
    traces = {"orphans": _processes_named(ORPHAN),
              "written_outside": [path for path in outside if os.path.exists(path)]}
    try:
        traces["udp_received"] = udp.recv(16).decode()
    except OSError:
        traces["udp_received"] = None
    listener.settimeout(0.01)
    try:
        listener.accept()[0].close()
        traces["unix_accepted"] = True
    except OSError:
        traces["unix_accepted"] = False
    return traces


def _control(work: Path, targets: dict, tcp, udp, listener, out: str) -> None:
    """The negative control: every attack but the forged result, without the jail."""
    from tests.sandbox.attacks import ATTACKS, COMMON

    # The decoy worker: this process's environment (the secrets) and an open socket (fd 3).
    decoy = subprocess.Popen([sys.executable, "-c", "import socket, time\n"
                              "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
                              "time.sleep(600)"], stdin=subprocess.DEVNULL)
    time.sleep(0.5)
    targets = {**targets, "worker_pid": decoy.pid}
    report = {"uid": os.getuid(), "attacks": {}}
    try:
        for name in ATTACKS:
            if name == "claim_a_score":  # not an escape: the parent's validation, tested apart
                continue
            entry = {"attack": _run_unjailed(name, COMMON + ATTACKS[name], targets, work,
                                             tcp.fileno())}
            time.sleep(0.3)
            entry.update(_traces(targets["outside"], udp, listener))
            for pid in entry["orphans"]:
                os.kill(pid, signal.SIGKILL)
            for path in entry["written_outside"]:
                os.unlink(path)
            report["attacks"][name] = entry
    finally:
        decoy.kill()
        decoy.wait()
    Path(out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:4], jail="--no-jail" not in sys.argv[4:])
