"""A generation request, its result, and how frames become pictures: plain NumPy and Pillow,
no Keras, so the web side and the worker's bookkeeping can use them without loading a network."""
from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Request:
    prompt: str
    seed: int
    guidance: float


@dataclass
class Generated:
    """One sample: the image, the kept trajectory, and what the judge sees in it."""

    image: np.ndarray  # (32, 32, 3) uint8
    steps_kept: list[int]
    x_t: list[np.ndarray]
    x0: list[np.ndarray]
    recognition: dict = field(default_factory=dict)


def png_bytes(image: np.ndarray, scale: int = 1) -> bytes:
    from PIL import Image

    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


FRAME_GAP = 2


def strip(frames: Sequence[np.ndarray], gap: int = FRAME_GAP) -> np.ndarray:
    """Frames side by side, with a white gap between them."""
    height = frames[0].shape[0]
    pieces = []
    for index, frame in enumerate(frames):
        if index:
            pieces.append(np.full((height, gap, 3), 255, dtype=np.uint8))
        pieces.append(frame)
    return np.concatenate(pieces, axis=1)
