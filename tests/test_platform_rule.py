"""``import platform`` must be the standard library everywhere (DESIGN.md, "The platform name")."""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()


def _is_stdlib(path: str) -> bool:
    return Path(path).resolve().parent == STDLIB


def test_platform_is_stdlib_in_pytest():
    import platform

    assert _is_stdlib(platform.__file__)
    assert callable(platform.system)


def test_platform_is_stdlib_in_the_web_process():
    code = (
        "import django, platform; django.setup(); from config.wsgi import application; "
        "import platform as p2; print(p2.__file__)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert _is_stdlib(out.stdout.strip().splitlines()[-1])


def test_platform_is_stdlib_through_manage_py():
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", "import platform; print(platform.__file__)"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
    )
    assert out.returncode == 0, out.stderr
    assert _is_stdlib(out.stdout.strip().splitlines()[-1])


def test_platform_folder_is_not_a_package_and_hides_no_stdlib_name():
    assert not (ROOT / "platform" / "__init__.py").exists()
    platform_dir = ROOT / "platform"
    # Every folder at any depth, and the modules directly on the path (inside an app package,
    # a module such as courses/selectors.py is courses.selectors and shadows nothing).
    candidates = [p for p in platform_dir.rglob("*") if p.is_dir() and p.name != "__pycache__"]
    candidates += [p for p in platform_dir.glob("*.py")]
    offenders = [str(p.relative_to(ROOT)) for p in candidates if p.stem in sys.stdlib_module_names]
    assert offenders == [], f"these names shadow the standard library: {offenders}"
