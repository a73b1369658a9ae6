"""The numbers and figures of ``docs/diffusion.md``, measured with the shipped weights.

    python -m grader.diffusion.report [--samples 64] [--steps 50] [--guidance 3.0] [--out docs]
                                      [--json grader/diffusion/weights/recognition.json]
                                      [--figures-only | --table-only]

- **Recognition per prompt**: for each of the 30 fruit×colour captions, ``--samples`` images
  (one ``generate`` call per prompt, seeds distinct from every other prompt's), read by the
  judge classifier. *Recognised* means both heads name the prompt's fruit and colour; the
  fruit-only and colour-only rates are kept too, and the judge's own rate on images of the
  same pair drawn by the dataset generator (its ceiling for that pair).
- **Recognition against the number of steps** for « pomme rouge » (the same seeds at each
  number of steps).
- **Figures** (PNG, upscaled by nearest neighbour): the training loss, a grid of samples (rows
  fruits, columns colours, held-out pairs outlined), one denoising trajectory, and the same
  seeds of « pomme rouge » in 1 to 50 steps.

The results go to a JSON file and a markdown table (``<out>/diffusion-recognition.md``).
Nothing is written from anything but this run's measurements. On 2 busy CPU cores the full
run took 37 minutes; ``--figures-only`` redraws the figures in about 2 minutes, and
``--table-only`` rewrites the markdown from the JSON file at once.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from grader.diffusion import WEIGHTS_DIR, vocab

STEPS_CURVE = (1, 2, 3, 5, 10, 20, 50)
CURVE_PAIR = (0, 0)  # pomme rouge
TRAJECTORY_PROMPT = "banane verte"
OUTLINE = "#0a5cff"  # held-out cells: blue is no fruit's colour here
SCALE = 4  # nearest-neighbour upscaling of the 32×32 images in the figures
JSON_NAME = "recognition.json"


def prompt_seeds(index: int, samples: int) -> list[int]:
    """The seeds of the ``index``-th prompt: a block of its own, so no two prompts share a noise."""
    return list(range(index * samples, (index + 1) * samples))


def tally(recognitions: Sequence[dict], fruit: int, colour: int) -> dict:
    """Recognised / fruit-only / colour-only rates of the judge's readings for one pair."""
    n = len(recognitions)
    fruit_ok = sum(r["fruit"] == fruit for r in recognitions)
    colour_ok = sum(r["colour"] == colour for r in recognitions)
    both_ok = sum(r["fruit"] == fruit and r["colour"] == colour for r in recognitions)
    readings = Counter(r["caption"] for r in recognitions).most_common(3)
    return {"samples": n, "recognised": round(both_ok / n, 4),
            "fruit": round(fruit_ok / n, 4), "colour": round(colour_ok / n, 4),
            "readings": [[text, count] for text, count in readings]}


def judge_ceiling(pipeline, samples: int, seed: int = 77) -> dict[tuple[int, int], float]:
    """The judge's rate on generator images of each pair: what a perfect generation would get."""
    from grader.diffusion import data

    rates = {}
    for index, (fruit, colour) in enumerate(vocab.all_pairs()):
        images, _, _ = data.generate(samples, seed=seed + index, pairs=[(fruit, colour)])
        rates[(fruit, colour)] = tally(pipeline.recognise(images), fruit, colour)["recognised"]
    return rates


def recognition_by_prompt(pipeline, *, samples: int, steps: int, guidance: float,
                          log: Callable[[str], None] = print,
                          done: Callable[[list[dict]], None] | None = None) -> list[dict]:
    from grader.diffusion.pipeline import Request

    ceiling = judge_ceiling(pipeline, samples)
    rows = []
    for index, (fruit, colour) in enumerate(vocab.all_pairs()):
        prompt = vocab.caption(fruit, colour)
        started = time.perf_counter()
        generated = pipeline.generate(
            [Request(prompt, seed, guidance) for seed in prompt_seeds(index, samples)], steps,
            frames=2)
        row = {"prompt": prompt, "fruit": fruit, "colour": colour,
               "held_out": (fruit, colour) in vocab.HELD_OUT,
               **tally([g.recognition for g in generated], fruit, colour),
               "judge_on_real_images": ceiling[(fruit, colour)],
               "seeds": [prompt_seeds(index, samples)[0], prompt_seeds(index, samples)[-1]],
               "seconds": round(time.perf_counter() - started, 1)}
        rows.append(row)
        log(f"{prompt:18s} {'held out' if row['held_out'] else 'seen':8s} "
            f"recognised {row['recognised']:.2f}  fruit {row['fruit']:.2f}  "
            f"colour {row['colour']:.2f}  ({row['seconds']:.0f} s)")
        if done is not None:
            done(rows)
    return rows


def averages(rows: Sequence[dict]) -> dict:
    """Mean rates over the seen prompts, the held-out ones, and all (each prompt weighs the same)."""
    out = {}
    for group, chosen in (("seen", [r for r in rows if not r["held_out"]]),
                          ("held_out", [r for r in rows if r["held_out"]]), ("all", list(rows))):
        if chosen:
            out[group] = {"prompts": len(chosen), **{
                key: round(float(np.mean([r[key] for r in chosen])), 4)
                for key in ("recognised", "fruit", "colour", "judge_on_real_images")}}
    return out


def steps_curve(pipeline, *, samples: int, guidance: float, steps_list: Sequence[int] = STEPS_CURVE,
                pair: tuple[int, int] = CURVE_PAIR, log: Callable[[str], None] = print
                ) -> list[dict]:
    from grader.diffusion.pipeline import Request

    prompt = vocab.caption(*pair)
    points = []
    for steps in steps_list:
        started = time.perf_counter()
        generated = pipeline.generate([Request(prompt, seed, guidance) for seed in range(samples)],
                                      steps, frames=2)
        point = {"steps": steps, **tally([g.recognition for g in generated], *pair),
                 "seconds": round(time.perf_counter() - started, 1)}
        points.append(point)
        log(f"{prompt} in {steps:3d} steps: recognised {point['recognised']:.2f}  "
            f"fruit {point['fruit']:.2f}  colour {point['colour']:.2f}")
    return points


def _pct(rate: float) -> str:
    """One decimal, so 99.8 % is never printed as 100 %."""
    return f"{100 * rate:.1f} %"


def _count(rate: float, samples: int) -> str:
    return f"{round(rate * samples)}/{samples}"


def markdown(result: dict) -> str:
    """The tables of the model card, from a result of this module."""
    settings = result["settings"]
    lines = [f"Recognition over {settings['samples']} samples per prompt, {settings['steps']} DDIM "
             f"steps, guidance {settings['guidance']:g}.", "",
             "| prompt | pair | recognised | fruit right | colour right | judge on real images "
             "| most frequent readings |", "|---|---|---|---|---|---|---|"]
    for row in sorted(result["prompts"], key=lambda r: (not r["held_out"], r["fruit"], r["colour"])):
        readings = ", ".join(f"{text} ({count})" for text, count in row["readings"])
        n = row["samples"]
        lines.append(f"| « {row['prompt']} » | {'**held out**' if row['held_out'] else 'seen'} | "
                     f"{_count(row['recognised'], n)} | {_count(row['fruit'], n)} | "
                     f"{_count(row['colour'], n)} | {_count(row['judge_on_real_images'], n)} | "
                     f"{readings} |")
    lines += ["", "| prompts | recognised | fruit right | colour right | judge on real images |",
              "|---|---|---|---|---|"]
    names = {"seen": "seen", "held_out": "held out", "all": "all"}
    for group, mean in result["averages"].items():
        lines.append(f"| {names[group]} ({mean['prompts']}) | {_pct(mean['recognised'])} | "
                     f"{_pct(mean['fruit'])} | {_pct(mean['colour'])} | "
                     f"{_pct(mean['judge_on_real_images'])} |")
    if result.get("steps_curve"):
        prompt = vocab.caption(*CURVE_PAIR)
        lines += ["", f"« {prompt} », {settings['samples']} samples (seeds 0–"
                  f"{settings['samples'] - 1}) at each number of steps:", "",
                  "| steps | recognised | fruit right | colour right | readings |",
                  "|---|---|---|---|---|"]
        for point in result["steps_curve"]:
            n = point["samples"]
            readings = ", ".join(f"{text} ({count})" for text, count in point["readings"])
            lines.append(f"| {point['steps']} | {_count(point['recognised'], n)} | "
                         f"{_count(point['fruit'], n)} | {_count(point['colour'], n)} | "
                         f"{readings} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- figures

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _upscale(image: np.ndarray, scale: int = SCALE) -> np.ndarray:
    return np.repeat(np.repeat(np.asarray(image), scale, axis=0), scale, axis=1)


def interruptions(log_path: Path) -> list[int]:
    """Steps where a training run stopped and the next one resumed (from ``train.log``)."""
    if not log_path.exists():
        return []
    text = log_path.read_text()
    stopped = [int(s) for s in re.findall(r"stopped at step (\d+)", text)]
    resumed = {int(s) for s in re.findall(r"resumed from step (\d+)", text)}
    return [s for s in stopped if s in resumed]


def plot_loss(csv_path: Path, png: Path, *, log_path: Path | None = None) -> Path:
    plt = _pyplot()
    table = np.loadtxt(csv_path, delimiter=",", skiprows=1, ndmin=2)
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=120)
    ax.plot(table[:, 0], table[:, 1], color="#1f4e9c", linewidth=1.4)
    ax.set_yscale("log")
    ax.set_xlabel("training step (batch 256)")
    ax.set_ylabel("MSE on v (mean of 100 steps)")
    ax.set_title("Stride diffusion UNet: training loss")
    for step in interruptions(log_path) if log_path else []:
        ax.axvline(step, color="#999999", linestyle="--", linewidth=1)
        ax.annotate(f"stopped, resumed at {step:,}", (step, table[:, 1].max()), fontsize=8,
                    xytext=(4, -12), textcoords="offset points", color="#555555")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
    return png


def plot_samples(pipeline, png: Path, *, steps: int, guidance: float, per_cell: int = 2,
                 first_seed: int = 100_000) -> Path:
    """Rows fruits, columns colours, ``per_cell`` samples each; held-out pairs outlined."""
    from grader.diffusion.pipeline import Request, strip

    plt = _pyplot()
    pairs = vocab.all_pairs()
    requests = [Request(vocab.caption(f, c), first_seed + per_cell * i + k, guidance)
                for i, (f, c) in enumerate(pairs) for k in range(per_cell)]
    generated = pipeline.generate(requests, steps, frames=2)
    rows, cols = len(vocab.FRUITS), len(vocab.COLOURS)
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 1.45 * rows + 0.6), dpi=110)
    for i, (f, c) in enumerate(pairs):
        cell = [_upscale(g.image) for g in generated[per_cell * i: per_cell * (i + 1)]]
        ax = axes[f, c]
        ax.imshow(strip(cell, gap=2 * SCALE), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        held = (f, c) in vocab.HELD_OUT
        correct = sum(g.recognition["fruit"] == f and g.recognition["colour"] == c
                      for g in generated[per_cell * i: per_cell * (i + 1)])
        ax.set_title(f"« {vocab.caption(f, c)} »{' held out' if held else ''}  {correct}/{per_cell}",
                     fontsize=8, color=OUTLINE if held else "black",
                     fontweight="bold" if held else "normal")
        for spine in ax.spines.values():
            spine.set_visible(held)
            spine.set_color(OUTLINE)
            spine.set_linewidth(4)
    fig.suptitle(f"Samples ({steps} DDIM steps, guidance {guidance:g}); n/{per_cell} = recognised "
                 "by the judge; held-out pairs (never in training) outlined in blue", fontsize=9)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
    return png


def plot_trajectory(pipeline, png: Path, *, prompt: str = TRAJECTORY_PROMPT, seed: int = 3,
                    steps: int = 50, guidance: float = 3.0, frames: int = 8) -> Path:
    from grader.diffusion import schedule
    from grader.diffusion.pipeline import Request

    plt = _pyplot()
    [g] = pipeline.generate([Request(prompt, seed, guidance)], steps, frames=frames)
    times = schedule.timesteps(steps)
    columns = len(g.steps_kept) + 1
    fig, axes = plt.subplots(2, columns, figsize=(1.45 * columns, 3.5), dpi=110)
    for j, step in enumerate(g.steps_kept):
        for row, (frame, _name) in enumerate(((g.x_t[j], "x_t"), (g.x0[j], "predicted x₀"))):
            axes[row, j].imshow(_upscale(frame), interpolation="nearest")
            axes[row, j].axis("off")
        axes[0, j].set_title(f"step {step + 1}, t={times[step]}", fontsize=8)
    axes[0, -1].imshow(_upscale(g.image), interpolation="nearest")
    axes[0, -1].set_title("final image", fontsize=8)
    axes[0, -1].axis("off")
    axes[1, -1].axis("off")
    axes[1, -1].text(0.0, 0.5, f"judge: « {g.recognition['caption']} »", fontsize=7,
                     transform=axes[1, -1].transAxes)
    fig.text(0.005, 0.72, "x_t", fontsize=9, rotation=90, va="center")
    fig.text(0.005, 0.28, "predicted x₀", fontsize=9, rotation=90, va="center")
    fig.suptitle(f"« {prompt} », seed {seed}, {steps} DDIM steps, guidance {guidance:g}: "
                 "the noisy image before each kept step and the model's guess of the clean one",
                 fontsize=8)
    fig.tight_layout(rect=(0.02, 0, 1, 1))
    fig.savefig(png)
    plt.close(fig)
    return png


def plot_steps(pipeline, png: Path, *, seeds: Sequence[int] = (0, 1, 2, 3),
               steps_list: Sequence[int] = STEPS_CURVE, guidance: float = 3.0,
               pair: tuple[int, int] = CURVE_PAIR) -> Path:
    """The same seeds of one prompt (rows) sampled in more and more steps (columns)."""
    from grader.diffusion.pipeline import Request

    plt = _pyplot()
    prompt = vocab.caption(*pair)
    fig, axes = plt.subplots(len(seeds), len(steps_list),
                             figsize=(1.3 * len(steps_list), 1.45 * len(seeds) + 0.4), dpi=110)
    for j, steps in enumerate(steps_list):
        generated = pipeline.generate([Request(prompt, seed, guidance) for seed in seeds], steps,
                                      frames=2)
        for i, g in enumerate(generated):
            ax = axes[i, j]
            ax.imshow(_upscale(g.image), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            right = g.recognition["fruit"] == pair[0] and g.recognition["colour"] == pair[1]
            ax.set_xlabel(g.recognition["caption"], fontsize=7,
                          color="black" if right else "#c00000")
            if i == 0:
                ax.set_title(f"{steps} step{'s' if steps > 1 else ''}", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"seed {seeds[i]}", fontsize=7)
    fig.suptitle(f"« {prompt} », guidance {guidance:g}: the same starting noise in 1 to "
                 f"{steps_list[-1]} DDIM steps; under each, the judge's reading", fontsize=8)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
    return png


# ----------------------------------------------------------------------------- command line

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=64, help="samples per prompt")
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps of the recognition table")
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=Path("docs"), help="figures and markdown")
    parser.add_argument("--json", type=Path, default=WEIGHTS_DIR / JSON_NAME)
    parser.add_argument("--figures-only", action="store_true",
                        help="redraw the figures, measure nothing")
    parser.add_argument("--table-only", action="store_true",
                        help="rewrite the markdown table from the JSON file, measure nothing")
    args = parser.parse_args(argv)
    if args.table_only:
        table = markdown(json.loads(args.json.read_text()))
        (args.out / "diffusion-recognition.md").write_text(table)
        print(table)
        return 0

    def log(line: str) -> None:
        print(line, flush=True)

    import keras

    from grader.diffusion.pipeline import Pipeline

    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    pipeline = Pipeline()
    figures = [
        lambda: plot_loss(WEIGHTS_DIR / "loss.csv", args.out / "diffusion-loss.png",
                          log_path=WEIGHTS_DIR / "train.log"),
        lambda: plot_samples(pipeline, args.out / "diffusion-samples.png", steps=args.steps,
                             guidance=args.guidance),
        lambda: plot_trajectory(pipeline, args.out / "diffusion-trajectory.png",
                                guidance=args.guidance),
        lambda: plot_steps(pipeline, args.out / "diffusion-steps.png", guidance=args.guidance),
    ]
    for draw in figures:
        log(f"figure: {draw()}")
    if args.figures_only:
        return 0

    result = {
        "settings": {"samples": args.samples, "steps": args.steps, "guidance": args.guidance,
                     "steps_curve": list(STEPS_CURVE)},
        "measured": {"date": datetime.now(UTC).strftime("%Y-%m-%d"),
                     "backend": keras.backend.backend(), "keras": keras.__version__,
                     "cpus": os.cpu_count()},
        "complete": False, "prompts": [], "averages": {}, "steps_curve": []}

    def save(rows: list[dict]) -> None:
        result["prompts"], result["averages"] = rows, averages(rows)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")

    rows = recognition_by_prompt(pipeline, samples=args.samples, steps=args.steps,
                                 guidance=args.guidance, log=log, done=save)
    result["steps_curve"] = steps_curve(pipeline, samples=args.samples, guidance=args.guidance,
                                        log=log)
    result["complete"] = True
    result["measured"]["seconds"] = round(time.perf_counter() - started, 1)
    save(rows)
    table = markdown(result)
    (args.out / "diffusion-recognition.md").write_text(table)
    log(table)
    log(f"written: {args.json}, {args.out / 'diffusion-recognition.md'} "
        f"in {result['measured']['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
