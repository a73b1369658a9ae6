"""What the jail costs: grading a model in the sandbox against a warm process and a fresh process,
as a root worker and as an unprivileged one, side by side in one run.

Three ways to load a .keras model and predict a test set, all running the same function
(``workers.sandbox_child.load_check_predict``), measured in one run:

- **sandboxed**: ``workers.sandbox.run_model_in_sandbox``: a fresh forked child per job, with
  the whole jail (bubblewrap, namespaces, Landlock, seccomp, limits) and the file round trip
  (what the workers do);
- **warm in-process**: a process that has imported Keras loads and predicts each time, with no
  isolation at all (the floor);
- **fresh process**: a new ``python`` per job that imports Keras, loads and predicts (the
  obvious way to get a fresh process, and the cost the sandbox avoids).

Each half reports (a) the sandbox's latency over the warm job's, jobs spaced out as students
submit (goal <= 1.5) and (b) the sandbox's throughput, jobs back to back, over a fresh process
per job (goal >= 8), with the load average and how busy the machine was. Run as root, the
benchmark measures the root half in this process, then runs the same measurement as an
unprivileged user (``setpriv --reuid=65534``, as the shipped image's ``USER stride``):

    .venv/bin/python -m bench.grading_sandbox [--jobs 10] [--fresh 4] [--images 1000] [--users root unprivileged]
    .venv/bin/python -m bench.grading_sandbox --backends tensorflow jax   # the jail on each backend

``--backends`` measures the sandboxed job alone, once per Keras backend (and device, ``jax:gpu``
for the jail in GPU mode), each in a worker-like process of its own, side by side in one run,
on a course exercise's inputs (``--dataset shapes32``, what ``bench.gpu`` uses) or the small
28x28x1 CNN above.

The building blocks return per-job latencies in seconds, for a bigger benchmark to combine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CHILD_FILE = ROOT / "workers" / "sandbox_child.py"


def _shape_of(inputs: np.ndarray) -> tuple[int, ...]:
    return tuple(int(dim) for dim in inputs.shape[1:])


def time_sandboxed(model_path: Path, inputs: np.ndarray, n: int, *, num_classes: int = 10,
                   max_params: int = 10**9, wait_for_spare: bool = True) -> list[float]:
    """Per-job latency of ``run_model_in_sandbox``. With ``wait_for_spare`` each job starts
    once the previous job's replacement child is warm (jobs spaced out, as students submit);
    without it the jobs run back to back (a regrade), and include that warm-up."""
    from workers import sandbox

    sandbox.sandbox_warm_up(wait=True)
    kwargs = dict(model_path=Path(model_path), inputs=inputs,
                  expected_input_shape=_shape_of(inputs), num_classes=num_classes,
                  max_params=max_params)
    sandbox.run_model_in_sandbox(**kwargs)  # the spare learns the job's shapes
    latencies = []
    for _ in range(n):
        if wait_for_spare:
            sandbox._wait_spare_ready()
        start = time.perf_counter()
        result = sandbox.run_model_in_sandbox(**kwargs)
        latencies.append(time.perf_counter() - start)
        if not result.ok:
            raise RuntimeError(f"sandboxed job failed: {result.error_code} {result.error}")
    return latencies


def _load_child_module():
    """workers/sandbox_child.py by path: without the ``workers`` package (Celery, Django)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("stride_sandbox_child", CHILD_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def time_warm_in_process(model_path: Path, inputs: np.ndarray, n: int, *,
                         num_classes: int = 10, max_params: int = 10**9) -> list[float]:
    """Per-job latency of load + check + predict in this process, Keras already imported
    and warmed up by one untimed job. No isolation: the floor for the sandbox."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    module = _load_child_module()

    def job():
        module.load_check_predict(str(model_path), inputs,
                                  expected_input_shape=_shape_of(inputs),
                                  num_classes=num_classes, max_params=max_params)

    job()
    latencies = []
    for _ in range(n):
        start = time.perf_counter()
        job()
        latencies.append(time.perf_counter() - start)
    return latencies


_FRESH_JOB = """
import sys, importlib.util
import numpy as np
spec = importlib.util.spec_from_file_location("stride_sandbox_child", sys.argv[1])
module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
inputs = np.load(sys.argv[3], allow_pickle=False)
predictions, _, _ = module.load_check_predict(
    sys.argv[2], inputs, expected_input_shape=inputs.shape[1:],
    num_classes=int(sys.argv[4]), max_params=10**9)
np.save(sys.argv[5], predictions, allow_pickle=False)
"""


def time_fresh_process(model_path: Path, inputs: np.ndarray, n: int, *,
                       num_classes: int = 10) -> list[float]:
    """Per-job latency of a new ``python`` that imports Keras, loads, predicts and writes the
    predictions (the inputs go through a .npy file, as in the sandbox)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    latencies = []
    with tempfile.TemporaryDirectory(prefix="stride-bench-") as folder:
        inputs_path = Path(folder) / "inputs.npy"
        np.save(inputs_path, inputs, allow_pickle=False)
        for index in range(n):
            out = Path(folder) / f"predictions-{index}.npy"
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", _FRESH_JOB, str(CHILD_FILE), str(model_path),
                            str(inputs_path), str(num_classes), str(out)],
                           check=True, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            latencies.append(time.perf_counter() - start)
    return latencies


def build_small_cnn(folder: Path, images: int, seed: int = 0) -> tuple[Path, np.ndarray]:
    """A small CNN (28x28x1 -> 10 classes) with the layers of the course's starter notebook
    (``exercises.submissions.notebooks``: what most students submit), trained one epoch on
    random data, saved as .keras; and ``images`` test inputs. Runs in a subprocess: this process
    keeps no Keras."""
    model_path = folder / "small-cnn.keras"
    inputs_path = folder / "inputs.npy"
    code = f"""
import numpy as np, keras
rng = np.random.default_rng({seed})
x = rng.uniform(0, 255, ({images}, 28, 28, 1)).astype("float32")
keras.utils.set_random_seed({seed})
model = keras.Sequential([
    keras.Input((28, 28, 1)), keras.layers.Rescaling(1 / 255),
    keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(),
    keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
    keras.layers.Flatten(), keras.layers.Dense(64, activation="relu"),
    keras.layers.Dense(10, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(x, rng.integers(0, 10, {images}), epochs=1, verbose=0)
model.save({str(model_path)!r})
np.save({str(inputs_path)!r}, x, allow_pickle=False)
"""
    subprocess.run([sys.executable, "-c", code], check=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return model_path, np.load(inputs_path, allow_pickle=False)


def build_cnn_for(folder: Path, dataset: str, images: int, seed: int = 0) -> tuple[Path, np.ndarray]:
    """A small CNN for a course dataset (``shapes32``, ``fruits32``: the model exercises'
    inputs and classes), trained one epoch on generated images; and ``images`` test inputs
    (uint8, as the worker gives them). In a subprocess: this process keeps no Keras."""
    model_path, inputs_path = folder / f"{dataset}-cnn.keras", folder / f"{dataset}-inputs.npy"
    code = f"""
import numpy as np, keras
from grader.datasets import DATASETS, generate
spec = DATASETS[{dataset!r}]
x, y = generate({dataset!r}, n={images}, seed={seed})
keras.utils.set_random_seed({seed})
model = keras.Sequential([
    keras.Input(tuple(spec.input_shape)), keras.layers.Rescaling(1 / 255),
    keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(),
    keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
    keras.layers.Flatten(), keras.layers.Dense(len(spec.class_names), activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(x.astype("float32"), y, epochs=1, verbose=0)
model.save({str(model_path)!r})
np.save({str(inputs_path)!r}, x, allow_pickle=False)
"""
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                        "PYTHONPATH": f"{ROOT}:{ROOT / 'platform'}"})
    return model_path, np.load(inputs_path, allow_pickle=False)


_MARK = "@@stride-sandbox-backend@@ "


def _sandboxed_only(model_path: Path, inputs: np.ndarray, jobs: int, num_classes: int) -> dict:
    """In a process whose KERAS_BACKEND / STRIDE_SANDBOX_DEVICE say which jail: per-job latency
    with the spare ready, back to back, and the device the jail reported."""
    from workers import sandbox

    ready = time_sandboxed(model_path, inputs, jobs, num_classes=num_classes)
    back = time_sandboxed(model_path, inputs, jobs, num_classes=num_classes, wait_for_spare=False)
    sandbox._wait_spare_ready()
    last = sandbox.run_model_in_sandbox(model_path=Path(model_path), inputs=inputs,
                                        expected_input_shape=_shape_of(inputs),
                                        num_classes=num_classes, max_params=10**9)
    sandbox.sandbox_shutdown()
    return {"ready_s": statistics.median(ready), "back_to_back_s": statistics.median(back),
            "device": last.device, "device_note": last.isolation.get("device", ""),
            "warm_up": last.isolation.get("warm_up", "")}


def compare_backends(configs: list[str], *, jobs: int, images: int, dataset: str | None = None) -> dict:
    """``configs`` like ``["tensorflow", "jax", "jax:gpu"]``: the jail on each, one process
    each (a forkserver belongs to its process), on the same model and inputs."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="stride-bench-") as folder:
        if dataset:
            from grader.datasets import DATASETS

            model_path, inputs = build_cnn_for(Path(folder), dataset, images)
            classes = len(DATASETS[dataset].class_names)
        else:
            model_path, inputs = build_small_cnn(Path(folder), images)
            classes = 10
        inputs_path = Path(folder) / "inputs.npy"
        np.save(inputs_path, inputs, allow_pickle=False)
        for config in configs:
            backend, _, device = config.partition(":")
            env = {**os.environ, "KERAS_BACKEND": backend, "STRIDE_SANDBOX_DEVICE": device or "cpu",
                   "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": f"{ROOT}:{ROOT / 'platform'}"}
            out = subprocess.run([sys.executable, "-m", "bench.grading_sandbox", "--child",
                                  str(model_path), str(inputs_path), str(jobs), str(classes)],
                                 cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
            lines = [line for line in out.stdout.splitlines() if line.startswith(_MARK)]
            if not lines:
                raise RuntimeError(f"the {config} sandbox failed:\n{out.stderr[-3000:]}")
            results[config] = json.loads(lines[-1][len(_MARK):])
    base = results[configs[0]]["ready_s"]
    for figures in results.values():
        figures["submissions_per_s"] = round(1 / figures["ready_s"], 2)
        figures["over_first"] = round(figures["ready_s"] / base, 2)
    return results


def print_backends(results: dict, *, what: str) -> None:
    first = next(iter(results))
    print(f"the jail, one job at a time ({what}; {os.cpu_count()} CPUs):")
    for config, figures in results.items():
        print(f"  {config:<12} device {figures['device']:<6} spare ready {figures['ready_s'] * 1000:7.0f} ms "
              f"({figures['submissions_per_s']:5.2f}/s)   back to back {figures['back_to_back_s'] * 1000:7.0f} ms   "
              f"x{figures['over_first']:.2f} of {first}")
        if figures["device_note"] not in ("", "cpu", figures["device"]):
            print(f"  {'':<12} {figures['device_note']}")


def _ms(values: list[float]) -> str:
    return (f"median {statistics.median(values) * 1000:7.1f} ms   "
            f"min {min(values) * 1000:7.1f}   max {max(values) * 1000:7.1f}")


UNPRIVILEGED_UID = 65534  # nobody: owns nothing of the worker's, as the image's USER stride


def _busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as handle:
        values = [int(value) for value in handle.readline().split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)


def _own_cpu_seconds() -> float:
    import resource

    return sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


def measure(model_path: Path, inputs: np.ndarray, n: int, fresh_jobs: int = 4) -> dict:
    """One half of the benchmark, as this process's user: the sandbox (spaced out and back to
    back), the warm job and a fresh process per job, with the machine's load around them."""
    from workers import sandbox

    load_before = os.getloadavg()[0]
    busy0, total0 = _busy()
    own0 = _own_cpu_seconds()
    started = time.perf_counter()
    # Alternate the two fast measurements so that the machine's load hits both alike.
    sandboxed, back_to_back, warm = [], [], []
    for _ in range(2):
        sandboxed += time_sandboxed(model_path, inputs, n // 2 or 1)
        warm += time_warm_in_process(model_path, inputs, n // 2 or 1)
        back_to_back += time_sandboxed(model_path, inputs, n // 2 or 1, wait_for_spare=False)
    probe = sandbox.run_model_in_sandbox(
        model_path=Path(model_path), inputs=inputs[:8], expected_input_shape=_shape_of(inputs),
        num_classes=10, max_params=10**9)
    fresh = time_fresh_process(model_path, inputs, fresh_jobs)
    sandbox.sandbox_shutdown()
    busy1, total1 = _busy()
    machine_cpu = (busy1 - busy0) / (os.sysconf("SC_CLK_TCK") or 100)
    med = {name: statistics.median(values) for name, values in
           (("sandboxed", sandboxed), ("back_to_back", back_to_back), ("warm", warm),
            ("fresh", fresh))}
    # Throughput: jobs per second, one after another (a queue of submissions, one worker).
    throughput = {"sandbox_back_to_back": len(back_to_back) / sum(back_to_back),
                  "fresh": len(fresh) / sum(fresh)}
    return {
        "uid": os.geteuid(), "jobs": len(sandboxed), "fresh_jobs": len(fresh),
        "images": len(inputs),
        "isolation": probe.isolation,
        "medians_ms": {name: round(value * 1000, 1) for name, value in med.items()},
        "throughput_jobs_per_s": {name: round(value, 3) for name, value in throughput.items()},
        "sandboxed_over_warm": med["sandboxed"] / med["warm"],
        "back_to_back_over_warm": med["back_to_back"] / med["warm"],
        "throughput_over_fresh": throughput["sandbox_back_to_back"] / throughput["fresh"],
        "fresh_over_sandboxed": med["fresh"] / med["sandboxed"],
        "isolation_overhead_ms": (med["sandboxed"] - med["warm"]) * 1000,
        "seconds": round(time.perf_counter() - started, 1),
        "loadavg_before": round(load_before, 2), "loadavg_after": round(os.getloadavg()[0], 2),
        "machine_busy_fraction": round((busy1 - busy0) / max(total1 - total0, 1), 3),
        "own_share_of_busy_cpu": round((_own_cpu_seconds() - own0) / max(machine_cpu, 1e-9), 3),
    }


def _measure_unprivileged(model_path: Path, inputs_path: Path, n: int, fresh_jobs: int) -> dict:
    """The same measurement in a process dropped to an unprivileged user (setpriv), on copies
    of the model and the inputs it can read, with its own HOME, scratch and var/."""
    import json
    import shutil

    if os.geteuid() != 0:
        raise SystemExit("the unprivileged half is started from a root process")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise SystemExit("setpriv (util-linux) is needed to drop to an unprivileged user")
    uid = UNPRIVILEGED_UID
    work = Path(tempfile.mkdtemp(prefix="stride-bench-unprivileged-"))
    try:
        os.chmod(work, 0o711)  # the user traverses it; under umask 077 nobody else lists it
        os.chown(work, uid, uid)
        model = work / "model.keras"
        data = work / "inputs.npy"
        for source, target in ((model_path, model), (inputs_path, data)):
            shutil.copy(source, target)
            os.chown(target, uid, uid)
        out = work / "figures.json"
        env = {key: value for key, value in os.environ.items()
               if key in ("PATH", "LANG", "LC_ALL", "TZ", "KERAS_BACKEND")}
        env.update(HOME=str(work), TMPDIR=str(work), TF_CPP_MIN_LOG_LEVEL="3",
                   STRIDE_SANDBOX_DIR=str(work / "scratch"), STRIDE_VAR_DIR=str(work / "var"),
                   PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'platform'}",
                   PYTHONDONTWRITEBYTECODE="1")
        argv = [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--",
                sys.executable, "-m", "bench.grading_sandbox", "--users", "self",
                "--model", str(model), "--inputs", str(data), "--jobs", str(n),
                "--fresh", str(fresh_jobs), "--figures-out", str(out)]
        run = subprocess.run(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        if run.returncode != 0 or not out.exists():
            raise RuntimeError(f"the unprivileged half failed ({run.returncode}); if it cannot "
                               f"run {sys.executable}, make the folders above it traversable "
                               f"(chmod o+x, as .ci/run does):\n{run.stdout[-3000:]}")
        return json.loads(out.read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _print_half(label: str, fig: dict) -> None:
    med, thr = fig["medians_ms"], fig["throughput_jobs_per_s"]
    print(f"-- {label} worker (uid {fig['uid']}; the job ran as {fig['isolation'].get('user')}), "
          f"{fig['jobs']} jobs each, {fig['seconds']} s; load average {fig['loadavg_before']} "
          f"-> {fig['loadavg_after']}, machine {100 * fig['machine_busy_fraction']:.0f} % busy, "
          f"this benchmark {100 * fig['own_share_of_busy_cpu']:.0f} % of that")
    print(f"  sandboxed, spare ready     median {med['sandboxed']:7.1f} ms")
    print(f"  sandboxed, back to back    median {med['back_to_back']:7.1f} ms   "
          f"{thr['sandbox_back_to_back']:.2f} jobs/s")
    print(f"  warm process, no sandbox   median {med['warm']:7.1f} ms")
    print(f"  fresh python per job       median {med['fresh']:7.1f} ms   {thr['fresh']:.2f} jobs/s")
    print(f"  (a) sandboxed / warm                  {fig['sandboxed_over_warm']:5.2f}   (goal <= 1.5)")
    print(f"      back to back / warm               {fig['back_to_back_over_warm']:5.2f}")
    print(f"  (b) sandbox throughput / fresh        {fig['throughput_over_fresh']:5.1f}   (goal >= 8)")
    print(f"      isolation overhead per job        {fig['isolation_overhead_ms']:5.0f} ms")


def main(argv: list[str] | None = None) -> dict:
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--fresh", type=int, default=4,
                        help="fresh-process jobs (each pays the Keras import: seconds)")
    parser.add_argument("--users", nargs="+", default=["root", "unprivileged"],
                        choices=["root", "unprivileged", "self"],
                        help="which workers to measure (self: this process's user only)")
    parser.add_argument("--model", help=argparse.SUPPRESS)  # the unprivileged half's inputs
    parser.add_argument("--inputs", help=argparse.SUPPRESS)
    parser.add_argument("--figures-out", help=argparse.SUPPRESS)
    parser.add_argument("--backends", nargs="+", default=None,
                        help="tensorflow, jax, jax:gpu: the jail on each, side by side")
    parser.add_argument("--dataset", default=None, help="a course dataset (shapes32, fruits32)")
    parser.add_argument("--child", nargs=4, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        model_path, inputs_path, jobs, classes = args.child
        figures = _sandboxed_only(Path(model_path), np.load(inputs_path, allow_pickle=False),
                                  int(jobs), int(classes))
        print(_MARK + json.dumps(figures), flush=True)
        return figures
    if args.backends:
        results = compare_backends(args.backends, jobs=args.jobs, images=args.images,
                                   dataset=args.dataset)
        print_backends(results, what=f"{args.images} images of {args.dataset or '28x28x1'}")
        return results
    if args.jobs < 2 or args.images < 1 or args.fresh < 1:
        parser.error("--jobs must be at least 2, --images and --fresh at least 1")

    if args.model:  # a half started by the root half: measure, write the figures, stop
        figures = measure(Path(args.model), np.load(args.inputs, allow_pickle=False), args.jobs,
                          args.fresh)
        if args.figures_out:
            Path(args.figures_out).write_text(json.dumps(figures))
        return figures

    users = args.users
    if os.geteuid() != 0 and "self" not in users:
        print(f"not root (uid {os.geteuid()}): measuring this user only; run as root for the "
              "root and unprivileged halves side by side")
        users = ["self"]
    halves: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="stride-bench-") as folder:
        model_path, inputs = build_small_cnn(Path(folder), args.images)
        print(f"small CNN, {args.images} images of 28x28x1 ({os.cpu_count()} CPUs)")
        for user in users:
            if user == "unprivileged":
                fig = _measure_unprivileged(model_path, Path(folder) / "inputs.npy", args.jobs,
                                            args.fresh)
            else:
                fig = measure(model_path, inputs, args.jobs, args.fresh)
            label = user if user != "self" else ("root" if os.geteuid() == 0 else "unprivileged")
            halves[label] = fig
            _print_half(label, fig)

    figures: dict = {}
    for label, fig in halves.items():
        figures[f"sandbox / warm, {label} worker (goal ≤ 1.5)"] = round(fig["sandboxed_over_warm"], 3)
        figures[f"sandbox throughput / fresh process, {label} worker (goal ≥ 8)"] = round(
            fig["throughput_over_fresh"], 2)
        figures[f"sandbox back to back / warm, {label} worker (ratio)"] = round(
            fig["back_to_back_over_warm"], 3)
    if len(halves) > 1:
        print("-- side by side           " + "   ".join(f"{label:>12}" for label in halves))
        for key, name in (("sandboxed_over_warm", "(a) sandbox / warm  "),
                          ("back_to_back_over_warm", "    back to back/warm"),
                          ("throughput_over_fresh", "(b) throughput/fresh")):
            print(f"  {name}     " + "   ".join(f"{halves[label][key]:12.2f}" for label in halves))
    figures["halves"] = halves
    return figures


if __name__ == "__main__":
    main()
