"""The layout's rules hold, and breaking one fails (issue #11).

``bin/test`` runs ``ruff check`` and ``lint-imports`` on the tree before pytest; here a copy of
the tree with one deliberate violation shows that the contracts do catch it, and the task names
are checked against the functions they run.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["exercises", "grader", "workers", "platform"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _copy_tree(tmp_path: Path) -> Path:
    """The Python files of the site and pyproject.toml, nothing else (fast: no weights, no seed)."""
    copy = tmp_path / "tree"
    for package in PACKAGES:
        shutil.copytree(ROOT / package, copy / package,
                        ignore=lambda folder, names: [n for n in names if not (n.endswith(".py") or (Path(folder) / n).is_dir())
                                                      or n == "__pycache__"])
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def _lint_imports(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{tree / 'platform'}:{tree}"})


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    if not LINT_IMPORTS.exists():
        pytest.skip("import-linter is not installed (the test extra)")
    return _copy_tree(tmp_path_factory.mktemp("architecture"))


def test_the_contracts_hold_on_the_tree(tree):
    done = _lint_imports(tree)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(("module", "source", "contract"), [
    ("exercises/types/zz_breaks_layers.py", "from exercises.engine import policy\n",
     "exercises layers"),
    ("exercises/lab/zz_imports_workers.py", "from workers import sandbox\n",
     "exercises never imports workers"),
    ("grader/zz_imports_django.py", "import django.db\n",
     "grader is pure Python"),
    ("exercises/engine/zz_imports_keras.py", "import keras\n",
     "No TensorFlow or Keras in the web process"),
])
def test_a_deliberate_violation_breaks_its_contract(tree, module, source, contract):
    path = tree / module
    path.write_text(source)
    try:
        done = _lint_imports(tree)
    finally:
        path.unlink()
    assert done.returncode != 0
    broken = [line for line in done.stdout.splitlines() if " BROKEN" in line]
    assert any(line.startswith(contract) for line in broken), done.stdout


def test_ruff_fails_on_a_lint_error(tmp_path):
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed (the test extra)")
    bad = tmp_path / "exercises" / "bad.py"
    bad.parent.mkdir()
    bad.write_text("import os\n")
    done = subprocess.run([str(ruff), "check", "--config", str(ROOT / "pyproject.toml"), str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "F401" in done.stdout


def test_each_task_is_named_by_its_dotted_path_and_the_old_names_still_run_it():
    from workers import tasks
    from workers.celery import app

    for name in ("ping", "grade_submission", "sweep_submissions", "generate", "sweep_generations"):
        task = getattr(tasks, name)
        assert task.name == f"workers.tasks.{name}"
        assert app.tasks[task.name].run is task.run
    queues = {"ping": "default", "grade_submission": "gpu", "sweep_submissions": "default", "generate": "gpu",
              "sweep_generations": "default"}
    for name, queue in queues.items():
        assert app.amqp.router.route({}, f"workers.tasks.{name}")["queue"].name == queue
    for old_name, (task, _options) in tasks.LEGACY_NAMES.items():
        assert app.tasks[old_name].run is task.run and app.tasks[old_name].acks_late == task.acks_late
        assert app.amqp.router.route({}, old_name)["queue"].name == queues[task.name.rsplit(".", 1)[1]]
