"""The bank of grayscale images the kernel exercises crop their inputs from.

The PNGs are drawn by ``draw.py`` beside this file and committed.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

FOLDER = Path(__file__).resolve().parent
IMAGE_NAMES: tuple[str, ...] = ("house", "checker_circle", "face", "shapes", "texture")


@cache
def _read(name: str) -> np.ndarray:
    with Image.open(FOLDER / f"{name}.png") as picture:
        pixels = np.asarray(picture.convert("L"), dtype=np.uint8)
    pixels.setflags(write=False)
    return pixels


def load_image(name: str) -> np.ndarray:
    """The named image as a fresh ``uint8`` array of shape (H, W)."""
    if name not in IMAGE_NAMES:
        raise KeyError(f"unknown image {name!r}; known images: {', '.join(IMAGE_NAMES)}")
    return _read(name).copy()
