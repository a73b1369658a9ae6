"""docker-compose.yml is valid, and every service runs a command that exists in this repo."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = {"web", "worker-gpu", "worker-default", "beat", "postgres", "redis", "flower", "seaweedfs"}
STRIDE = ("web", "worker-gpu", "worker-default", "beat", "flower")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
def test_docker_compose_config_validates():
    env = {**os.environ, "FLOWER_BASIC_AUTH": "admin:secret"}
    out = subprocess.run(["docker-compose", "config", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    # Without a password for Flower the stack refuses to start, saying why.
    env.pop("FLOWER_BASIC_AUTH")
    out = subprocess.run(["docker-compose", "config", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode != 0 and "FLOWER_BASIC_AUTH" in out.stderr


def test_flower_is_on_loopback_only_and_asks_for_a_password(compose):
    flower = compose["services"]["flower"]
    assert all(str(port).startswith("127.0.0.1:") for port in flower["ports"]), flower["ports"]
    assert "FLOWER_BASIC_AUTH" in flower["environment"]
    # Flower's own environment still runs Stride's settings (the merge key is shallow).
    assert flower["environment"]["DJANGO_SETTINGS_MODULE"] == "config.settings.production"


def test_every_service_is_there(compose):
    assert EXPECTED <= set(compose["services"])


def test_gpu_worker_takes_the_gpu_queue_alone_with_a_device_reservation(compose):
    gpu = compose["services"]["worker-gpu"]
    command = gpu["command"].split()
    assert command[command.index("-Q") + 1] == "gpu"
    assert command[command.index("--concurrency") + 1] == "1"
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)


def test_gpu_worker_grades_models_on_the_gpu_through_jax(compose):
    from workers.sandbox_gpu import device_plan

    env = compose["services"]["worker-gpu"]["environment"]
    assert env["KERAS_BACKEND"] == "jax" and env["STRIDE_SANDBOX_DEVICE"] == "gpu"
    assert env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    # Values the sandbox accepts (a typo would stop every grading with SandboxUnavailable).
    device_plan({key: str(value) for key, value in env.items()})
    # The other workers never ask for it.
    for name in ("worker-default", "beat", "web"):
        assert "STRIDE_SANDBOX_DEVICE" not in compose["services"][name]["environment"]


def _module_exists(dotted: str) -> bool:
    import sys

    for entry in (str(ROOT), str(ROOT / "platform")):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    return importlib.util.find_spec(dotted) is not None


@pytest.mark.parametrize("name", ["web", "worker-gpu", "worker-default", "beat", "flower"])
def test_service_commands_name_real_modules(compose, name):
    command = compose["services"][name]["command"].split()
    if command[0] == "gunicorn":
        module, _, attr = command[1].partition(":")
        assert _module_exists(module), module
        assert attr == "application"
    else:
        assert command[:2] == ["celery", "-A"]
        assert _module_exists(command[2]), command[2]
        assert command[3] in {"worker", "beat", "flower"}
    assert shutil.which(command[0]) or (Path(__import__("sys").executable).parent / command[0]).exists()


def test_the_dockerfile_installs_the_project():
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install" in text and "pyproject.toml" in text


def test_no_service_shares_a_media_volume_and_all_use_the_s3_store(compose):
    """Workers may run on other hosts: only PostgreSQL, Redis and the S3 store are shared."""
    assert "media" not in (compose.get("volumes") or {})
    for name in STRIDE:
        service = compose["services"][name]
        assert not service.get("volumes"), (name, service.get("volumes"))
        env = service["environment"]
        assert env["STRIDE_S3_ENDPOINT_URL"].endswith("seaweedfs:8333}") and env["STRIDE_S3_BUCKET"], name
        assert "seaweedfs" in service["depends_on"], name
    assert "-s3" in compose["services"]["seaweedfs"]["command"][0]


def test_the_gpu_worker_runs_keras_on_jax_with_the_gpu_extra_and_the_web_without_tensorflow(compose):
    gpu, web = compose["services"]["worker-gpu"], compose["services"]["web"]
    assert gpu["environment"]["KERAS_BACKEND"] == "jax"
    assert gpu["build"]["args"]["STRIDE_EXTRAS"] == "gpu"
    assert web["build"]["args"]["STRIDE_EXTRAS"] == "" and "deploy" not in web
    assert "KERAS_BACKEND" not in compose["services"]["worker-default"]["environment"]


def test_the_gpu_extra_brings_jax_and_its_cuda_plugin():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(d.startswith("jax") for d in extras["ml"])
    assert "stride[ml]" in extras["gpu"] and any("cuda12" in d for d in extras["gpu"])
