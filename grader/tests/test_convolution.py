import numpy as np
import pytest

from grader.convolution import (
    KERNELS,
    apply_kernel,
    estimate_kernel,
    grade_kernel_identify,
    grade_kernel_reconstruct,
    kernel_error,
)
from grader.images import load_image

LAPLACIAN = KERNELS["laplacian"].array
SOBEL_H = KERNELS["sobel_h"].array
SOBEL_V = KERNELS["sobel_v"].array


def test_named_kernels_are_the_decks():
    assert LAPLACIAN.tolist() == [[0, -1, 0], [-1, 4, -1], [0, -1, 0]]
    assert SOBEL_H.tolist() == [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]
    assert SOBEL_V.tolist() == [[1, 0, -1], [2, 0, -2], [1, 0, -1]]
    assert KERNELS["sharpen"].array.tolist() == [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]
    assert KERNELS["emboss"].array.tolist() == [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]
    assert np.allclose(KERNELS["blur"].array, np.full((3, 3), 1 / 9))
    assert set(KERNELS) == {"identity", "laplacian", "sobel_h", "sobel_v", "blur", "sharpen",
                            "emboss"}
    for kernel in KERNELS.values():
        assert kernel.array.shape == (3, 3)
        for text in (kernel.label, kernel.explanation):
            assert set(text) == {"fr", "en"} and text["fr"] and text["en"] != text["fr"]


def test_laplacian_on_a_single_bright_pixel():
    image = np.zeros((4, 4))
    image[1, 1] = 10
    assert apply_kernel(image, LAPLACIAN).tolist() == [[40, -10], [-10, 0]]


def test_sobel_filters_find_edges_in_their_direction():
    rows_step = np.array([[0, 0, 0], [0, 0, 0], [100, 100, 100], [100, 100, 100]])
    assert apply_kernel(rows_step, SOBEL_H).tolist() == [[-400], [-400]]
    assert apply_kernel(rows_step, SOBEL_V).tolist() == [[0], [0]]
    cols_step = rows_step.T
    assert apply_kernel(cols_step, SOBEL_V).tolist() == [[-400, -400]]
    assert apply_kernel(cols_step, SOBEL_H).tolist() == [[0, 0]]


def test_cross_correlation_not_flipped_convolution():
    image = np.arange(25, dtype=float).reshape(5, 5)
    top_left = np.zeros((3, 3))
    top_left[0, 0] = 1
    # Keras lays the kernel as written: the top-left weight meets the window's top-left pixel.
    assert np.array_equal(apply_kernel(image, top_left), image[:3, :3])
    assert np.array_equal(apply_kernel(image, np.rot90(top_left, 2)), image[2:, 2:])


def test_same_padding_keeps_the_size_with_zeros_around():
    image = np.arange(1, 17, dtype=float).reshape(4, 4)
    assert np.array_equal(apply_kernel(image, KERNELS["identity"].array, "same"), image)
    top_left = np.zeros((3, 3))
    top_left[0, 0] = 1
    shifted = apply_kernel(image, top_left, padding="same")
    assert shifted[0].tolist() == [0, 0, 0, 0]
    assert shifted[1:, 1:].tolist() == image[:3, :3].tolist()
    assert apply_kernel(np.ones((5, 5)), np.ones((2, 2)), "same").shape == (5, 5)


def test_apply_kernel_output_type_and_errors():
    out = apply_kernel(np.ones((6, 7), dtype=np.uint8), LAPLACIAN)
    assert out.dtype == np.float64 and out.shape == (4, 5) and not out.any()
    with pytest.raises(ValueError):
        apply_kernel(np.ones((6, 6, 3)), LAPLACIAN)
    with pytest.raises(ValueError):
        apply_kernel(np.ones((2, 2)), LAPLACIAN)
    with pytest.raises(ValueError):
        apply_kernel(np.ones((6, 6)), LAPLACIAN, padding="full")


def test_apply_kernel_matches_a_plain_loop():
    rng = np.random.default_rng(1)
    image, kernel = rng.normal(size=(9, 7)), rng.normal(size=(3, 3))
    expected = np.array([[np.sum(image[i:i + 3, j:j + 3] * kernel) for j in range(5)]
                         for i in range(7)])
    assert np.allclose(apply_kernel(image, kernel), expected)


# ----------------------------------------------------------------------------- grading

@pytest.fixture
def crop():
    return load_image("house")[20:44, 10:34].astype(float)


def _target(crop, name):
    return np.round(apply_kernel(crop, KERNELS[name].array), 2)


@pytest.mark.parametrize("name", list(KERNELS))
def test_the_hidden_kernel_gets_full_marks(crop, name):
    result = grade_kernel_reconstruct(image=crop, target=_target(crop, name),
                                      kernel=KERNELS[name].array, tolerance=0.05)
    assert result.score == 1.0 and result.correct and result.details["error"] < 1e-3


def test_another_kernel_with_the_same_output_is_accepted():
    flat = np.full((8, 8), 50.0)
    result = grade_kernel_reconstruct(image=flat, target=apply_kernel(flat, KERNELS["blur"].array),
                                      kernel=KERNELS["identity"].array, tolerance=0.05)
    assert result.correct  # on a flat image a blur and the identity cannot be told apart


def test_partial_credit_is_linear_in_the_error(crop):
    target = _target(crop, "laplacian")
    result = grade_kernel_reconstruct(image=crop, target=target, kernel=0.8 * LAPLACIAN,
                                      tolerance=0.05)
    assert result.details["error"] == pytest.approx(0.2, abs=1e-3)
    assert result.score == pytest.approx((1 - 0.2) / (1 - 0.05), abs=1e-3)
    assert not result.correct
    zero = grade_kernel_reconstruct(image=crop, target=target, kernel=np.zeros((3, 3)),
                                    tolerance=0.05)
    assert zero.score == 0.0 and zero.details["error"] == pytest.approx(1.0)
    far = grade_kernel_reconstruct(image=crop, target=target, kernel=-LAPLACIAN, tolerance=0.05)
    assert far.score == 0.0


def test_tolerance_boundary(crop):
    target = _target(crop, "sobel_h")
    near = grade_kernel_reconstruct(image=crop, target=target, kernel=0.97 * SOBEL_H,
                                    tolerance=0.05)
    assert near.correct and near.score == 1.0


def test_hints_for_classic_slips(crop):
    target = _target(crop, "sobel_h")

    def hint(kernel):
        return grade_kernel_reconstruct(image=crop, target=target, kernel=kernel,
                                        tolerance=0.05).feedback

    assert "180°" in hint(np.rot90(SOBEL_H, 2))["fr"]
    assert "transpose" in hint(SOBEL_V)["en"]
    assert "multipliez" in hint(2 * SOBEL_H)["fr"]
    identity = hint(KERNELS["identity"].array)
    assert "somme" in identity["fr"] and "sum" in identity["en"]
    assert "haut en bas" in identity["fr"]
    blur_target = _target(crop, "blur")
    smooth = grade_kernel_reconstruct(image=crop, target=blur_target,
                                      kernel=KERNELS["identity"].array, tolerance=0.05)
    assert "lisse" in smooth.feedback["fr"] and "smoother" in smooth.feedback["en"]


def test_feedback_states_the_error(crop):
    result = grade_kernel_reconstruct(image=crop, target=_target(crop, "laplacian"),
                                      kernel=0.8 * LAPLACIAN, tolerance=0.05)
    assert "20,0 %" in result.feedback["fr"] and "20.0%" in result.feedback["en"]


def test_kernel_error_definition(crop):
    target = _target(crop, "laplacian")
    error = kernel_error(image=crop, target=target, kernel=np.zeros((3, 3)))
    assert error == pytest.approx(1.0)


def test_estimate_kernel_recovers_the_hidden_kernel(crop):
    for name in KERNELS:
        estimate = estimate_kernel(image=crop, target=_target(crop, name))
        assert np.allclose(estimate, KERNELS[name].array, atol=0.01)
    assert estimate_kernel(image=np.ones((8, 8)), target=np.ones((6, 6))) is None


def test_identify():
    right = grade_kernel_identify(kernel_name="sobel_h", choice="sobel_h")
    assert right.correct and right.score == 1.0
    assert "horizontaux" in right.feedback["fr"]
    wrong = grade_kernel_identify(kernel_name="laplacian", choice="blur")
    assert not wrong.correct and wrong.score == 0.0
    assert KERNELS["laplacian"].explanation["fr"] in wrong.feedback["fr"]
    assert "laplacien" not in wrong.details["hint"]["fr"].lower()
