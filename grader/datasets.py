"""Procedural image datasets for the model-submission exercise, and the test-set file format.

Nothing is downloaded: every image is drawn by the code below, with numpy only, from a seed.
The same ``(name, n, seed)`` always gives the same arrays (for a given numpy version: its
random generators are stable, its sin/cos could differ in the last bit on another CPU).

- ``shapes32``: coloured geometric shapes (circle, square, triangle, star, cross, ring) at a
  random place, size, rotation and colour, on a random gradient background, with noise. The
  class is the *shape*, whatever its colour or place, so a convolutional network (local
  detectors shared across positions) learns it much faster than a dense network on raw
  pixels: that gap is the point of the exercise.
- ``fruits32``: fruits (apple, banana, pear, lemon, cherries, grapes), drawn from the same kind
  of primitives, for the transfer-learning variant: a backbone trained on ``shapes32`` is
  reused, frozen, with a new classification head.

Shapes are tested on a grid twice as fine as the image: a pixel takes a colour in proportion
to the fine points that it covers (anti-aliasing).
Work is done in chunks of ``CHUNK`` images so memory stays bounded (~50 MB) for any ``n``.

The test-set file is a ``.npz`` with exactly the arrays ``x`` (N, H, W, C) and ``y`` (N,).
``load_test_set`` checks an uploaded one without ever unpickling anything.
"""
from __future__ import annotations

import math
import tokenize
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.result import I18nText, ParamsError, i18n

SIZE = 32
SUPERSAMPLE = 2
CHUNK = 1024
MIN_TEST_IMAGES = 10
MAX_TEST_IMAGES = 100_000
MAX_TEST_SET_BYTES = 400 * 1024 * 1024  # 100,000 images of 32×32×3 float32 take 1.2 GB raw

# Pixel centres at twice the resolution, in units of output pixels (0..32), for the masks.
_FINE = (np.arange(SIZE * SUPERSAMPLE, dtype=np.float32) + 0.5) / SUPERSAMPLE
_X = _FINE[None, None, :]
_Y = _FINE[None, :, None]
# Pixel centres at the output resolution, for the backgrounds.
_COARSE = np.arange(SIZE, dtype=np.float32) + 0.5


@dataclass(frozen=True)
class DatasetSpec:
    """A procedural dataset: its name, image shape and class names (French and English)."""

    name: str
    title: I18nText
    input_shape: tuple[int, int, int]
    class_names: list[I18nText]
    _draw: Callable[[np.random.Generator, np.ndarray], np.ndarray]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


class TestSetError(ParamsError):
    """An uploaded test set that cannot be used; ``message`` says why, in both languages."""

    __test__ = False  # not a pytest test class, whatever its name


# ----------------------------------------------------------------------------- drawing helpers

def _local(cx: np.ndarray, cy: np.ndarray, angle: np.ndarray,
           scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fine-grid coordinates in each image's own frame: centred, rotated, divided by ``scale``."""
    dx = _X - cx[:, None, None]
    dy = _Y - cy[:, None, None]
    cos = np.cos(angle)[:, None, None]
    sin = np.sin(angle)[:, None, None]
    s = scale[:, None, None]
    return (dx * cos + dy * sin) / s, (dy * cos - dx * sin) / s


def _paint(canvas: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> None:
    """Fill ``mask`` (m, 2H, 2W, fine grid) with one RGB colour per image (m, 3).

    ``canvas`` is at the output resolution: each pixel takes the colour in proportion to the
    fine points of its 2×2 block that the mask covers, which smooths the edges.
    """
    fine = mask.astype(np.float32)
    coverage = 0.25 * (fine[:, ::2, ::2] + fine[:, 1::2, ::2] + fine[:, ::2, 1::2]
                       + fine[:, 1::2, 1::2])
    canvas += coverage[..., None] * (colour[:, None, None, :] - canvas)


def _ellipse(u: np.ndarray, v: np.ndarray, cu: float, cv: float, ru: float,
             rv: float) -> np.ndarray:
    return ((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2 <= 1.0


def _segment(u: np.ndarray, v: np.ndarray, a: tuple[float, float], b: tuple[float, float],
             width: float) -> np.ndarray:
    """Points within ``width`` of the segment a–b (a stroke with round caps)."""
    bu, bv = b[0] - a[0], b[1] - a[1]
    t = np.clip(((u - a[0]) * bu + (v - a[1]) * bv) / (bu * bu + bv * bv), 0.0, 1.0)
    return (u - a[0] - t * bu) ** 2 + (v - a[1] - t * bv) ** 2 <= width * width


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _background(rng: np.random.Generator, m: int, *,
                muted: bool) -> tuple[np.ndarray, np.ndarray]:
    """A linear gradient between two random colours in a random direction, (m, H, W, 3).

    Also returns the mean colour of each background (m, 3), to choose contrasting colours.
    """
    first = rng.uniform(0.0, 1.0, (m, 3)).astype(np.float32)
    second = rng.uniform(0.0, 1.0, (m, 3)).astype(np.float32)
    if muted:  # a table or a wall: greyish colours, so fruit colours stay meaningful
        grey = _luminance(first)[:, None]
        first = grey + 0.35 * (first - grey)
        grey = _luminance(second)[:, None]
        second = grey + 0.35 * (second - grey)
    strength = rng.uniform(0.0, 1.0, (m, 1)).astype(np.float32)
    second = first + strength * (second - first)
    direction = rng.uniform(0.0, 2 * np.pi, m).astype(np.float32)
    t = ((_COARSE[None, None, :] - SIZE / 2) * np.cos(direction)[:, None, None]
         + (_COARSE[None, :, None] - SIZE / 2) * np.sin(direction)[:, None, None]) / SIZE + 0.5
    t = np.clip(t, 0.0, 1.0)[..., None]
    canvas = first[:, None, None, :] + t * (second - first)[:, None, None, :]
    return canvas, 0.5 * (first + second)


def _contrasting_colours(rng: np.random.Generator, background: np.ndarray,
                         *, min_contrast: float = 0.25) -> np.ndarray:
    """Random RGB colours whose luminance differs from the background's by ``min_contrast``."""
    m = background.shape[0]
    background = _luminance(background)
    colours = rng.uniform(0.0, 1.0, (m, 3)).astype(np.float32)
    for _ in range(30):
        weak = np.abs(_luminance(colours) - background) < min_contrast
        if not weak.any():
            break
        colours[weak] = rng.uniform(0.0, 1.0, (int(weak.sum()), 3))
    weak = np.abs(_luminance(colours) - background) < min_contrast
    colours[weak] = np.where(background[weak, None] > 0.5, 0.05, 0.95)
    return colours


def _finish(rng: np.random.Generator, canvas: np.ndarray, noise: tuple[float, float]) -> np.ndarray:
    """Add Gaussian noise of a random strength per image, round to ``uint8``."""
    m = canvas.shape[0]
    sigma = rng.uniform(*noise, (m, 1, 1, 1)).astype(np.float32)
    canvas += sigma * rng.standard_normal(canvas.shape, dtype=np.float32)
    return np.clip(np.rint(canvas * 255.0), 0, 255).astype(np.uint8)


def _hsv(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """HSV (each in [0, 1], arrays of length m) to RGB (m, 3)."""
    h = (h % 1.0) * 6.0
    k = (np.array([5.0, 3.0, 1.0])[None, :] + h[:, None]) % 6.0
    channel = v[:, None] - v[:, None] * s[:, None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return channel.astype(np.float32)


# ----------------------------------------------------------------------------- shapes32

SHAPE_NAMES = [
    i18n("cercle", "circle"), i18n("carré", "square"), i18n("triangle", "triangle"),
    i18n("étoile", "star"), i18n("croix", "cross"), i18n("anneau", "ring"),
]


def _shape_mask(kind: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The mask of one kind of shape in its own frame, circumradius about 1."""
    if kind == 0:  # circle
        return u * u + v * v <= 0.9
    if kind == 1:  # square
        return np.maximum(np.abs(u), np.abs(v)) <= 0.78
    if kind == 2:  # equilateral triangle: inside the three edges, each at R/2 from the centre
        inside = np.ones(u.shape, dtype=bool)
        for k in range(3):
            angle = -np.pi / 2 + 2 * np.pi * k / 3
            inside &= u * np.cos(angle) + v * np.sin(angle) >= -0.55
        return inside
    if kind == 3:  # five-pointed star: fold into one tip, test the edge tip → inner vertex
        outer, inner, sector = 1.1, 0.45, 2 * np.pi / 5
        angle = (np.arctan2(v, u) + np.pi / 2) % sector
        angle = np.minimum(angle, sector - angle)
        radius = np.sqrt(u * u + v * v)
        qu, qv = radius * np.cos(angle), radius * np.sin(angle)
        bu, bv = inner * np.cos(sector / 2) - outer, inner * np.sin(sector / 2)
        return bu * qv - bv * (qu - outer) >= 0
    if kind == 4:  # cross (a plus sign)
        au, av = np.abs(u), np.abs(v)
        return ((au <= 0.3) & (av <= 1.0)) | ((av <= 0.3) & (au <= 1.0))
    radius2 = u * u + v * v  # ring
    return (radius2 <= 1.0) & (radius2 >= 0.55 ** 2)


# Tuned by measurement (3 epochs on 5,000 images, 2,000 test images, 2 CPU cores, ~8 s): a CNN
# of three Conv2D layers reaches 0.97 to 0.98; Flatten → Dense(128) → Dense(6) stays at 0.17 to
# 0.19, chance level. Smaller shapes, weaker contrast or more noise make the CNN need more
# than 3 epochs.
SHAPE_RADIUS = (7.0, 13.0)  # circumradius in pixels
SHAPE_CONTRAST = 0.4  # least luminance gap between a shape and its background's mean
SHAPE_NOISE = (0.0, 0.04)  # standard deviation of the Gaussian noise, drawn per image


def _draw_shapes(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    m = labels.shape[0]
    canvas, mean_colour = _background(rng, m, muted=False)
    colours = _contrasting_colours(rng, mean_colour, min_contrast=SHAPE_CONTRAST)
    radius = rng.uniform(*SHAPE_RADIUS, m).astype(np.float32)
    cx = rng.uniform(radius, SIZE - radius).astype(np.float32)
    cy = rng.uniform(radius, SIZE - radius).astype(np.float32)
    angle = rng.uniform(0.0, 2 * np.pi, m).astype(np.float32)
    for kind in range(len(SHAPE_NAMES)):
        index = np.flatnonzero(labels == kind)
        if index.size == 0:
            continue
        u, v = _local(cx[index], cy[index], angle[index], radius[index])
        part = canvas[index]
        _paint(part, _shape_mask(kind, u, v), colours[index])
        canvas[index] = part
    return _finish(rng, canvas, SHAPE_NOISE)


# ----------------------------------------------------------------------------- fruits32

FRUIT_NAMES = [
    i18n("pomme", "apple"), i18n("banane", "banana"), i18n("poire", "pear"),
    i18n("citron", "lemon"), i18n("cerise", "cherry"), i18n("raisin", "grapes"),
]

_BROWN = (0.40, 0.25, 0.10)
# Hues (0 red, 0.08 orange, 0.15 yellow, 0.27 green, 0.8 purple) each fruit may take. They
# overlap on purpose (red apples, pears, cherries and grapes; yellow apples, bananas, pears,
# lemons and cherries; ...), so the colour alone does not give the fruit away: the shape does.
_HUES: dict[str, list[float]] = {
    "apple": [0.0, 0.27, 0.14, 0.04], "banana": [0.14, 0.22, 0.11], "pear": [0.22, 0.15, 0.02],
    "lemon": [0.15, 0.27], "cherry": [0.98, 0.0, 0.13], "grapes": [0.8, 0.27, 0.95],
}
_GRAPES = [(-4.2, -3.0), (0.0, -3.4), (4.2, -3.0), (-2.2, 0.6), (2.2, 0.6), (-4.4, 0.9),
           (4.4, 0.9), (0.0, 4.0), (-2.2, 4.2), (2.2, 4.2), (0.0, 7.5)]


def _jitter_colours(rng: np.random.Generator, m: int, hues: Sequence[float], *,
                    hue_spread: float = 0.025, saturation: tuple[float, float] = (0.65, 0.95),
                    value: tuple[float, float] = (0.6, 0.95)) -> np.ndarray:
    hue = np.asarray(hues)[rng.integers(0, len(hues), m)] + rng.uniform(-hue_spread, hue_spread, m)
    return _hsv(hue, rng.uniform(*saturation, m), rng.uniform(*value, m))


def _constant(m: int, rgb: tuple[float, float, float]) -> np.ndarray:
    return np.tile(np.asarray(rgb, dtype=np.float32), (m, 1))


def _draw_fruit(kind: int, rng: np.random.Generator, part: np.ndarray, u: np.ndarray,
                v: np.ndarray, body: np.ndarray | None = None) -> None:
    """Paint one kind of fruit on ``part``; ``u, v`` are in pixels at scale 1, stem up (v < 0).

    ``body`` (m, 3) fixes the fruit's colour (the diffusion dataset names it in the caption);
    without it, each fruit takes one of its natural hues.
    """
    m = part.shape[0]

    def colour_of(fruit: str, **jitter) -> np.ndarray:
        return body if body is not None else _jitter_colours(rng, m, _HUES[fruit], **jitter)

    leaf = _jitter_colours(rng, m, [0.30], value=(0.45, 0.75))
    if kind == 0:  # apple: two overlapping discs (a wide body with a dip at the top)
        shape = _ellipse(u, v, -2.3, 0.8, 6.8, 7.2) | _ellipse(u, v, 2.3, 0.8, 6.8, 7.2)
        _paint(part, shape, colour_of("apple"))
        _paint(part, _segment(u, v, (0.0, -4.5), (0.8, -9.0), 0.7), _constant(m, _BROWN))
        _paint(part, _ellipse(u, v, 3.0, -8.0, 2.4, 1.2), leaf)
    elif kind == 1:  # banana: a thick crescent, brown tips
        arc = _ellipse(u, v, 0.0, -4.0, 11.0, 11.0) & ~_ellipse(u, v, 0.0, -8.5, 11.5, 11.0)
        _paint(part, arc & (np.abs(u) <= 9.5), colour_of("banana", value=(0.7, 1.0)))
        tips = arc & (np.abs(u) > 8.0) & (np.abs(u) <= 9.5)
        _paint(part, tips, _constant(m, _BROWN))
    elif kind == 2:  # pear: small disc on top of a big one, joined
        shape = (_ellipse(u, v, 0.0, 3.5, 6.5, 6.5) | _ellipse(u, v, 0.0, -3.5, 3.8, 4.2)
                 | _ellipse(u, v, 0.0, 0.0, 4.8, 5.0))
        _paint(part, shape, colour_of("pear"))
        _paint(part, _segment(u, v, (0.0, -7.0), (-0.8, -10.5), 0.7), _constant(m, _BROWN))
    elif kind == 3:  # lemon: a wide ellipse with a point at each end
        shape = (_ellipse(u, v, 0.0, 0.0, 8.5, 6.2) | _ellipse(u, v, 8.6, 0.0, 2.4, 1.6)
                 | _ellipse(u, v, -8.6, 0.0, 2.4, 1.6))
        _paint(part, shape, colour_of("lemon", value=(0.75, 1.0)))
    elif kind == 4:  # cherries: two small dark-red discs hanging from two stems
        stems = (_segment(u, v, (-3.8, 3.0), (1.0, -8.0), 0.55)
                 | _segment(u, v, (4.2, 4.0), (1.0, -8.0), 0.55))
        _paint(part, stems, _jitter_colours(rng, m, [0.28], value=(0.35, 0.6)))
        discs = _ellipse(u, v, -3.8, 5.0, 3.6, 3.6) | _ellipse(u, v, 4.2, 6.0, 3.6, 3.6)
        _paint(part, discs, colour_of("cherry", value=(0.45, 0.9)))
        _paint(part, _ellipse(u, v, 1.0, -8.0, 2.0, 1.0), leaf)
    else:  # grapes: a bunch of small berries, outlined, and a stem
        berries = np.zeros(u.shape, dtype=bool)
        for gu, gv in _GRAPES:
            berries |= _ellipse(u, v, gu, gv, 2.4, 2.4)
        colour = colour_of("grapes", value=(0.4, 0.85))
        _paint(part, berries, colour * 0.6)
        centres = np.zeros(u.shape, dtype=bool)
        for gu, gv in _GRAPES:
            centres |= _ellipse(u, v, gu, gv, 1.8, 1.8)
        _paint(part, centres, colour)
        _paint(part, _segment(u, v, (0.0, -5.0), (0.5, -9.5), 0.7), _constant(m, _BROWN))


def _draw_fruits(rng: np.random.Generator, labels: np.ndarray, bodies: np.ndarray | None = None,
                 noise: tuple[float, float] = (0.0, 0.06)) -> np.ndarray:
    m = labels.shape[0]
    canvas, _ = _background(rng, m, muted=True)
    scale = rng.uniform(0.75, 1.3, m).astype(np.float32)
    reach = 11.0 * scale
    cx = rng.uniform(reach, SIZE - reach).astype(np.float32)
    cy = rng.uniform(reach, SIZE - reach).astype(np.float32)
    angle = rng.uniform(-0.5, 0.5, m).astype(np.float32)
    for kind in range(len(FRUIT_NAMES)):
        index = np.flatnonzero(labels == kind)
        if index.size == 0:
            continue
        u, v = _local(cx[index], cy[index], angle[index], scale[index])
        part = canvas[index]
        _draw_fruit(kind, rng, part, u, v, None if bodies is None else bodies[index])
        canvas[index] = part
    return _finish(rng, canvas, noise)


# ----------------------------------------------------------------------------- registry

DATASETS: dict[str, DatasetSpec] = {
    "shapes32": DatasetSpec(
        name="shapes32",
        title=i18n("Formes colorées 32×32", "Coloured shapes 32×32"),
        input_shape=(SIZE, SIZE, 3), class_names=SHAPE_NAMES, _draw=_draw_shapes),
    "fruits32": DatasetSpec(
        name="fruits32",
        title=i18n("Fruits 32×32", "Fruits 32×32"),
        input_shape=(SIZE, SIZE, 3), class_names=FRUIT_NAMES, _draw=_draw_fruits),
}


def generate(name: str, *, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (uint8, (n, 32, 32, 3)) and labels (int64, (n,)) of a named dataset.

    Classes are balanced (their counts differ by at most one) and shuffled. The result depends
    only on ``(name, n, seed)``; the dataset's name is mixed into the seed, so two datasets
    drawn with one seed are independent.
    """
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, not {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
    spec = DATASETS[name]
    sequence = np.random.SeedSequence([int(seed), zlib.crc32(name.encode())])
    label_seed, *chunk_seeds = sequence.spawn(1 + -(-int(n) // CHUNK))
    labels = np.random.default_rng(label_seed).permutation(
        np.arange(n, dtype=np.int64) % spec.num_classes)
    images = np.empty((n, *spec.input_shape), dtype=np.uint8)
    for chunk, chunk_seed in enumerate(chunk_seeds):
        part = slice(chunk * CHUNK, min(n, (chunk + 1) * CHUNK))
        images[part] = spec._draw(np.random.default_rng(chunk_seed), labels[part])
    return images, labels


# ----------------------------------------------------------------------------- npz files

def save_npz(path: str | Path, x: np.ndarray, y: np.ndarray) -> None:
    """Write a dataset as a compressed ``.npz`` holding exactly ``x`` and ``y``."""
    with open(path, "wb") as handle:  # a file object, so numpy does not append ".npz"
        np.savez_compressed(handle, x=np.asarray(x), y=np.asarray(y))


def _test_set_error(fr: str, en: str) -> TestSetError:
    return TestSetError(i18n(f"Jeu de test refusé : {fr}", f"Test set refused: {en}"))


def _check_npy_header(member, info: zipfile.ZipInfo) -> None:
    """Refuse an array whose header promises more data than its member holds.

    ``read_array`` allocates the array the header describes before it reads the data: a few
    bytes claiming a (10**12,) array would raise MemoryError (or reserve terabytes).
    """
    version = np.lib.format.read_magic(member)
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    shape, _fortran_order, dtype = read_header(member)
    promised = math.prod(shape) * dtype.itemsize
    if promised > info.file_size:
        name = info.filename[:-4]
        raise _test_set_error(
            f"l'en-tête de « {name} » annonce un tableau de forme {tuple(shape)}, plus gros que "
            f"le fichier : il est tronqué ou abîmé.",
            f"the header of “{name}” announces an array of shape {tuple(shape)}, larger than the "
            f"file: it is truncated or damaged.")


def load_test_set(path: str | Path, *, input_shape: Sequence[int],
                  num_classes: int, max_bytes: int = MAX_TEST_SET_BYTES
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Read and check a teacher's ``.npz`` test set; raise ``TestSetError`` if it is unusable.

    - ``allow_pickle=False``: an object array would run pickle code when read;
    - exactly the arrays ``x`` and ``y``, no others;
    - ``x``: shape (N, *input_shape), a numeric dtype, every value finite;
    - ``y``: integers, one dimension, length N, every label in 0..num_classes-1;
    - 10 ≤ N ≤ 100,000, and the file and its arrays no larger than ``max_bytes``, so a tiny
      compressed file cannot inflate into gigabytes.
    """
    path = Path(path)
    expected = tuple(int(dim) for dim in input_shape)
    try:
        size = path.stat().st_size
    except OSError:
        raise _test_set_error("le fichier est introuvable.", "the file cannot be found.") from None
    if size > max_bytes:
        raise _test_set_error(
            f"le fichier pèse {size / 2**20:.1f} Mo, la limite est {max_bytes / 2**20:.0f} Mo.",
            f"the file is {size / 2**20:.1f} MB, the limit is {max_bytes / 2**20:.0f} MB.")
    if not zipfile.is_zipfile(path):
        raise _test_set_error(
            "ce n'est pas un fichier .npz (écrivez-le avec np.savez_compressed(f, x=x, y=y)).",
            "this is not an .npz file (write it with np.savez_compressed(f, x=x, y=y)).")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            names = sorted(info.filename for info in members)
            if names != ["x.npy", "y.npy"]:
                shown = ", ".join(name.removesuffix(".npy") for name in names) or "aucun"
                shown_en = ", ".join(name.removesuffix(".npy") for name in names) or "none"
                raise _test_set_error(
                    f"il faut exactement les tableaux « x » et « y », le fichier contient : "
                    f"{shown}.",
                    f"exactly the arrays “x” and “y” are needed, the file holds: {shown_en}.")
            if sum(info.file_size for info in members) > max_bytes:
                raise _test_set_error(
                    f"les tableaux décompressés dépassent {max_bytes / 2**20:.0f} Mo.",
                    f"the uncompressed arrays exceed {max_bytes / 2**20:.0f} MB.")
            arrays = {}
            for info in members:
                with archive.open(info) as member:
                    _check_npy_header(member, info)
                    member.seek(0)
                    arrays[info.filename[:-4]] = np.lib.format.read_array(
                        member, allow_pickle=False)
    except TestSetError:
        raise
    except ValueError as error:
        if "pickle" in str(error).lower() or "object" in str(error).lower():
            raise _test_set_error(
                "un tableau contient des objets Python (dtype=object) : seuls des nombres sont "
                "acceptés, car lire des objets exécuterait du code (pickle).",
                "an array holds Python objects (dtype=object): only numbers are accepted, "
                "because reading objects would run code (pickle).") from None
        raise _test_set_error(f"tableau illisible ({error}).",
                              f"unreadable array ({error}).") from None
    except (SyntaxError, tokenize.TokenError):
        # numpy re-reads a mangled version 1 or 2 header with the tokenizer, which raises these.
        raise _test_set_error("tableau illisible (en-tête abîmé).",
                              "unreadable array (damaged header).") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, RuntimeError) as error:
        raise _test_set_error(f"fichier .npz abîmé ({error}).",
                              f"damaged .npz file ({error}).") from None
    return _check_test_arrays(arrays["x"], arrays["y"], expected, num_classes)


def _check_test_arrays(x: np.ndarray, y: np.ndarray, expected: tuple[int, ...],
                       num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    shape_text = "(N, " + ", ".join(str(dim) for dim in expected) + ")"
    if x.ndim != len(expected) + 1 or tuple(x.shape[1:]) != expected:
        raise _test_set_error(
            f"« x » est de forme {tuple(x.shape)}, il faut {shape_text}.",
            f"“x” has shape {tuple(x.shape)}, {shape_text} is needed.")
    if x.dtype.kind not in "uif" or x.dtype.itemsize > 8:
        raise _test_set_error(
            f"« x » doit contenir des nombres (uint8 ou float), pas {x.dtype}.",
            f"“x” must hold numbers (uint8 or float), not {x.dtype}.")
    count = x.shape[0]
    if not MIN_TEST_IMAGES <= count <= MAX_TEST_IMAGES:
        raise _test_set_error(
            f"il faut entre {MIN_TEST_IMAGES} et 100 000 images, le fichier en a {count}.",
            f"between {MIN_TEST_IMAGES} and 100,000 images are needed, the file has {count}.")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise _test_set_error("« x » contient des valeurs NaN ou infinies.",
                              "“x” holds NaN or infinite values.")
    if y.ndim != 1 or y.shape[0] != count:
        raise _test_set_error(
            f"« y » doit être un vecteur de {count} étiquettes, il est de forme {tuple(y.shape)}.",
            f"“y” must be a vector of {count} labels, its shape is {tuple(y.shape)}.")
    if y.dtype.kind not in "iu":
        raise _test_set_error(
            f"les étiquettes « y » doivent être des entiers, pas {y.dtype}.",
            f"the labels “y” must be integers, not {y.dtype}.")
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= num_classes:
        raise _test_set_error(
            f"les étiquettes vont de {low} à {high}, elles doivent être entre 0 et "
            f"{num_classes - 1} ({num_classes} classes).",
            f"the labels go from {low} to {high}, they must be between 0 and "
            f"{num_classes - 1} ({num_classes} classes).")
    return x, y.astype(np.int64)
