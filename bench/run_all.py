"""Run every benchmark of the project, each in its own process: python -m bench.run_all"""
import subprocess
import sys

BENCHMARKS = [
    ("instant answers vs a bare Django JSON view", "bench.instant_answer"),
    ("model grading: end to end vs warm process vs fresh process", "bench.grading"),
    ("the gradebook as the class grows", "bench.gradebook"),
]

if __name__ == "__main__":
    failed = 0
    for title, module in BENCHMARKS:
        print(f"== {title} ==", flush=True)
        failed += subprocess.run([sys.executable, "-m", module]).returncode != 0
        print(flush=True)
    sys.exit(1 if failed else 0)
