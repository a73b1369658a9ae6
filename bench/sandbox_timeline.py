"""Sandbox jobs back to back, and where each child's time went (its ``isolation["timeline"]``).

Ten jobs of the small 28×28×1 CNN of ``bench.grading_sandbox`` (2,000 images by default) run one
after the other through ``workers.sandbox.run_model_in_sandbox``, with a stock of one warm child
and then of three, after the warm in-process job is measured as the baseline. Each line gives
the job's time, its ratio to the warm job, what the child's warm-up did and its timeline
(started: the worker asked for the child → it runs; isolated; warm; waited; job).

    .venv/bin/python -m bench.sandbox_timeline [--jobs 10] [--images 2000] [--stocks 1 3]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--stocks", type=int, nargs="+", default=[1, 3])
    args = parser.parse_args(argv)
    from bench.grading_sandbox import _shape_of, build_small_cnn, time_warm_in_process
    from workers import sandbox

    with tempfile.TemporaryDirectory(prefix="stride-bench-timeline-") as folder:
        model, x = build_small_cnn(Path(folder), args.images)
        warm = statistics.median(time_warm_in_process(model, x, 10, num_classes=10))
        print(f"warm in-process job: {warm * 1000:.0f} ms")
        sandbox.sandbox_warm_up(wait=True)
        kwargs = dict(model_path=model, inputs=x, expected_input_shape=_shape_of(x), num_classes=10,
                      max_params=10**9)
        sandbox.run_model_in_sandbox(**kwargs)  # the spares learn the job's shapes
        results: dict = {"warm in-process job (ms)": warm * 1000}
        for stock in args.stocks:
            sandbox.sandbox_keep_warm(stock)
            time.sleep(8)  # the stock warms up fully before the first job
            times = []
            for i in range(args.jobs):
                sandbox.sandbox_keep_warm(stock)
                start = time.perf_counter()
                result = sandbox.run_model_in_sandbox(**kwargs)
                took = time.perf_counter() - start
                if not result.ok:
                    raise SystemExit(f"job failed: {result.error_code} {result.error}")
                times.append(took)
                print(f"stock {stock}, job {i}: {took * 1000:4.0f} ms ({took / warm:.2f}×)  "
                      f"warm-up: {result.isolation.get('warm_up')}  |  {result.isolation.get('timeline')}",
                      flush=True)
            median = statistics.median(times)
            print(f"stock {stock}: median {median * 1000:.0f} ms, {median / warm:.2f}× the warm job\n")
            results[f"stock {stock}: job back to back, median (ms)"] = median * 1000
            results[f"stock {stock}: job back to back / warm (ratio)"] = median / warm
        sandbox.sandbox_keep_warm(1)
    return results


if __name__ == "__main__":
    main()
