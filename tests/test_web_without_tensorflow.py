"""The web process never imports TensorFlow or Keras (DESIGN.md: instant exercises are graded
in the request, and only the workers and their sandbox load Keras).

A fresh interpreter sets Django up, serves two pages, imports every module of the web side,
then looks in sys.modules. An import hook records the first import of each heavy package with
the module being imported at the time and the stack, so a failure says who pulled it in.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r'''
import importlib
import os
import sys
import traceback
from pathlib import Path

ROOT = Path(os.getcwd())
sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]
HEAVY = ("tensorflow", "keras")
seen = {}
current = ["(start-up)"]


class HeavyImportSpy:
    """Records, without blocking it, the first import of each heavy package."""

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in HEAVY and top not in seen:
            frames = [f for f in traceback.format_stack(limit=60)[:-1] if "<frozen importlib" not in f]
            seen[top] = (current[0], "".join(frames))
        return None


sys.meta_path.insert(0, HeavyImportSpy())

import django

current[0] = "django.setup()"
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment

setup_test_environment()
current[0] = "config.urls"
importlib.import_module("config.urls")

client = Client()
for url in ("/accounts/login/", "/api/v1/openapi.json"):
    current[0] = "GET " + url
    response = client.get(url)
    if response.status_code != 200:
        print(f"FAIL: GET {url} answered {response.status_code}")
        sys.exit(2)
assert b"openapi" in client.get("/api/v1/openapi.json").content

PACKAGES = {
    "exercises": ROOT / "exercises",
    "grader": ROOT / "grader",
    "courses": ROOT / "platform" / "courses",
    "accounts": ROOT / "platform" / "accounts",
    "gradebook": ROOT / "platform" / "gradebook",
    "config": ROOT / "platform" / "config",
}
# Offline training scripts (python -m grader.backbone.train) need Keras and never run in the web.
OFFLINE_SCRIPTS = {"train"}
# Worker-only modules: the diffusion networks are Keras layers by definition. The web side
# reaches the diffusion package only through vocab, schedule, scoring and pipeline, which
# import Keras inside the worker's calls; this walk checks exactly that.
WORKER_ONLY = {"grader.diffusion.model", "grader.diffusion.report"}
imported = []
for package, folder in PACKAGES.items():
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(folder).with_suffix("").parts
        if "tests" in parts or "conftest" in parts:
            continue
        if parts[-1] in OFFLINE_SCRIPTS:
            continue
        name = ".".join((package, *parts[:-1])) if parts[-1] == "__init__" else ".".join((package, *parts))
        if name in WORKER_ONLY:
            continue
        current[0] = name
        importlib.import_module(name)
        imported.append(name)

print(f"imported {len(imported)} modules")
heavy = [top for top in HEAVY if top in sys.modules]
if heavy or seen:
    for top in HEAVY:
        if top in seen:
            module, stack = seen[top]
            print(f"FAIL: {top} was imported while importing {module!r}; the stack was:")
            print(stack)
    print(f"FAIL: in sys.modules: {heavy}")
    sys.exit(1)
print("OK: no tensorflow, no keras")
'''


def test_the_web_side_never_imports_tensorflow_or_keras(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        # Embedded, so no server is needed; the pages served here read no table.
        "DATABASE_URL": f"sqlite:///{tmp_path / 'web.sqlite3'}",
        # So that config.settings.production imports too.
        "DJANGO_SECRET_KEY": "a-test-secret-key-that-is-long-enough-0123456789abcdef",
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "PYTHONPATH": "",
    }
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    report = f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr[-5000:]}"
    assert result.returncode == 0, report
    assert "OK: no tensorflow, no keras" in result.stdout, report
    count = int(result.stdout.split("imported ")[1].split()[0])
    assert count > 50, report  # the walk really found the modules
