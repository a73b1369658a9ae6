"""The jail's GPU mode (workers/sandbox_gpu.py): what it binds, what it tells the child, what it
falls back to; and the JAX backend's grading in the real jail (CPU here: the GPU path with
another device).

No GPU is needed: the device nodes are files in a folder of the test's own, and the child's
"CUDA did not start" path runs for real in the jail (no CUDA plugin, no device here).
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from workers import sandbox, sandbox_gpu
from workers import sandbox_child as child
from workers.sandbox_gpu import DevicePlan, DeviceSettingError, device_plan

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_dev(tmp_path):
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in ("nvidiactl", "nvidia0", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset", "null"):
        (dev / name).write_text("")
    return dev


def test_auto_uses_the_gpu_on_jax_with_device_nodes(fake_dev):
    plan = device_plan({"KERAS_BACKEND": "jax"}, dev=fake_dev)
    assert plan.mode == "gpu" and plan.device == "gpu:0" and plan.warnings == []
    # Only what CUDA opens: not the display's modeset node, nothing else of /dev.
    assert [Path(node).name for node in plan.device_nodes] == ["nvidia-uvm", "nvidia-uvm-tools", "nvidia0",
                                                               "nvidiactl"]
    settings = plan.child_settings()
    assert settings["mode"] == "gpu" and settings["memory_fraction"] == 0.25 and settings["visible_devices"] == "0"


@pytest.mark.parametrize("environ, reason", [
    ({"KERAS_BACKEND": "tensorflow"}, "KERAS_BACKEND=tensorflow"),
    ({}, "KERAS_BACKEND=tensorflow"),
    ({"KERAS_BACKEND": "jax", "STRIDE_SANDBOX_DEVICE": "cpu"}, "STRIDE_SANDBOX_DEVICE=cpu"),
])
def test_the_cpu_otherwise_and_quietly_when_the_gpu_was_not_asked_for(fake_dev, environ, reason):
    plan = device_plan(environ, dev=fake_dev)
    assert plan.mode == "cpu" and plan.device == "cpu" and reason in plan.reason
    assert plan.warnings == [] and plan.bwrap_args() == [] and plan.child_settings() == {"mode": "cpu"}


def test_gpu_asked_for_without_a_device_grades_on_the_cpu_and_says_so(tmp_path, caplog):
    empty = tmp_path / "dev"
    empty.mkdir()
    (empty / "nvidia-uvm").write_text("")  # a module loaded, but no GPU node: still no GPU
    plan = device_plan({"KERAS_BACKEND": "jax", "STRIDE_SANDBOX_DEVICE": "gpu"}, dev=empty)
    assert plan.mode == "cpu" and plan.device == "cpu"
    with caplog.at_level(logging.WARNING, logger="workers.sandbox_gpu"):
        sandbox_gpu.log_plan(plan)
    assert "STRIDE_SANDBOX_DEVICE=gpu but no NVIDIA device node" in caplog.text
    assert "graded on the CPU" in caplog.text
    tf = device_plan({"KERAS_BACKEND": "tensorflow", "STRIDE_SANDBOX_DEVICE": "gpu"}, dev=empty)
    assert tf.mode == "cpu" and "only with Keras on JAX" in tf.warnings[0]


@pytest.mark.parametrize("environ, words", [
    ({"STRIDE_SANDBOX_DEVICE": "cuda"}, "must be one of auto, cpu, gpu, not 'cuda'"),
    ({"KERAS_BACKEND": "jax", "STRIDE_SANDBOX_GPU_MEMORY_FRACTION": "1.5"}, "a number in (0, 1]"),
    ({"KERAS_BACKEND": "jax", "STRIDE_SANDBOX_GPU_MEMORY_FRACTION": "half"}, "not 'half'"),
])
def test_bad_settings_are_clear_errors(fake_dev, environ, words):
    with pytest.raises(DeviceSettingError, match=None) as info:
        device_plan(environ, dev=fake_dev)
    assert words in str(info.value)


def test_a_bad_setting_stops_the_worker_from_grading_with_a_clear_reason(tmp_path):
    # In a process of its own: this one's forkserver may already be running.
    code = ("from workers.sandbox import SandboxUnavailable, _ensure_forkserver\n"
            "try:\n    _ensure_forkserver()\nexcept SandboxUnavailable as exc:\n    print('UNAVAILABLE', exc)\n")
    env = {**os.environ, "STRIDE_SANDBOX_DEVICE": "tpu", "STRIDE_SANDBOX_DIR": str(tmp_path),
           "PYTHONPATH": f"{ROOT}:{ROOT / 'platform'}"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert "UNAVAILABLE STRIDE_SANDBOX_DEVICE must be one of auto, cpu, gpu" in out.stdout, out.stderr[-2000:]


def test_the_worker_gives_its_own_gpu_and_memory_fraction_to_the_child(fake_dev):
    plan = device_plan({"KERAS_BACKEND": "jax", "CUDA_VISIBLE_DEVICES": "1",
                        "STRIDE_SANDBOX_GPU_MEMORY_FRACTION": "0.4"}, dev=fake_dev)
    assert plan.child_settings()["visible_devices"] == "1" and plan.child_settings()["memory_fraction"] == 0.4
    hidden = device_plan({"KERAS_BACKEND": "jax", "CUDA_VISIBLE_DEVICES": "-1"}, dev=fake_dev)
    assert hidden.child_settings()["visible_devices"] == "0"


def _pairs(argv: list[str], flag: str) -> list[tuple[str, str]]:
    return [(argv[i + 1], argv[i + 2]) for i, arg in enumerate(argv) if arg == flag]


def test_bubblewrap_binds_the_device_nodes_only_in_gpu_mode(fake_dev, tmp_path):
    if sandbox.shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed")
    gpu = device_plan({"KERAS_BACKEND": "jax"}, dev=fake_dev)
    argv = sandbox._jail_argv(tmp_path, gpu)
    bound = _pairs(argv, "--dev-bind")
    assert bound == [(node, node) for node in gpu.device_nodes] and len(bound) == 4
    # After the fresh /dev and /proc, or they would hide them.
    assert argv.index("--dev-bind") > argv.index("--dev") and argv.index("--dev-bind") > argv.index("--proc")
    read_only = dict(_pairs(argv, "--ro-bind-try"))
    for path in gpu.read_only:
        assert read_only[path] == path and path in sandbox_gpu.DRIVER_READ_ONLY
    for plan in (None, DevicePlan(mode="cpu"), device_plan({"KERAS_BACKEND": "tensorflow"}, dev=fake_dev)):
        cpu_argv = sandbox._jail_argv(tmp_path, plan)
        assert "--dev-bind" not in cpu_argv and not any("nvidia" in arg for arg in cpu_argv)
        assert not any(arg.startswith("/sys") for arg in cpu_argv)


def test_the_forkserver_never_sees_the_gpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setenv("STRIDE_SANDBOX_DEVICE", "gpu")
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setenv("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.9")
    with sandbox._scrubbed_environ():
        seen = dict(os.environ)
    assert seen["CUDA_VISIBLE_DEVICES"] == "-1" and seen["JAX_PLATFORMS"] == "cpu"
    assert "STRIDE_SANDBOX_DEVICE" not in seen and "XLA_PYTHON_CLIENT_MEM_FRACTION" not in seen
    assert seen["KERAS_BACKEND"] == "jax"


def test_landlock_opens_the_driver_files_only_in_gpu_mode(fake_dev, tmp_path):
    gpu = device_plan({"KERAS_BACKEND": "jax"}, dev=fake_dev).child_settings()
    cpu_read, cpu_write = child._landlock_paths(str(tmp_path))
    gpu_read, gpu_write = child._landlock_paths(str(tmp_path), gpu)
    assert cpu_write == gpu_write == [str(tmp_path), "/dev/null", "/dev/zero"]
    assert set(gpu_read) - set(cpu_read) == {p for p in sandbox_gpu.DRIVER_READ_ONLY if os.path.exists(p)} - set(cpu_read)
    assert child._gpu_device_nodes({"mode": "cpu", "device_nodes": ["/dev/nvidia0"]}) == []
    # Only /dev/nvidia* names that exist, whatever a (trusted, yet checked) message says.
    assert child._gpu_device_nodes({"mode": "gpu", "device_nodes": ["/etc/passwd", "/dev/nvidia9", 3]}) == []
    # Read, write and ioctl on a device node: no execute, no truncate, nothing on folders.
    assert child._LANDLOCK_DEVICE == (1 << 1) | (1 << 2) | (1 << 15)


def test_the_recorded_device_is_the_childs_only_in_gpu_mode():
    raw = {"status": "ok", "error_code": None, "error_params": {}, "layers": [], "param_count": 0,
           "isolation": {}}
    for device, valid in (("cpu", True), ("gpu:0", True), ("gpu:12", True), ("tpu", False), ("gpu:123", False),
                          (7, False)):
        data = sandbox._validated_result(json.dumps({**raw, "device": device}).encode())
        assert (data is not None) == valid, device
    data = sandbox._validated_result(json.dumps({**raw, "device": "gpu:0"}).encode())
    assert sandbox._reported_device(data, DevicePlan(mode="cpu")) == "cpu"
    assert sandbox._reported_device(data, DevicePlan(mode="gpu", device_nodes=("/dev/nvidia0",))) == "gpu:0"
    assert sandbox._reported_device(None, DevicePlan(mode="gpu")) == "cpu"
    assert sandbox._validated_result(json.dumps(raw).encode())["device"] == "cpu"  # an older child


def test_the_forkserver_preloads_keras_on_jax_without_starting_a_backend():
    pytest.importorskip("jax")
    code = ("import workers.sandbox_child, keras, sys\n"
            "from jax._src import xla_bridge\n"
            "print('BACKEND', keras.backend.backend(), 'INITIALISED', xla_bridge.backends_are_initialized())\n")
    env = {**os.environ, "KERAS_BACKEND": "jax", child.FORKSERVER_ENV: "1", "JAX_PLATFORMS": "cpu",
           "CUDA_VISIBLE_DEVICES": "-1", "PYTHONPATH": f"{ROOT}:{ROOT / 'platform'}", "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert "BACKEND jax INITIALISED False" in out.stdout, out.stderr[-2000:]


# --- the JAX backend in the real jail ------------------------------------------------------------



@pytest.fixture(scope="module")
def jax_case(tmp_path_factory):
    pytest.importorskip("jax")
    keras = pytest.importorskip("keras")
    folder = tmp_path_factory.mktemp("jax-jail")
    keras.utils.set_random_seed(3)
    layers = keras.layers
    model = keras.Sequential([keras.Input((16, 16, 1)), layers.Rescaling(1 / 255), layers.Conv2D(6, 3, activation="relu"),
                              layers.BatchNormalization(), layers.MaxPooling2D(), layers.Flatten(),
                              layers.Dense(4, activation="softmax")])
    inputs = np.random.default_rng(1).uniform(0, 255, (300, 16, 16, 1)).astype("float32")  # 256 + a padded 44
    model.save(folder / "model.keras")
    np.save(folder / "inputs.npy", inputs)
    return folder, model.predict(inputs, verbose=0)


def _run_driver(folder: Path, mode: str) -> list[dict]:
    # The scratch root stays where the sandbox puts it (the temp folder, which the jail's uid can
    # traverse; pytest's own folders are private).
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": f"{ROOT}:{ROOT / 'platform'}", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("STRIDE_SANDBOX_DEVICE", None)
    out = subprocess.run([sys.executable, "-m", "workers.tests.jax_jail_driver", str(folder / "model.keras"),
                          str(folder / "inputs.npy"), mode], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    lines = [line for line in out.stdout.splitlines() if line.startswith("@@RESULT@@")]
    assert lines, out.stderr[-4000:]
    return json.loads(lines[0][len("@@RESULT@@"):])


@pytest.mark.keras
def test_jax_grades_in_the_jail_as_tensorflow_does_and_its_warm_up_runs(jax_case):
    folder, expected = jax_case
    for run in _run_driver(folder, "cpu"):
        assert run["ok"], run["error"]
        # A .keras saved on TensorFlow, predicted on JAX in the jail: the same numbers.
        np.testing.assert_allclose(np.array(run["predictions"]), expected, rtol=1e-4, atol=1e-5)
        isolation = run["isolation"]
        assert run["device"] == "cpu" and isolation["device"] == "cpu"
        assert isolation["seccomp"] == "on" and isolation["filesystem"].startswith("landlock")
        assert isolation["pid"] == "own PID namespace"
        # The spare warmed up on JAX the job's way (model, its .keras round trip, one compiled batch).
        assert isolation["warm_up"].startswith("model, load, batch "), isolation
        assert int(isolation["memory"]) == sandbox.SandboxLimits().memory_bytes  # RLIMIT_AS as on the CPU


@pytest.mark.keras
def test_gpu_mode_without_cuda_grades_on_the_cpu_and_says_why(jax_case):
    folder, expected = jax_case
    for run in _run_driver(folder, "gpu-forced"):
        assert run["ok"], run["error"]
        np.testing.assert_allclose(np.array(run["predictions"]), expected, rtol=1e-4, atol=1e-5)
        if run["device"] == "gpu:0":  # a GPU host with the gpu extra: the real thing
            continue
        assert run["device"] == "cpu"
        assert run["isolation"]["device"].startswith("cpu (GPU mode, but CUDA did not start"), run["isolation"]
        # Still the whole jail, and the CPU's address-space limit (no CUDA mapped).
        assert run["isolation"]["seccomp"] == "on" and run["isolation"]["filesystem"].startswith("landlock")
        assert int(run["isolation"]["memory"]) == sandbox.SandboxLimits().memory_bytes
