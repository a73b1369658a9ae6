"""The escape kit runs the driver twice per session: as the user running the tests (root in
CI) and dropped to an unprivileged user (setpriv), like the shipped image's ``USER stride``."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
UNPRIVILEGED_UID = 65534
MODES = ("root", "unprivileged")


def _small_model(path: Path):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((16, 16, 1)), keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Flatten(), keras.layers.Dense(4, activation="softmax")])
    model.save(path)
    inputs = np.random.default_rng(0).uniform(0, 255, (64, 16, 16, 1)).astype("float32")
    return model.predict(inputs, verbose=0).argmax(1).tolist()


@pytest.fixture(scope="session")
def kit_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kit-model")
    folder.chmod(0o755)
    path = folder / "good.keras"
    reference = _small_model(path)
    path.chmod(0o644)
    return path, reference


def _run_driver(mode: str, model: Path, *extra: str) -> dict:
    """The driver as a root worker or as an unprivileged one; its report."""
    prefix: list[str] = []
    if mode == "root":
        if os.geteuid() != 0:
            pytest.skip("the root run needs a root test process (CI runs as root)")
        uid = 0
    else:
        uid = os.geteuid()
        if uid == 0:
            prefix = [shutil.which("setpriv") or "setpriv", f"--reuid={UNPRIVILEGED_UID}",
                      f"--regid={UNPRIVILEGED_UID}", "--clear-groups", "--inh-caps=-all",
                      "--bounding-set=-all", "--"]
            uid = UNPRIVILEGED_UID
    kind = "control" if "--no-jail" in extra else "kit"
    workdir = Path(f"/tmp/stride-{kind}-{mode}-{os.getpid()}")
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir()
    workdir.chmod(0o711)  # the sandbox uid traverses it to its scratch folder, never lists it
    os.chown(workdir, uid, uid) if os.geteuid() == 0 else None
    report = workdir / "report.json"
    shutil.copy(model, workdir / "good.keras")  # the worker's copy of the upload
    model = workdir / "good.keras"
    os.chown(model, uid, uid) if os.geteuid() == 0 else None
    env = {key: value for key, value in os.environ.items()
           if key in ("PATH", "LANG", "LC_ALL", "TZ", "CELERY_BROKER_URL")}
    # The worker's secrets are in the environment it starts with, so in /proc/PID/environ.
    secret = "kit-secret-" + os.urandom(6).hex()
    env.update(DJANGO_SECRET_KEY=secret, DATABASE_URL=f"postgres://stride:{secret}@127.0.0.1/x",
               HOME=str(workdir), TMPDIR=str(workdir), TF_CPP_MIN_LOG_LEVEL="3",
               STRIDE_SANDBOX_DIR=str(workdir / "scratch"), STRIDE_VAR_DIR=str(workdir / "var"),
               PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'platform'}", PYTHONDONTWRITEBYTECODE="1")
    probe = subprocess.run([*prefix, sys.executable, "-c", "import numpy"], env=env,
                           capture_output=True, timeout=60)
    if probe.returncode != 0:
        pytest.fail(f"the unprivileged user cannot run {sys.executable}: make its folders "
                    f"traversable (chmod o+x) — {probe.stderr.decode()[-300:]}")
    try:
        run = subprocess.run([*prefix, sys.executable, "-m", "tests.sandbox.driver", str(model),
                              str(workdir), str(report), *extra], env=env, cwd=ROOT,
                             capture_output=True, timeout=900)
        assert run.returncode == 0, run.stderr.decode()[-4000:]
        data = json.loads(report.read_text())
        assert data["uid"] == uid
        return data
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session", params=MODES)
def kit_report(request, kit_model):
    """Every attack inside the real jail, each followed by a valid model."""
    model, reference = kit_model
    return request.param, _run_driver(request.param, model), reference


@pytest.fixture(scope="session", params=MODES)
def control_report(request, kit_model):
    """The negative control: the same attacks without the jail."""
    model, _ = kit_model
    return request.param, _run_driver(request.param, model, "--no-jail")
