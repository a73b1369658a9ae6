"""docker-compose.yml is valid, and every service runs a command that exists in this repo."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = {"web", "worker-gpu", "worker-default", "beat", "postgres", "redis", "flower", "seaweedfs"}
STRIDE = ("web", "worker-gpu", "worker-default", "beat", "flower")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


# CI installs docker-compose (.ci/run): there a missing one is a failure, not a skip.
@pytest.mark.skipif(shutil.which("docker-compose") is None and os.environ.get("CI") != "true",
                    reason="docker-compose is not installed")
def test_docker_compose_config_validates(tmp_path):
    env = {**os.environ, "STRIDE_SECRETS_DIR": str(tmp_path)}
    out = subprocess.run(["docker-compose", "config"], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    resolved = yaml.safe_load(out.stdout)
    # Each secret is a file in STRIDE_SECRETS_DIR (./secrets by default, never in the image).
    assert {name: Path(s["file"]).parent for name, s in resolved["secrets"].items()} == {
        name: tmp_path for name in SECRETS}


def test_flower_is_on_loopback_only_and_asks_for_a_password(compose):
    flower = compose["services"]["flower"]
    assert all(str(port).startswith("127.0.0.1:") for port in flower["ports"]), flower["ports"]
    # The password comes from a secret file that workers/flowerconfig.py reads (it refuses to
    # start Flower without one: tests/test_secret_files.py).
    assert "--conf=workers/flowerconfig.py" in flower["command"].split()
    assert flower["environment"]["STRIDE_FLOWER_BASIC_AUTH_FILE"] == "/run/secrets/flower_basic_auth"
    assert "flower_basic_auth" in flower["secrets"]
    assert (ROOT / "workers" / "flowerconfig.py").is_file()
    # Flower's own environment still runs Stride's settings (the merge key is shallow).
    assert flower["environment"]["DJANGO_SETTINGS_MODULE"] == "config.settings.production"


# name of the secret -> the variable each Stride service reads it through (X_FILE)
SECRETS = {"django_secret_key": "DJANGO_SECRET_KEY", "postgres_password": "DATABASE_PASSWORD",
           "s3_secret_key": "STRIDE_S3_SECRET_KEY", "hidden_set_key": "STRIDE_HIDDEN_SET_KEY",
           "flower_basic_auth": "STRIDE_FLOWER_BASIC_AUTH"}


def test_no_secret_is_in_any_environment_each_comes_from_a_file(compose):
    """A process's environment is readable by anything of its user (/proc/PID/environ): the
    services get their secrets as files under /run/secrets, through X_FILE."""
    assert set(compose["secrets"]) == set(SECRETS)
    for name, service in compose["services"].items():
        env = service.get("environment") or {}
        for key, value in env.items():
            if any(word in key for word in ("SECRET", "PASSWORD", "BASIC_AUTH")):
                assert key.endswith("_FILE"), (name, key)
                secret = Path(str(value)).name
                assert str(value) == f"/run/secrets/{secret}" and secret in service["secrets"], (name, key)
        for key in ("DATABASE_URL", "CELERY_BROKER_URL"):
            assert urlsplit(str(env.get(key, ""))).password is None, (name, key)  # no password in a URL
    for name in STRIDE:
        env = compose["services"][name]["environment"]
        for secret, variable in SECRETS.items():
            if secret != "flower_basic_auth":
                assert env[f"{variable}_FILE"] == f"/run/secrets/{secret}", (name, variable)
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == \
        "/run/secrets/postgres_password"
    assert "/run/secrets/s3_secret_key" in compose["services"]["seaweedfs"]["command"][0]
    assert "secrets/" in (ROOT / ".dockerignore").read_text().split()


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
