"""Stride's own small text-to-image diffusion model (pure Keras 3, backend-agnostic).

Nothing here imports Django, and nothing is downloaded: the images are drawn by
``grader.diffusion.data``, the model is trained by ``grader.diffusion.train`` and its weights
ship in ``grader/diffusion/weights/``.

- ``vocab``: French captions, the tokenizer (with an unknown-word error) and prompt checks;
- ``data``: the procedural dataset of fruits in colours, with held-out fruit×colour pairs;
- ``model``: the text encoder + conditional UNet (v-prediction), and the judging classifier;
- ``schedule``: the DDPM noise schedule and the DDIM sampler (1 to 100 steps, guidance);
- ``train`` / ``classifier``: training, resumable from checkpoints;
- ``pipeline``: load the shipped weights once, generate a batch, recognise images;
- ``report``: the numbers and plots of ``docs/diffusion.md``.
"""
from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
