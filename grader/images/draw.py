"""Draw the grayscale images of the kernel exercises (run once; the PNGs are committed).

    python -m grader.images.draw

Every image has edges in both directions, diagonals and curves, so each named kernel gives
a visibly different output on any crop of it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 64
FOLDER = Path(__file__).resolve().parent


def _grid() -> tuple[np.ndarray, np.ndarray]:
    return np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)


def draw_house() -> np.ndarray:
    y, x = _grid()
    img = 200 - 1.2 * y  # a sky that darkens towards the horizon
    img[y >= 46] = 70 + 10 * ((x[y >= 46] // 4) % 2)  # striped ground
    body = (y >= 28) & (y < 50) & (x >= 14) & (x < 50)
    img[body] = 150
    roof = (y >= 10) & (y < 28) & (np.abs(x - 32) <= (y - 10) * 1.1 + 1)
    img[roof] = 90
    img[(y >= 36) & (y < 50) & (x >= 20) & (x < 28)] = 45  # door
    window = (y >= 33) & (y < 43) & (x >= 34) & (x < 45)
    img[window] = 235
    img[window & ((x == 39) | (y == 38))] = 60  # window bars
    img[(y - 8) ** 2 + (x - 54) ** 2 <= 16] = 250  # sun
    img[(y >= 14) & (y < 22) & (x >= 40) & (x < 44)] = 110  # chimney
    return img


def draw_checker_circle() -> np.ndarray:
    y, x = _grid()
    img = np.where(((y // 8) + (x // 8)) % 2 == 0, 60.0, 170.0)
    radius = np.hypot(y - 30, x - 34)
    img[radius <= 17] = 235
    img[(radius > 11) & (radius <= 13)] = 20
    img[(np.abs(y - x) <= 1.5) & (radius > 17)] = 120  # one diagonal stripe
    return img


def draw_face() -> np.ndarray:
    y, x = _grid()
    img = np.full((SIZE, SIZE), 40.0) + 0.8 * x
    head = ((y - 34) / 24) ** 2 + ((x - 32) / 19) ** 2 <= 1
    img[head] = 190
    img[head & (y < 20)] = 80  # hair
    for eye_x in (24, 40):
        img[(y - 29) ** 2 + (x - eye_x) ** 2 <= 12] = 250
        img[(y - 29) ** 2 + (x - eye_x) ** 2 <= 4] = 20
        img[(np.abs(y - 23) <= 0.5) & (np.abs(x - eye_x) <= 4)] = 60  # eyebrows
    img[(y >= 31) & (y < 41) & (np.abs(x - 32) <= 1)] = 130  # nose
    mouth = (np.abs(np.hypot(y - 36, x - 32) - 10) <= 1.2) & (y > 42)
    img[mouth] = 70
    return img


def draw_shapes() -> np.ndarray:
    y, x = _grid()
    img = 30 + 3 * x  # horizontal gradient
    img[(y >= 6) & (y < 24) & (x >= 6) & (x < 28)] = 230  # rectangle
    triangle = (y >= 34) & (y < 58) & (x >= 8) & (x - 8 <= (y - 34))
    img[triangle] = 15
    ring = np.abs(np.hypot(y - 44, x - 44) - 11) <= 3
    img[ring] = 250
    img[(np.abs(y + x - 52) <= 1) & (y < 30)] = 100  # anti-diagonal line
    img[(y >= 28) & (y < 31)] = 200  # horizontal bar
    return img


def draw_texture() -> np.ndarray:
    y, x = _grid()
    rng = np.random.default_rng(20240601)
    img = 128 + 40 * np.sin(x / 5.0) * np.cos(y / 7.0) + 25 * np.sin((x + 2 * y) / 9.0)
    noise = rng.normal(0, 1, (SIZE + 2, SIZE + 2))
    # A little smoothed noise, like film grain on a photo.
    smooth = sum(noise[i:i + SIZE, j:j + SIZE] for i in range(3) for j in range(3)) / 3
    img += 12 * smooth
    img[(y >= 40) & (y < 56) & (x >= 38) & (x < 58)] *= 0.45  # a dark block
    img[np.abs(x - 20) <= 1] += 60  # a bright post
    return img


DRAWINGS = {
    "house": draw_house,
    "checker_circle": draw_checker_circle,
    "face": draw_face,
    "shapes": draw_shapes,
    "texture": draw_texture,
}


def main() -> None:
    for name, draw in DRAWINGS.items():
        pixels = np.clip(np.rint(draw()), 0, 255).astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(FOLDER / f"{name}.png", optimize=True)


if __name__ == "__main__":
    main()
