"""Generation and recognition with the shipped weights: what a worker calls.

``Pipeline`` rebuilds both networks from code and loads their weight files (never a model
file), once per process (``get_pipeline``). ``generate`` runs one DDIM walk for a whole batch of
requests that share a number of steps, each with its own prompt, seed and guidance: the batch
is one forward pass per step, whatever its size (the conditional and empty captions together).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from grader.diffusion import WEIGHTS_DIR, schedule, vocab
from grader.diffusion.samples import FRAME_GAP, Generated, Request, png_bytes, strip

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
__all__ = ["FRAME_GAP", "Generated", "Pipeline", "Request", "get_pipeline", "png_bytes", "strip"]


class Pipeline:
    def __init__(self, weights: Path = WEIGHTS_DIR):
        from grader.diffusion.classifier import WEIGHTS_NAME
        from grader.diffusion.model import build_classifier, build_unet
        from grader.diffusion.train import EXPORT_NAME

        self.unet = build_unet()
        self.unet.load_weights(Path(weights) / EXPORT_NAME)
        self.judge = build_classifier()
        self.judge.load_weights(Path(weights) / WEIGHTS_NAME)

    def _predict_v(self, x: np.ndarray, t: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        return np.asarray(self.unet.predict_on_batch([x, t, tokens]))

    def generate(self, requests: Sequence[Request], steps: int, *, frames: int = 8,
                 on_step: Callable[[int, int], None] | None = None) -> list[Generated]:
        """Generate one image per request (all with ``steps`` steps), and recognise each.

        Raises ``vocab.PromptError`` for a prompt the model cannot take, ``ValueError`` for
        steps or guidance out of range: callers check before queueing, this is the last guard.
        """
        for request in requests:
            if not schedule.MIN_GUIDANCE <= request.guidance <= schedule.MAX_GUIDANCE:
                raise ValueError(f"guidance out of range: {request.guidance}")
        prompts = [vocab.parse_prompt(request.prompt) for request in requests]
        tokens = np.array([prompt.tokens for prompt in prompts], dtype=np.int32)
        images, trajectory = schedule.ddim_sample(
            self._predict_v, tokens, vocab.null_tokens(len(requests)),
            [request.seed for request in requests], steps,
            np.array([request.guidance for request in requests]), frames=frames,
            on_step=on_step)
        recognitions = self.recognise(images)
        return [Generated(image=images[i], steps_kept=list(trajectory.steps),
                          x_t=[frame[i] for frame in trajectory.x_t],
                          x0=[frame[i] for frame in trajectory.x0],
                          recognition=recognitions[i])
                for i in range(len(requests))]

    def recognise(self, images: np.ndarray) -> list[dict]:
        """The judge's reading of each image: fruit and colour indices, words and confidences."""
        predicted = self.judge.predict_on_batch(np.asarray(images, dtype=np.float32))
        fruit_p, colour_p = np.asarray(predicted["fruit"]), np.asarray(predicted["colour"])
        out = []
        for fp, cp in zip(fruit_p, colour_p):
            fruit, colour = int(fp.argmax()), int(cp.argmax())
            out.append({"fruit": fruit, "colour": colour,
                        "caption": vocab.caption(fruit, colour),
                        "fruit_confidence": round(float(fp[fruit]), 4),
                        "colour_confidence": round(float(cp[colour]), 4)})
        return out


@lru_cache(maxsize=1)
def get_pipeline() -> Pipeline:
    """The process's one pipeline (building it takes a few seconds: Keras starts up)."""
    return Pipeline()
