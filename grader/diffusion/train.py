"""Train the diffusion model, reproducibly from a seed, resuming from its checkpoint.

    python -m grader.diffusion.train --out DIR [--steps 20000] [--batch 64] [--seed 0]
                                     [--images 30000] [--max-seconds S] [--export PATH]

(``manage.py train_diffusion`` calls the same function.) Every batch is drawn from a NumPy
generator seeded with ``(seed, step)``: the images it picks, their flips, times and noise. So
a run stopped at step k and resumed gives the batches an uninterrupted run would have given.
A checkpoint (weights, the moving average, the optimiser's state and the loss log) is written
every ``--checkpoint-every`` steps and at the end; ``--max-seconds`` stops cleanly before a
time limit. The backend is Keras's (``KERAS_BACKEND=jax`` on a GPU machine): the weight files
are the same on every backend.

The exported weights are the exponential moving average of the trained ones (decay 0.999),
which gives cleaner samples than the last step's.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

CHECKPOINT = "checkpoint"
EXPORT_NAME = "unet.weights.h5"
CARD_NAME = "unet.json"
LOSS_NAME = "loss.csv"


@dataclass
class TrainConfig:
    steps: int = 20_000
    batch: int = 64
    seed: int = 0
    images: int = 30_000  # training images drawn once (held-out pairs excluded)
    learning_rate: float = 3e-4
    warmup: int = 500
    ema_decay: float = 0.999
    ema_every: int = 5
    caption_dropout: float = 0.1  # share of empty captions, for classifier-free guidance
    checkpoint_every: int = 1_000


def _batch(cfg: TrainConfig, step: int, images: np.ndarray, fruits: np.ndarray,
           colours: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    from grader.diffusion import schedule, vocab

    rng = np.random.default_rng([cfg.seed, step, 7])
    pick = rng.integers(0, len(images), cfg.batch)
    x0 = images[pick].astype(np.float32) / 127.5 - 1.0
    flip = rng.random(cfg.batch) < 0.5
    x0[flip] = x0[flip, :, ::-1]
    t = rng.integers(0, schedule.T, cfg.batch)
    eps = rng.standard_normal(x0.shape, dtype=np.float32)
    x_t, v = schedule.noisy(x0, t, eps)
    tokens = vocab.encode_pairs(fruits[pick], colours[pick])
    drop = rng.random(cfg.batch) < cfg.caption_dropout
    tokens[drop] = vocab.null_tokens(int(drop.sum()))
    return [x_t.astype(np.float32), (t / schedule.T).astype(np.float32)[:, None], tokens], v


def _save_checkpoint(directory: Path, model, ema: list[np.ndarray], optimizer, state: dict
                     ) -> None:
    tmp = directory.with_name(directory.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    model.save_weights(tmp / "model.weights.h5")
    np.savez(tmp / "ema.npz", *ema)
    np.savez(tmp / "optimizer.npz", *[np.asarray(v) for v in optimizer.variables])
    (tmp / "state.json").write_text(json.dumps(state))
    if directory.exists():
        for old in directory.iterdir():
            old.unlink()
        directory.rmdir()
    tmp.rename(directory)  # a crash mid-write leaves the previous checkpoint whole


def train(out: Path, cfg: TrainConfig, *, max_seconds: float | None = None,
          log: Callable[[str], None] = print, progress: bool = True) -> dict:
    """Train (or resume) in ``out``; return the summary that ``export`` writes beside the weights."""
    import keras

    from grader.diffusion import data, vocab
    from grader.diffusion.model import build_unet

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(cfg.seed)
    started = time.monotonic()
    images, fruits, colours = data.generate(cfg.images, seed=cfg.seed, pairs=vocab.seen_pairs())
    log(f"{len(images)} training images of {len(vocab.seen_pairs())} fruit×colour pairs "
        f"(held out: {', '.join(vocab.caption(*p) for p in sorted(vocab.HELD_OUT))}), "
        f"drawn in {time.monotonic() - started:.1f} s; backend {keras.backend.backend()}")

    model = build_unet()
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(cfg.steps, 1), warmup_target=cfg.learning_rate,
        warmup_steps=cfg.warmup, alpha=1.0)  # alpha=1: constant after the warm-up
    optimizer = keras.optimizers.Adam(schedule)
    model.compile(optimizer=optimizer, loss="mse")
    optimizer.build(model.trainable_variables)

    checkpoint = out / CHECKPOINT
    state = {"step": 0, "seconds": 0.0, "losses": [], "config": asdict(cfg)}
    ema = [np.array(w) for w in model.get_weights()]
    if (checkpoint / "state.json").exists():
        saved = json.loads((checkpoint / "state.json").read_text())
        if saved["config"] != asdict(cfg):
            raise SystemExit(f"{checkpoint} was made with other settings: {saved['config']}; "
                             "use another --out, or the same settings to resume")
        state = saved
        model.load_weights(checkpoint / "model.weights.h5")
        with np.load(checkpoint / "ema.npz") as saved_ema:
            ema = [saved_ema[f"arr_{i}"] for i in range(len(saved_ema.files))]
        with np.load(checkpoint / "optimizer.npz") as saved_opt:
            for variable, i in zip(optimizer.variables, range(len(saved_opt.files))):
                variable.assign(saved_opt[f"arr_{i}"])
        log(f"resumed from step {state['step']}")

    bar = keras.utils.Progbar(cfg.steps, stateful_metrics=["loss"]) if progress else None
    if bar is not None and state["step"]:
        bar.update(state["step"])
    window: list[float] = []
    run_start = time.monotonic()
    seconds_before = state["seconds"]
    step = first_step = state["step"]
    # Batches are drawn by two threads a few steps ahead (NumPy releases the GIL), so a fast
    # accelerator does not wait for them; each depends on its step number alone.
    pool = ThreadPoolExecutor(2)
    ahead = {s: pool.submit(_batch, cfg, s, images, fruits, colours)
             for s in range(step, min(step + 4, cfg.steps))}
    while step < cfg.steps:
        inputs, target = ahead.pop(step).result()
        if step + 4 < cfg.steps:
            ahead[step + 4] = pool.submit(_batch, cfg, step + 4, images, fruits, colours)
        loss = float(model.train_on_batch(inputs, target))
        step += 1
        window.append(loss)
        if step % cfg.ema_every == 0 or step == cfg.steps:
            decay = min(cfg.ema_decay ** cfg.ema_every, (1 + step) / (10 + step))
            for average, weight in zip(ema, model.get_weights()):
                average *= decay
                average += (1 - decay) * weight
        if step % 100 == 0 or step == cfg.steps:
            state["losses"].append([step, float(np.mean(window))])
            window = []
        if bar is not None:
            bar.update(step, values=[("loss", loss)])
        elif step % 1000 == 0:
            rate = (step - first_step) / (time.monotonic() - run_start)
            log(f"step {step}/{cfg.steps}  loss {state['losses'][-1][1]:.4f}  {rate:.1f} steps/s")
        elapsed = time.monotonic() - run_start
        timed_out = max_seconds is not None and elapsed >= max_seconds
        if step % cfg.checkpoint_every == 0 or step == cfg.steps or timed_out:
            state["step"], state["seconds"] = step, seconds_before + elapsed
            _save_checkpoint(checkpoint, model, ema, optimizer, state)
        if timed_out:
            log(f"\nstopped at step {step} after {elapsed:.0f} s (--max-seconds); "
                "run again with the same settings to resume")
            break
    pool.shutdown(cancel_futures=True)
    state["step"], state["seconds"] = step, seconds_before + (time.monotonic() - run_start)
    return {"steps_done": step, "seconds": round(state["seconds"], 1),
            "backend": keras.backend.backend(), "parameters": int(model.count_params()),
            "config": asdict(cfg), "losses": state["losses"]}


def export(out: Path, summary: dict, destination: Path) -> Path:
    """Write the moving-average weights, the summary (JSON) and the loss log into ``destination``."""
    from grader.diffusion.model import build_unet

    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    with np.load(Path(out) / CHECKPOINT / "ema.npz") as saved:
        ema = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    model = build_unet()
    model.set_weights(ema)
    model.save_weights(destination / EXPORT_NAME)
    losses = summary.pop("losses")
    (destination / LOSS_NAME).write_text(
        "step,loss\n" + "".join(f"{s},{loss:.5f}\n" for s, loss in losses))
    (destination / CARD_NAME).write_text(json.dumps(summary, indent=2) + "\n")
    return destination / EXPORT_NAME


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="working folder (checkpoints)")
    parser.add_argument("--export", type=Path, help="where to write the final weights")
    parser.add_argument("--max-seconds", type=float)
    parser.add_argument("--no-progress", action="store_true")
    defaults = TrainConfig()
    for name, value in asdict(defaults).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)
    cfg = TrainConfig(**{name: getattr(args, name) for name in asdict(defaults)})
    summary = train(args.out, cfg, max_seconds=args.max_seconds, progress=not args.no_progress)
    print(f"trained {summary['steps_done']} steps in {summary['seconds']:.0f} s")
    if args.export:
        print(f"weights written to {export(args.out, summary, args.export)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
