"""The DDPM noise schedule and the DDIM sampler, in NumPy around any ``v``-predicting model.

- **Forward process (DDPM)**: ``x_t = √ᾱ_t · x₀ + √(1−ᾱ_t) · ε`` for ``t`` in 0..T−1 (T = 1000),
  with the cosine schedule of ᾱ (Nichol & Dhariwal 2021), which keeps small images from being
  drowned in noise too early. Training draws ``t`` uniformly and regresses
  ``v = √ᾱ_t · ε − √(1−ᾱ_t) · x₀``.
- **DDIM** (Song et al. 2021, η = 0): a deterministic walk over ``steps`` evenly spaced times
  that always starts at ``T−1`` (pure noise), so 1 step is one jump and 100 steps are fine
  slides. Each step predicts ``x₀``, clips it to [−1, 1], and moves to the next time.
- **Classifier-free guidance**: each step runs the conditional and the empty caption in one
  batch and uses ``v_u + w · (v_c − v_u)``; ``w = 1`` is plain conditioning, larger ``w``
  follows the text harder.

The starting noise of each sample comes from its own seed, so a sample does not depend on the
others in its batch: a request gives the same picture alone or batched with strangers.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

T = 1000
MIN_STEPS, MAX_STEPS = 1, 100
MIN_GUIDANCE, MAX_GUIDANCE = 0.0, 10.0


def alpha_bar(t: np.ndarray | int, s: float = 0.008) -> np.ndarray:
    """ᾱ at integer times ``t`` (−1 means the clean image, ᾱ = 1)."""
    t = np.asarray(t, dtype=np.float64)
    f = np.cos(((t + 1) / T + s) / (1 + s) * np.pi / 2) ** 2 / np.cos(s / (1 + s) * np.pi / 2) ** 2
    return np.where(t < 0, 1.0, np.clip(f, 1e-6, 1.0))


def noisy(x0: np.ndarray, t: np.ndarray, eps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x_t`` and the velocity target ``v`` for clean images ``x0`` at times ``t``."""
    ab = alpha_bar(t).astype(np.float32)[:, None, None, None]
    a, b = np.sqrt(ab), np.sqrt(1.0 - ab)
    return a * x0 + b * eps, a * eps - b * x0


def timesteps(steps: int) -> np.ndarray:
    """The DDIM times for ``steps`` steps, from T−1 down (trailing spacing): 1 → [999]."""
    if not MIN_STEPS <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be in {MIN_STEPS}..{MAX_STEPS}, not {steps}")
    return (np.floor(T * (steps - np.arange(steps)) / steps) - 1).astype(np.int64)


def initial_noise(seeds: list[int]) -> np.ndarray:
    return np.stack([np.random.default_rng(int(seed)).standard_normal((32, 32, 3))
                     for seed in seeds]).astype(np.float32)


def to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


@dataclass
class Trajectory:
    """What the sampler shows: ``x_t`` before each kept step and the predicted ``x₀`` there."""

    steps: list[int] = field(default_factory=list)  # step indices kept, 0-based
    x_t: list[np.ndarray] = field(default_factory=list)  # each (batch, 32, 32, 3) uint8
    x0: list[np.ndarray] = field(default_factory=list)


def kept_steps(steps: int, frames: int = 8) -> list[int]:
    """At most ``frames`` step indices, evenly spread, always the first and the last."""
    if steps <= frames:
        return list(range(steps))
    if frames < 2:
        return [steps - 1][: max(frames, 0)]
    return sorted({int(round(i * (steps - 1) / (frames - 1))) for i in range(frames)})


def ddim_sample(predict_v: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
                tokens: np.ndarray, null: np.ndarray, seeds: list[int], steps: int,
                guidance: np.ndarray, *, frames: int = 8,
                on_step: Callable[[int, int], None] | None = None
                ) -> tuple[np.ndarray, Trajectory]:
    """Sample a batch; returns the final images (uint8) and the kept trajectory.

    ``predict_v(x, t_over_T, tokens)`` is the network. ``tokens`` and ``null`` are (n,
    MAX_TOKENS); ``guidance`` is one ``w`` per sample. ``on_step(done, steps)`` reports
    progress after each step.
    """
    n = len(seeds)
    x = initial_noise(seeds)
    w = np.asarray(guidance, dtype=np.float32).reshape(n, 1, 1, 1)
    both_tokens = np.concatenate([tokens, null]).astype(np.int32)
    keep = set(kept_steps(steps, frames))
    trajectory = Trajectory()
    times = timesteps(steps)
    for i, t in enumerate(times):
        t_prev = times[i + 1] if i + 1 < steps else -1
        ab, ab_prev = float(alpha_bar(t)), float(alpha_bar(t_prev))
        t_in = np.full((2 * n, 1), t / T, dtype=np.float32)
        v_both = np.asarray(predict_v(np.concatenate([x, x]), t_in, both_tokens), np.float32)
        v = v_both[n:] + w * (v_both[:n] - v_both[n:])
        x0 = np.clip(np.sqrt(ab) * x - np.sqrt(1 - ab) * v, -1.0, 1.0)
        eps = (x - np.sqrt(ab) * x0) / np.sqrt(1 - ab)
        if i in keep:
            trajectory.steps.append(i)
            trajectory.x_t.append(to_uint8(x))
            trajectory.x0.append(to_uint8(x0))
        x = (np.sqrt(ab_prev) * x0 + np.sqrt(1 - ab_prev) * eps).astype(np.float32)
        if on_step is not None:
            on_step(i + 1, steps)
    return to_uint8(x), trajectory
