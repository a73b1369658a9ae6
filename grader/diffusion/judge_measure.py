"""The judge measured on held-out generations, and the knee of the steps curve.

    python -m grader.diffusion.judge_measure [--samples 24] [--curve-samples 128]
                                             [--json grader/diffusion/weights/judge.json]

``report.py`` measures the *model* (does it draw what it is asked?) with seeds 0–1,919. This
script measures the *judge* that grades the diffusion exercises, on generations it never saw
and seeds no other measurement used (from ``SEED_BASE`` on):

- **per fruit×colour at 20 steps** (the fewest steps the target exercise tells students to
  use), ``--samples`` generations per pair: the recognised rate, the fruit and colour rates and
  the confusion (what the judge read, with counts). The goal is ≥ 95 % on every pair;
- **the same pairs at 1, 2 and 3 steps**, to see whether the knee depends on the pair;
- **« pomme rouge » at 1 to 5 steps** with ``--curve-samples`` seeds: the curve that decides
  the fewest-steps exercise's full-marks threshold (``knee``).

The knee is the fewest steps whose recognised rate reaches ``KNEE_RATE`` (the issue's goal
rate) *and* whose Wilson 95 % lower bound is above ``KNEE_LOWER`` (so a lucky run of a small
sample cannot make it): below it a recognised picture is luck of the seed, from it on it is the
rule. Results go to a JSON file; ``docs/diffusion.md`` quotes them.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from grader.diffusion import WEIGHTS_DIR, vocab

SEED_BASE = 1_000_000  # far from report.py's seeds (0 … 30 × samples)
PAIR_STEPS = 20
EARLY_STEPS = (1, 2, 3)
CURVE_STEPS = (1, 2, 3, 4, 5)
CURVE_PAIR = (0, 0)  # pomme rouge
GUIDANCE = 3.0
KNEE_RATE = 0.95
KNEE_LOWER = 0.90
JSON_NAME = "judge.json"


def wilson_lower(successes: int, n: int, z: float = 1.96) -> float:
    """The lower end of the Wilson 95 % interval of a rate: what ``successes / n`` guarantees."""
    if n == 0:
        return 0.0
    p = successes / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - margin) / (1 + z * z / n)


def knee(points: Sequence[dict], *, rate: float = KNEE_RATE, lower: float = KNEE_LOWER) -> int | None:
    """The fewest steps whose recognised rate is ≥ ``rate`` with a Wilson lower bound > ``lower``."""
    for point in sorted(points, key=lambda p: p["steps"]):
        if point["recognised"] >= rate and wilson_lower(point["recognised_count"], point["samples"]) > lower:
            return int(point["steps"])
    return None


def tally(recognitions: Sequence[dict], fruit: int, colour: int) -> dict:
    n = len(recognitions)
    both = sum(r["fruit"] == fruit and r["colour"] == colour for r in recognitions)
    return {"samples": n, "recognised_count": both, "recognised": round(both / n, 4),
            "fruit": round(sum(r["fruit"] == fruit for r in recognitions) / n, 4),
            "colour": round(sum(r["colour"] == colour for r in recognitions) / n, 4),
            "wilson_lower": round(wilson_lower(both, n), 4),
            "confusion": dict(Counter(r["caption"] for r in recognitions).most_common())}


def seeds_of(block: int, samples: int) -> list[int]:
    return list(range(SEED_BASE + block * samples, SEED_BASE + (block + 1) * samples))


def measure_pairs(pipeline, *, samples: int, steps: int, block_offset: int,
                  log: Callable[[str], None]) -> list[dict]:
    from grader.diffusion.pipeline import Request

    rows = []
    for index, (fruit, colour) in enumerate(vocab.all_pairs()):
        prompt = vocab.caption(fruit, colour)
        seeds = seeds_of(block_offset + index, samples)
        generated = pipeline.generate([Request(prompt, seed, GUIDANCE) for seed in seeds], steps, frames=2)
        row = {"prompt": prompt, "fruit": fruit, "colour": colour, "steps": steps,
               "held_out": (fruit, colour) in vocab.HELD_OUT, "seeds": [seeds[0], seeds[-1]],
               **tally([g.recognition for g in generated], fruit, colour)}
        rows.append(row)
        log(f"{steps:3d} steps  {prompt:18s} {row['recognised_count']:3d}/{samples}  {row['confusion']}")
    return rows


def measure_curve(pipeline, *, samples: int, log: Callable[[str], None]) -> list[dict]:
    from grader.diffusion.pipeline import Request

    prompt = vocab.caption(*CURVE_PAIR)
    seeds = seeds_of(10_000, samples)  # the same seeds at every number of steps
    points = []
    for steps in CURVE_STEPS:
        generated = pipeline.generate([Request(prompt, seed, GUIDANCE) for seed in seeds], steps, frames=2)
        point = {"steps": steps, "seeds": [seeds[0], seeds[-1]],
                 **tally([g.recognition for g in generated], *CURVE_PAIR)}
        points.append(point)
        log(f"{prompt} in {steps} steps: {point['recognised_count']}/{samples} "
            f"(Wilson lower {point['wilson_lower']:.3f})  {point['confusion']}")
    return points


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=24, help="generations per pair and number of steps")
    parser.add_argument("--curve-samples", type=int, default=128, help="seeds of the « pomme rouge » curve")
    parser.add_argument("--json", type=Path, default=WEIGHTS_DIR / JSON_NAME)
    args = parser.parse_args(argv)

    from grader.diffusion.pipeline import Pipeline

    started = time.perf_counter()

    def log(line: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {line}", flush=True)

    pipeline = Pipeline()
    result: dict = {"date": datetime.now(UTC).date().isoformat(), "guidance": GUIDANCE,
                    "seed_base": SEED_BASE, "knee_rule": {"rate": KNEE_RATE, "wilson_lower": KNEE_LOWER}}
    result["curve"] = measure_curve(pipeline, samples=args.curve_samples, log=log)
    result["knee"] = knee(result["curve"])
    log(f"knee of « pomme rouge »: {result['knee']} steps")
    result["pairs"] = measure_pairs(pipeline, samples=args.samples, steps=PAIR_STEPS, block_offset=0, log=log)
    result["early"] = [row for i, steps in enumerate(EARLY_STEPS) for row in measure_pairs(
        pipeline, samples=args.samples, steps=steps, block_offset=100 * (i + 1), log=log)]
    result["seconds"] = round(time.perf_counter() - started)
    args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    log(f"written {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
