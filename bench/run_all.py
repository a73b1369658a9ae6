"""Run every benchmark of the project, collect their figures, draw the plots.

    .venv/bin/python -m bench.run_all                # what `make bench` runs (about 10 minutes)
    .venv/bin/python -m bench.run_all --quick        # shorter runs of each (about 4 minutes)
    .venv/bin/python -m bench.run_all --only load gradebook
    .venv/bin/python -m bench.run_all --plots-only   # redraw from var/bench/results.json

Each benchmark runs in its own process through its ``main(argv)``, which returns its figures;
they are gathered in ``var/bench/results.json`` (with the machine and its load), and
``bench.plots`` draws ``docs/perf-*.png`` from them (``var/bench/plots/`` for a quick run, so
that short runs never replace the committed plots). With ``--only``, the other benchmarks keep
the figures of their last run in the file, with its date.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "var" / "bench" / "results.json"
MARK = "@@stride-bench-figures@@ "

# name, title, module, arguments of a full run, arguments of a quick run
BENCHMARKS = [
    ("instant_answer", "instant answers vs the minimal write view and a bare JSON view (in process)",
     "bench.instant_answer", [], ["--seconds", "1", "--rounds", "1"]),
    ("grading_sandbox", "the jail vs a warm / a fresh process, root and non-root worker", "bench.grading_sandbox",
     [], ["--jobs", "4", "--fresh", "2", "--images", "500"]),
    ("grading", "model grading: end to end vs warm process vs fresh process", "bench.grading",
     [], ["--submissions", "6", "--fresh", "2"]),
    ("grading_rush", "a deadline rush: 60 submissions from 30 students in 30 s through the API, one worker",
     "bench.grading", ["--rush"], ["--rush", "--rush-submissions", "16", "--rush-students", "8",
                                   "--rush-seconds", "8"]),
    ("grading_burst", "a burst: the same 60 submissions in 6 s, so that a queue forms and jobs run back to back",
     "bench.grading", ["--rush", "--rush-seconds", "6"], ["--rush", "--rush-submissions", "16", "--rush-students", "8",
                                                           "--rush-seconds", "2"]),
    ("gradebook", "the gradebook as the class grows", "bench.gradebook",
     [], ["--sizes", "75", "150", "300", "--repeat", "1"]),
    ("diffusion", "diffusion sampling: floors at batch 2 and 32, one request, 16 batched vs serial, XLA",
     "bench.diffusion", ["--xla"], ["--repeat", "1"]),
    ("load", "load: 100 students and a teacher on gunicorn + a worker (locust)", "bench.load",
     [], ["--quick"]),
    ("gpu", "GPU vs CPU on JAX: diffusion images/s by batch size, grading (says so where no GPU is present)",
     "bench.gpu", [], ["--quick"]),
]

# Runs main(argv) of the module and prints its figures on one marked line.
_DRIVER = f"""
import importlib, json, sys
module = importlib.import_module(sys.argv[1])
code = 0
try:
    figures = module.main(sys.argv[2:])
except SystemExit as exc:  # a benchmark that fails its own checks still reports its figures
    figures, code = getattr(exc, "figures", None), exc.code or 0
print({MARK!r} + json.dumps(figures, default=str), flush=True)
sys.exit(code if isinstance(code, int) else 1)
"""


def machine() -> dict:
    cpu = "unknown"
    ram = None
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
        ram = round(int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                             if line.startswith("MemTotal"))) / 2**20, 1)
    except (OSError, StopIteration):
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gib": ram, "python": sys.version.split()[0]}


def _busy() -> tuple[float, float]:
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)


def run_one(name: str, title: str, module: str, args: list[str]) -> dict:
    print(f"== {title} ==  ({module} {' '.join(args)})", flush=True)
    when = time.strftime("%Y-%m-%d %H:%M")
    load_before = os.getloadavg()[0]
    busy0, total0 = _busy()
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _DRIVER, module, *args], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True, bufsize=1)
    figures = None
    for line in proc.stdout:
        if line.startswith(MARK):
            figures = json.loads(line[len(MARK):])
        else:
            print(line, end="", flush=True)
    code = proc.wait()
    busy1, total1 = _busy()
    print(flush=True)
    return {"title": title, "module": module, "args": args, "returncode": code,
            "when": when, "seconds": round(time.perf_counter() - start, 1),
            "loadavg_before": round(load_before, 2), "loadavg_after": round(os.getloadavg()[0], 2),
            "machine_busy_fraction": round((busy1 - busy0) / max(total1 - total0, 1), 3),
            "figures": figures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (plots under var/bench/plots)")
    parser.add_argument("--only", nargs="+", choices=[b[0] for b in BENCHMARKS], help="run these only")
    parser.add_argument("--plots-only", action="store_true", help="redraw the plots from results.json")
    parser.add_argument("--plots-dir", help="where the PNGs go (docs/ for a full run)")
    args = parser.parse_args(argv)

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"benchmarks": {}}
    failed = 0
    if not args.plots_only:
        results["machine"] = machine()
        results["quick"] = args.quick
        results["when"] = time.strftime("%Y-%m-%d %H:%M")
        for name, title, module, full, quick in BENCHMARKS:
            if args.only and name not in args.only:
                continue
            outcome = run_one(name, title, module, quick if args.quick else full)
            outcome["quick"] = args.quick
            results["benchmarks"][name] = outcome
            order = [b[0] for b in BENCHMARKS]
            results["benchmarks"] = dict(sorted(results["benchmarks"].items(),
                                                key=lambda kv: order.index(kv[0]) if kv[0] in order else 99))
            failed += outcome["returncode"] != 0
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=1, default=str))  # after each: a crash keeps the rest
        print(f"figures written to {RESULTS.relative_to(ROOT)}")
    from bench import plots

    out = Path(args.plots_dir) if args.plots_dir else (
        ROOT / "var" / "bench" / "plots" if args.quick else ROOT / "docs")
    for path in plots.draw(results, out):
        print(f"plot: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    for name, outcome in results["benchmarks"].items():
        if outcome["returncode"] != 0:
            print(f"FAILED: {name} (exit {outcome['returncode']})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
