"""The diffusion model's training images: fruits in named colours, drawn from a seed.

The fruits are those of ``fruits32`` (same drawing code), but each body takes the colour its
caption names, so « banane violette » is a purple banana. Position, size, rotation, the
background gradient and a little noise vary per image. ``generate`` balances the pairs it is
given; the training set leaves out ``vocab.HELD_OUT``, the classifier sees every pair.
"""
from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from grader.datasets import CHUNK, _draw_fruits, _hsv
from grader.diffusion.vocab import COLOURS, all_pairs

NOISE = (0.0, 0.02)  # a cleaner image than fruits32's: the model should learn the fruit, not grain


def body_colours(rng: np.random.Generator, colours: np.ndarray) -> np.ndarray:
    """One RGB colour (m, 3) per image, jittered around the hue its colour word names."""
    m = colours.shape[0]
    hue = np.array([COLOURS[c][3] for c in colours], dtype=np.float32)
    hue = hue + rng.uniform(-0.02, 0.02, m).astype(np.float32)
    saturation = rng.uniform(0.7, 0.95, m).astype(np.float32)
    value = rng.uniform(0.7, 0.95, m).astype(np.float32)
    value[colours == 3] *= 0.75  # purple reads as purple only when darker
    return _hsv(hue, saturation, value)


def draw(fruits: np.ndarray, colours: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 images (m, 32, 32, 3) of the given fruit and colour indices."""
    return _draw_fruits(rng, np.asarray(fruits), body_colours(rng, np.asarray(colours)),
                        noise=NOISE)


def generate(n: int, *, seed: int, pairs: Sequence[tuple[int, int]] | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` images with their fruit and colour indices, the pairs balanced and shuffled.

    Depends only on ``(n, seed, pairs)``.
    """
    pairs = list(all_pairs() if pairs is None else pairs)
    sequence = np.random.SeedSequence([int(seed), zlib.crc32(b"diffusion-fruits")])
    order_seed, *chunk_seeds = sequence.spawn(1 + -(-int(n) // CHUNK))
    which = np.random.default_rng(order_seed).permutation(np.arange(n) % len(pairs))
    table = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    fruits, colours = table[which, 0], table[which, 1]
    images = np.empty((n, 32, 32, 3), dtype=np.uint8)
    for chunk, chunk_seed in enumerate(chunk_seeds):
        part = slice(chunk * CHUNK, min(n, (chunk + 1) * CHUNK))
        images[part] = draw(fruits[part], colours[part], np.random.default_rng(chunk_seed))
    return images, fruits, colours
