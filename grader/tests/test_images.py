import itertools

import numpy as np

from grader.convolution import KERNELS, apply_kernel
from grader.images import FOLDER, IMAGE_NAMES, load_image
from grader.images.draw import DRAWINGS


def test_every_image_loads_as_small_grayscale():
    assert len(IMAGE_NAMES) >= 4
    for name in IMAGE_NAMES:
        image = load_image(name)
        assert image.dtype == np.uint8 and image.ndim == 2
        assert 48 <= image.shape[0] <= 64 and 48 <= image.shape[1] <= 64
        assert image.std() > 20  # real structure, not a flat grey
        assert (FOLDER / f"{name}.png").stat().st_size < 8_000


def test_load_image_returns_a_private_copy():
    image = load_image("house")
    image[:] = 0
    assert load_image("house").any()


def test_unknown_image():
    import pytest
    with pytest.raises(KeyError):
        load_image("nope")


def test_committed_pngs_are_what_draw_py_draws():
    assert set(DRAWINGS) == set(IMAGE_NAMES)
    for name, draw in DRAWINGS.items():
        assert np.array_equal(np.clip(np.rint(draw()), 0, 255).astype(np.uint8), load_image(name))


def test_every_kernel_gives_a_distinct_output_on_every_image():
    for name in IMAGE_NAMES:
        image = load_image(name).astype(float)
        outputs = {kernel: apply_kernel(image, KERNELS[kernel].array) for kernel in KERNELS}
        for first, second in itertools.combinations(KERNELS, 2):
            gap = np.sqrt(np.mean((outputs[first] - outputs[second]) ** 2))
            assert gap > 5, (name, first, second)


def test_edges_in_both_directions():
    for name in IMAGE_NAMES:
        image = load_image(name).astype(float)
        horizontal = np.abs(apply_kernel(image, KERNELS["sobel_h"].array)).mean()
        vertical = np.abs(apply_kernel(image, KERNELS["sobel_v"].array)).mean()
        assert min(horizontal, vertical) > 0.25 * max(horizontal, vertical), name
