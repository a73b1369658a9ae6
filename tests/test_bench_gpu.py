"""bench/gpu.py says plainly when there is no GPU, and measures nothing then (issue #13)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="a GPU driver is here: bench.gpu would measure")
def test_without_a_gpu_it_says_so_and_measures_nothing():
    out = subprocess.run([sys.executable, "-m", "bench.gpu", "--quick"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "no GPU here" in out.stdout and "nothing measured" in out.stdout, out.stdout


def test_the_reason_names_what_is_missing(monkeypatch):
    from bench import gpu

    monkeypatch.setattr(gpu.shutil, "which", lambda name: None)
    assert "nvidia-smi is not installed" in gpu.gpu_absent_reason()
    figures = gpu.main(["--quick"])
    assert figures["gpu"] is None and "nvidia-smi" in figures["reason"]


def test_the_utilisation_summary_averages_its_samples():
    from bench.gpu import Utilisation

    sampler = Utilisation()
    assert sampler.summary() == {}
    sampler.samples = [(50.0, 1000.0), (100.0, 3000.0)]
    assert sampler.summary() == {"utilisation_mean_pct": 75.0, "utilisation_max_pct": 100.0, "memory_max_mib": 3000.0,
                                 "samples": 2}
