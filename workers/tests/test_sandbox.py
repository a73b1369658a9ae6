"""The model sandbox, with real Keras models saved by the test and real child processes.

This test process imports Keras (to build the models and compute the expected predictions);
the sandbox module itself never does, which a subprocess checks.
"""
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

from workers import sandbox  # noqa: E402
from workers.sandbox import SandboxLimits, run_model_in_sandbox  # noqa: E402

pytestmark = pytest.mark.keras

ROOT = Path(__file__).resolve().parents[2]
SHAPE = (16, 16, 1)
CLASSES = 4
IS_ROOT = os.geteuid() == 0


def small_cnn(*, input_shape=SHAPE, classes=CLASSES, seed=0):
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Rescaling(1 / 255),
        layers.Conv2D(4, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(classes, activation="softmax"),
    ], name="small_cnn")


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    # 300 images: a full batch of 256 and a remainder.
    return rng.uniform(0, 255, (300, *SHAPE)).astype("float32")


@pytest.fixture(scope="module")
def models(tmp_path_factory, images):
    folder = tmp_path_factory.mktemp("models")
    paths = {}

    trained = small_cnn()
    trained.compile("adam", "sparse_categorical_crossentropy")
    trained.fit(images[:64], np.arange(64) % CLASSES, epochs=1, verbose=0)
    paths["good"] = folder / "good.keras"
    trained.save(paths["good"])

    paths["wrong_input"] = folder / "wrong_input.keras"
    small_cnn(input_shape=(20, 20, 1)).save(paths["wrong_input"])
    paths["wrong_output"] = folder / "wrong_output.keras"
    small_cnn(classes=CLASSES + 1).save(paths["wrong_output"])

    nan = small_cnn()
    dense = nan.layers[-1]
    dense.set_weights([np.full_like(w, np.nan) for w in dense.get_weights()])
    paths["nan"] = folder / "nan.keras"
    nan.save(paths["nan"])

    lam = keras.Sequential([keras.Input(SHAPE), keras.layers.Lambda(lambda x: x * 2),
                            keras.layers.Flatten(), keras.layers.Dense(CLASSES)])
    paths["lambda"] = folder / "lambda.keras"
    lam.save(paths["lambda"])

    paths["corrupt"] = folder / "corrupt.keras"
    paths["corrupt"].write_bytes(b"PK\x03\x04 this is not a zip archive")
    return {"paths": paths, "good_model": trained}


@pytest.fixture
def hooks(monkeypatch):
    monkeypatch.setenv(sandbox.TEST_HOOKS_ENV, "1")


def run(path, inputs, **overrides):
    kwargs = dict(model_path=path, inputs=inputs, expected_input_shape=SHAPE,
                  num_classes=CLASSES, max_params=100_000)
    kwargs.update(overrides)
    return run_model_in_sandbox(**kwargs)


def assert_good(result, models, images):
    assert result.ok, result.error
    expected = models["good_model"].predict(images, verbose=0)
    np.testing.assert_allclose(result.predictions, expected, rtol=1e-4, atol=1e-5)


def test_predictions_layers_and_isolation(models, images):
    result = run(models["paths"]["good"], images)

    assert result.ok and result.error is None and result.error_code is None
    assert result.predictions.dtype == np.float32 and result.predictions.shape == (300, CLASSES)
    assert_good(result, models, images)
    model = models["good_model"]
    assert result.param_count == model.count_params()
    assert [layer["class_name"] for layer in result.layers] == [
        "Rescaling", "Conv2D", "MaxPooling2D", "Flatten", "Dense"]
    assert result.layers[1] == {"name": model.layers[1].name, "class_name": "Conv2D",
                                "output_shape": [14, 14, 4], "params": 40}
    assert result.layers[-1]["output_shape"] == [CLASSES]
    assert sum(layer["params"] for layer in result.layers) == result.param_count
    # The weights' fingerprint for the integrity report is read in the jail, never by the worker.
    from grader.integrity import fingerprint_keras_file

    expected = fingerprint_keras_file(models["paths"]["good"])
    assert result.fingerprint["architecture"] == expected.architecture
    assert result.fingerprint["weights_digest"] == expected.weights_digest
    np.testing.assert_allclose(result.fingerprint["sketch"], expected.sketch, rtol=1e-6)

    iso = result.isolation
    assert iso["environment"] == "scrubbed" and iso["seccomp"] == "on"
    assert iso["namespaces"] == "userns+pidns+netns+mntns+ipcns"
    assert iso["filesystem"].startswith("landlock abi ") and iso["capabilities"] == "none"
    assert iso["memory"] == str(SandboxLimits().memory_bytes)
    assert iso["warm_up"].startswith("model")  # the warm-up itself did not fail
    # The child's module (and Keras's lazy ones) came with the fork: a child that imported them
    # itself paid ~240 ms before each job (Python 3.11's forkserver ignored sys.path).
    assert iso["forkserver"] == "preloaded"
    assert [phase.split()[0] for phase in iso["timeline"].split(", ")] == [
        "started", "isolated", "warm", "waited", "job"]
    if IS_ROOT:
        assert iso["user"].startswith("uid ")
    assert result.device == "cpu" and iso["device"] == "cpu"


def test_a_spare_given_time_warms_up_fully(models, images):
    """The warm-up saves and loads a model of its own: temporary files go to the scratch folder,
    not to the /tmp that the forkserver's Keras import cached in tempfile (outside Landlock's
    list: every warm-up failed with PermissionError, and each job started cold)."""
    run(models["paths"]["good"], images)  # the next spare learns these shapes
    assert sandbox._wait_spare_ready()
    result = run(models["paths"]["good"], images)
    assert_good(result, models, images)
    assert result.isolation["warm_up"].startswith("model, load, batch "), result.isolation


def test_inputs_reach_the_model_as_given(models, images):
    raw = images.astype(np.uint8)
    result = run(models["paths"]["good"], raw)
    assert result.ok, result.error
    expected = models["good_model"].predict(raw, verbose=0)
    np.testing.assert_allclose(result.predictions, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name, overrides, code, words", [
    ("wrong_input", {}, "bad_input_shape", ["(20, 20, 1)", "(16, 16, 1)"]),
    ("wrong_output", {}, "bad_output_shape", ["(None, 5)", "(None, 4)"]),
    ("good", {"max_params": 100}, "over_budget", ["100"]),
    ("lambda", {}, "load_failed", ["Lambda"]),
    ("corrupt", {}, "load_failed", []),
])
def test_refusals_are_clear(models, images, name, overrides, code, words):
    result = run(models["paths"][name], images, **overrides)

    assert not result.ok and result.predictions is None
    assert result.error_code == code
    assert set(result.error) == {"fr", "en"}
    for text in result.error.values():
        assert len(text) > 40
        for word in words:
            assert word in text
    if code == "over_budget":
        assert result.param_count == models["good_model"].count_params()
        assert len(result.layers) == 5


def test_nan_output_is_bad_predictions(models, images):
    result = run(models["paths"]["nan"], images)
    assert result.error_code == "bad_predictions"
    assert "NaN" in result.error["fr"] and "NaN" in result.error["en"]
    assert result.predictions is None


@pytest.mark.parametrize("action, limits, codes", [
    ("sleep", SandboxLimits(wall_seconds=1), {"timeout"}),
    ("busy", SandboxLimits(wall_seconds=30, cpu_seconds=1), {"timeout"}),
    ("crash", SandboxLimits(), {"crashed"}),
    ("allocate", SandboxLimits(), {"out_of_memory"}),
])
def test_failure_then_the_next_job_works(hooks, models, images, action, limits, codes):
    result = run(models["paths"]["good"], images, limits=limits, _debug_child_action=action)

    assert not result.ok and result.error_code in codes
    assert set(result.error) == {"fr", "en"} and all(result.error.values())
    if action == "sleep":
        # Cut at the 1 s wall limit, not run to the end of its sleep; the upper bound is only a
        # hang guard, loose enough for a loaded 2-core machine (no wall-clock race here).
        assert 1 <= result.seconds < 30
    if action == "crash":
        assert "SIGSEGV" in result.error["en"]

    assert_good(run(models["paths"]["good"], images), models, images)


def test_network_is_cut(hooks, models, images):
    result = run(models["paths"]["good"], images, _debug_child_action="connect")

    assert result.ok
    attempts = result.debug["connect"]
    # Redis and PostgreSQL listen on 127.0.0.1 here; the parent could reach them.
    assert attempts["tcp_redis"].startswith("failed")
    assert attempts["tcp_db"].startswith("failed")
    assert attempts["unix_socket"].startswith("failed")  # seccomp: no socket() at all
    assert result.debug["net_interfaces"] == ["lo"]
    assert result.debug["netns"] != os.readlink("/proc/self/ns/net")


def test_hooks_need_the_environment_variable(monkeypatch, models, images):
    monkeypatch.delenv(sandbox.TEST_HOOKS_ENV, raising=False)
    with pytest.raises(ValueError):
        run(models["paths"]["good"], images, _debug_child_action="crash")


@pytest.mark.skipif(os.geteuid() != 0, reason="only a root worker drops to the sandbox uid")
def test_an_interpreter_out_of_the_sandbox_users_reach_is_named_with_its_fix(monkeypatch):
    # pyenv installs under /root (mode 700): the sandbox uid could not start Python, and the
    # forkserver died without a word. The worker now says which folder and how to open it.
    closed = Path(tempfile.mkdtemp(prefix="stride-closed-"))  # mode 700, under /tmp (1777)
    try:
        (closed / "bin").mkdir()
        (closed / "bin" / "python").write_text("")
        monkeypatch.setattr(sys, "executable", str(closed / "bin" / "python"))
        with pytest.raises(sandbox.SandboxUnavailable, match=f"{closed} is closed to other users.*chmod o\\+x {closed}"):
            sandbox._jail_argv(closed)
        closed.chmod(0o711)  # opened as bin/bootstrap does: the jail is built
        assert "--ro-bind" in sandbox._jail_argv(closed)
    finally:
        shutil.rmtree(closed)


def test_wrong_arguments_raise(models, images):
    with pytest.raises(ValueError):
        run(models["paths"]["good"], images[:, :8])
    with pytest.raises(TypeError):
        run(models["paths"]["good"], images.astype(object))
    with pytest.raises(FileNotFoundError):
        run(models["paths"]["good"].with_name("missing.keras"), images)
    with pytest.raises(ValueError):
        SandboxLimits(memory_bytes=2**30)


_PARENT_SCRIPT = """
import json, os, sys
import numpy as np
from workers import sandbox

def job(path, inputs):
    result = sandbox.run_model_in_sandbox(
        model_path=path, inputs=inputs, expected_input_shape=(16, 16, 1), num_classes=4,
        max_params=100_000, _debug_child_action="dump_env")
    return {"ok": result.ok, "error": result.error, "debug": result.debug,
            "isolation": result.isolation}

def environ_keys(pid):
    # A child's initial environment block (readable in its own memory), seen from outside.
    with open(f"/proc/{pid}/environ", "rb") as handle:
        return sorted(item.split(b"=", 1)[0].decode() for item in handle.read().split(b"\\0")
                      if item)

if __name__ == "__main__":
    path, inputs_path, out = sys.argv[1:4]
    inputs = np.load(inputs_path)
    sandbox.sandbox_warm_up(wait=True)  # as a Celery worker would do it, then fork
    report = {"spare_environ": environ_keys(sandbox._POOL.spare.process.pid),
              "forkserver_environ": environ_keys(sandbox._forkserver()._forkserver_pid),
              "parent": job(path, inputs)}
    pid = os.fork()  # like a Celery prefork pool process
    if pid == 0:
        report = {"forked": job(path, inputs),
                  "forked_keras": "keras" in sys.modules or "tensorflow" in sys.modules}
        with open(out + ".forked", "w") as handle:
            json.dump(report, handle)
        sandbox.sandbox_shutdown()
        os._exit(0)
    os.waitpid(pid, 0)
    report["parent_keras"] = "keras" in sys.modules or "tensorflow" in sys.modules
    report["parent_env_kept"] = os.environ.get("DJANGO_SECRET_KEY")
    with open(out, "w") as handle:
        json.dump(report, handle)
"""

SECRETS = {
    "DATABASE_URL": "postgres://stride:hunter2@127.0.0.1/stride",
    "DJANGO_SECRET_KEY": "not-for-models",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "AWS_SECRET_ACCESS_KEY": "abc",
    "GITHUB_TOKEN": "ghp_x",
    "SMTP_PASSWORD": "pw",
}


def test_secrets_and_keras_stay_out_and_a_fork_works(tmp_path, models, images):
    """A fresh worker-like process with secrets in its environment: the children see none of
    them (neither in os.environ nor in their initial environment block), the worker never
    imports Keras, and a forked process (a Celery pool process) can use the sandbox too."""
    inputs_path = tmp_path / "inputs.npy"
    np.save(inputs_path, images[:20])
    for folder in (tmp_path, *tmp_path.parents):  # the jail re-imports this script's module
        if str(folder).startswith(tempfile.gettempdir() + os.sep):
            folder.chmod(folder.stat().st_mode | 0o005)
    script = tmp_path / "worker_like.py"
    script.write_text(_PARENT_SCRIPT)
    out = tmp_path / "report.json"
    env = {**os.environ, **SECRETS, sandbox.TEST_HOOKS_ENV: "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    subprocess.run([sys.executable, str(script), str(models["paths"]["good"]),
                    str(inputs_path), str(out)], env=env, cwd=ROOT, check=True, timeout=120)

    report = json.loads(out.read_text())
    forked = json.loads(Path(str(out) + ".forked").read_text())
    assert report["parent_keras"] is False and forked["forked_keras"] is False
    assert report["parent_env_kept"] == SECRETS["DJANGO_SECRET_KEY"]  # restored in the parent
    for keys in (report["spare_environ"], report["forkserver_environ"]):
        assert "PATH" in keys and not set(SECRETS) & set(keys)
    for run_report in (report["parent"], forked["forked"]):
        assert run_report["ok"], run_report["error"]
        debug = run_report["debug"]
        keys = debug["env_keys"]
        assert not set(SECRETS) & set(keys)
        assert not [key for key in keys if key.startswith(("DJANGO", "CELERY", "AWS"))]
        assert {"HOME", "TMPDIR", "PATH"} <= set(keys)
        if IS_ROOT:
            assert debug["uid"] != 0 and debug["gid"] != 0 and debug["groups"] == []
        assert debug["rlimits"]["RLIMIT_CORE"] == [0, 0]
        assert debug["rlimits"]["RLIMIT_NOFILE"] == [256, 256]


def _children_of(pid: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry))
    return children


def _settle() -> None:
    for thread in list(sandbox._POOL.threads):
        thread.join(30)


def test_twenty_jobs_leak_nothing(models, images):
    run(models["paths"]["good"], images[:10])
    _settle()
    threads_before = threading.active_count()
    for _ in range(20):
        assert run(models["paths"]["good"], images[:10]).ok
    _settle()

    forkserver_pid = sandbox._forkserver()._forkserver_pid
    root = sandbox._POOL.root
    assert len(multiprocessing.active_children()) <= 1  # the spare
    assert len(_children_of(forkserver_pid)) <= 1
    assert len(list(root.iterdir())) <= 1
    assert threading.active_count() <= threads_before

    sandbox.sandbox_shutdown()
    assert multiprocessing.active_children() == []
    assert not root.exists()
    # The forkserver runs as bubblewrap's child: no sandbox child is left under it.
    assert [pid for child in _children_of(forkserver_pid) for pid in _children_of(child)] == []
    # And the sandbox starts again on demand.
    assert_good(run(models["paths"]["good"], images), models, images)


def test_untrusted_files_are_validated():
    ok = {"status": "ok", "error_code": None, "error_params": {}, "param_count": 3,
          "layers": [{"name": "d", "class_name": "Dense", "output_shape": [3], "params": 3}],
          "isolation": {"network": "netns"}}
    assert sandbox._validated_result(json.dumps(ok).encode())["param_count"] == 3
    bad = [
        b"[]", b"{", b'{"status": "ok", "param_count": NaN}',
        json.dumps({**ok, "param_count": True}).encode(),
        json.dumps({**ok, "param_count": -1}).encode(),
        json.dumps({**ok, "status": "error", "error_code": "rm -rf"}).encode(),
        json.dumps({**ok, "layers": [{"name": "d"}]}).encode(),
        json.dumps({**ok, "layers": [ok["layers"][0]] * 10_000}).encode(),
        json.dumps({**ok, "error_params": {"detail": {"nested": 1}}}).encode(),
        b"[" * 100_000,
    ]
    for raw in bad:
        assert sandbox._validated_result(raw) is None, raw[:60]


def test_untrusted_predictions_are_validated(tmp_path):
    path = tmp_path / "predictions.npy"
    np.save(path, np.zeros((3, 2), np.float32))
    assert sandbox._read_predictions(path, 3, 2)[0].shape == (3, 2)
    assert sandbox._read_predictions(path, 4, 2)[1]["reason"] == "shape"
    np.save(path, np.zeros((3, 2), np.int64))
    assert sandbox._read_predictions(path, 3, 2)[1]["reason"] == "dtype"
    np.save(path, np.array([[1.0, np.inf], [0, 0], [0, 0]]))
    assert sandbox._read_predictions(path, 3, 2)[1] == {"reason": "not_finite", "count": 1,
                                                        "total": 6}
    np.save(path, np.full((3, 2), 1e300))  # float64 beyond float32: infinite once cast
    assert sandbox._read_predictions(path, 3, 2)[1]["reason"] == "not_finite"
    np.save(path, np.array([[{}, {}]] * 3, dtype=object), allow_pickle=True)
    assert sandbox._read_predictions(path, 3, 2)[0] is None
    path.unlink()
    path.symlink_to("/etc/passwd")
    assert sandbox._read_predictions(path, 3, 2)[1]["reason"] == "missing"
    path.unlink()
    os.mkfifo(path)  # would block a plain open()
    assert sandbox._read_predictions(path, 3, 2)[1]["reason"] == "missing"


@pytest.mark.parametrize("fingerprint, accepted", [
    (None, True),
    ({"architecture": "a" * 64, "weights_digest": "b" * 64, "sketch": [0.5] * 512}, True),
    ({"architecture": "a" * 64, "weights_digest": "b" * 64, "sketch": [0.5] * 511}, False),
    ({"architecture": "A" * 64, "weights_digest": "b" * 64, "sketch": [0.5] * 512}, False),
    ({"architecture": "a" * 64, "weights_digest": "b" * 64, "sketch": [float("nan")] + [0.0] * 511}, False),
    ({"architecture": "a" * 64, "weights_digest": "b" * 64, "sketch": [True] * 512}, False),
    ({"architecture": "a" * 64, "weights_digest": "b" * 64, "sketch": [0.0] * 512, "score": 1}, False),
    ("a" * 64, False),
])
def test_the_fingerprint_a_child_sends_is_checked_strictly(fingerprint, accepted):
    import json

    raw = json.dumps({"status": "ok", "fingerprint": fingerprint}).replace("NaN", "1e999").encode()
    data = sandbox._validated_result(raw)
    assert (data is not None) is accepted
    if accepted:
        assert data["fingerprint"] == fingerprint
