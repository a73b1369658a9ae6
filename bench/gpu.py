"""The GPU figures: diffusion images/s by batch size and model grading, GPU against the CPU.

Where a GPU is present (an NVIDIA device that ``nvidia-smi`` lists and that JAX sees, with the
``gpu`` extra installed), both devices are measured in the same run, each in a process of its
own on Keras' JAX backend (``JAX_PLATFORMS=cuda`` or ``cpu``):

- diffusion: images/s through ``grader.diffusion.pipeline`` (what a worker calls), 50 DDIM
  steps, guidance 3, batch sizes 1 to 256; the first call of each size (XLA's compilation)
  is left out;
- grading: submissions/s of a small CNN loaded (``safe_mode``) and predicting 1,000 images of
  the course's model exercise, what the jail's child does, without the jail;
- grading **through the real jail** for each of the course's model exercises (``shapes32``,
  ``fruits32``): the jail in GPU mode (``KERAS_BACKEND=jax``, ``STRIDE_SANDBOX_DEVICE=gpu``)
  against the same jail on the CPU with JAX and with TensorFlow, one job at a time with the
  spare ready and back to back (``bench.grading_sandbox.compare_backends``), with the device
  each jail reported;
- the GPU's utilisation and memory while the GPU process runs, sampled from ``nvidia-smi``.

The figures are ratios GPU/CPU measured side by side. Where no GPU is present it says so
plainly, measures nothing, and returns ``{"gpu": null, "reason": ...}``; with ``--sandbox-cpu``
it then measures the jail on this host's CPU only (JAX against TensorFlow), and says so.

    .venv/bin/python -m bench.gpu [--quick] [--batches 1 4 16 64 256] [--steps 50] [--sandbox-cpu]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = "@@stride-gpu-child@@ "
BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256]


def gpu_absent_reason() -> str | None:
    """Why there is no usable GPU here, or None when there is one."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "no GPU here: nvidia-smi is not installed (no NVIDIA driver on this machine)"
    listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
    if listed.returncode != 0 or "GPU" not in listed.stdout:
        return f"no GPU here: nvidia-smi lists none ({(listed.stderr or listed.stdout).strip()[:200]})"
    probe = subprocess.run([sys.executable, "-c", "import jax; print(jax.devices()[0].platform)"],
                           capture_output=True, text=True, timeout=300, env={**os.environ, "JAX_PLATFORMS": "cuda"})
    if probe.returncode != 0 or probe.stdout.strip() != "gpu":
        return ("a GPU is listed, but JAX cannot use it: install the gpu extra (pip install -e '.[gpu]'); "
                + (probe.stderr.strip().splitlines() or [""])[-1][:200])
    return None


class Utilisation:
    """``nvidia-smi`` sampled every ``interval`` seconds in a thread, while a block runs."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.samples, self._stop = interval, [], threading.Event()

    def _run(self):
        while not self._stop.is_set():
            out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits",
                                  "-i", "0"], capture_output=True, text=True)
            try:
                util, memory = (float(v) for v in out.stdout.strip().split(","))
                self.samples.append((util, memory))
            except ValueError:
                pass
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)

    def summary(self) -> dict:
        if not self.samples:
            return {}
        utils = [u for u, _ in self.samples]
        return {"utilisation_mean_pct": round(statistics.mean(utils), 1), "utilisation_max_pct": max(utils),
                "memory_max_mib": max(m for _, m in self.samples), "samples": len(self.samples)}


# --- the measuring child (one per device) ------------------------------------------------------
def _child(device: str, batches: list[int], steps: int, submissions: int) -> dict:
    import numpy as np

    from bench.diffusion import requests as diffusion_requests
    from grader.diffusion.pipeline import Pipeline

    pipeline = Pipeline()
    diffusion = {}
    for batch in batches:
        reqs = diffusion_requests(batch)
        pipeline.generate(reqs, steps)  # compiles for this shape: not counted
        start = time.perf_counter()
        pipeline.generate(reqs, steps)
        diffusion[str(batch)] = round(batch / (time.perf_counter() - start), 2)

    import keras

    from grader.datasets import DATASETS, generate

    spec = DATASETS["shapes32"]
    x, _y = generate("shapes32", n=1000, seed=7)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=tuple(spec.input_shape)), keras.layers.Rescaling(1 / 255),
                              keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(2),
                              keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(2),
                              keras.layers.Flatten(), keras.layers.Dense(len(spec.class_names), activation="softmax")])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        keras.saving.load_model(path).predict(x.astype("float32"), verbose=0)  # compile: not counted
        start = time.perf_counter()
        for _ in range(submissions):
            loaded = keras.saving.load_model(path, safe_mode=True)
            np.asarray(loaded.predict(x.astype("float32"), verbose=0, batch_size=256)).argmax(axis=1)
            keras.backend.clear_session()
        grading = round(submissions / (time.perf_counter() - start), 3)
    from workers.devices import backend_device

    return {"device": backend_device(), "diffusion_images_per_s": diffusion, "grading_submissions_per_s": grading}


def _run_child(platform: str, args) -> dict:
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": platform, "PYTHONPATH": f"{ROOT}:{ROOT / 'platform'}"}
    cmd = [sys.executable, "-m", "bench.gpu", "--child", "--batches", *map(str, args.batches), "--steps", str(args.steps),
           "--submissions", str(args.submissions)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise RuntimeError(f"the {platform} child failed:\n{proc.stderr[-3000:]}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="batch sizes 1, 16, 64 and 5 submissions")
    parser.add_argument("--batches", type=int, nargs="+", default=None)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--submissions", type=int, default=None)
    parser.add_argument("--sandbox-cpu", action="store_true",
                        help="without a GPU: measure the jail on the CPU (JAX vs TensorFlow) instead")
    parser.add_argument("--jail-jobs", type=int, default=None, help="jobs per jail measured (default 10, 3 quick)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.batches = args.batches or ([1, 16, 64] if args.quick else BATCHES)
    args.submissions = args.submissions or (5 if args.quick else 30)
    if args.child:
        figures = _child(os.environ.get("JAX_PLATFORMS", "cpu"), args.batches, args.steps, args.submissions)
        print(MARK + json.dumps(figures), flush=True)
        return figures

    jail_jobs = args.jail_jobs or (3 if args.quick else 10)
    reason = gpu_absent_reason()
    if reason is not None:
        print(f"bench.gpu: {reason}.")
        print("bench.gpu: nothing measured on a GPU. Run it on a GPU worker host (the gpu extra, KERAS_BACKEND=jax): "
              "python -m bench.gpu")
        figures = {"gpu": None, "reason": reason}
        if args.sandbox_cpu:
            print("bench.gpu: the jail on this host's CPU only (no GPU here):")
            figures["jail_cpu_only"] = _jail(["tensorflow", "jax"], jail_jobs, args.quick)
        return figures

    with Utilisation() as utilisation:
        gpu = _run_child("cuda", args)
    cpu = _run_child("cpu", args)
    figures = {"gpu": gpu, "cpu": cpu, "gpu_utilisation": utilisation.summary(), "steps": args.steps,
               "speedup_diffusion": {b: round(gpu["diffusion_images_per_s"][b] / cpu["diffusion_images_per_s"][b], 2)
                                     for b in gpu["diffusion_images_per_s"]},
               "speedup_grading": round(gpu["grading_submissions_per_s"] / cpu["grading_submissions_per_s"], 2)}
    print(f"diffusion at {args.steps} steps, images/s (GPU {gpu['device']} vs the host's CPU):")
    for batch, speedup in figures["speedup_diffusion"].items():
        print(f"  batch {batch:>3}: {gpu['diffusion_images_per_s'][batch]:>8.2f} vs "
              f"{cpu['diffusion_images_per_s'][batch]:>7.2f}  ({speedup}x)")
    print(f"grading (load + predict 1,000 images): {gpu['grading_submissions_per_s']} vs "
          f"{cpu['grading_submissions_per_s']} submissions/s ({figures['speedup_grading']}x)")
    print(f"GPU utilisation while measured: {figures['gpu_utilisation']}")
    figures["jail_cpu"] = _jail(["tensorflow", "jax"], jail_jobs, args.quick)
    with Utilisation() as jail_utilisation:
        figures["jail_gpu"] = _jail(["jax:gpu"], jail_jobs, args.quick)
    figures["jail_gpu_utilisation"] = jail_utilisation.summary()
    print(f"GPU utilisation while the jail graded on it: {figures['jail_gpu_utilisation']}")
    return figures


def _jail(configs: list[str], jobs: int, quick: bool) -> dict:
    """The real jail on each config, for the course's model exercises' datasets."""
    from bench.grading_sandbox import compare_backends, print_backends

    results = {}
    for dataset in (["shapes32"] if quick else ["shapes32", "fruits32"]):
        results[dataset] = compare_backends(configs, jobs=jobs, images=1000, dataset=dataset)
        print_backends(results[dataset], what=f"1,000 images of {dataset}")
    return results


if __name__ == "__main__":
    main()
