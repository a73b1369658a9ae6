import numpy as np
import pytest

from exercises.types import get_type
from grader.convolution import KERNELS, apply_kernel
from grader.result import AnswerError, ParamsError

TYPE = get_type("kernel")
RECONSTRUCT = {"mode": "reconstruct", "kernels": ["laplacian", "sobel_h", "blur", "sharpen"],
               "crop": 24, "tolerance": 0.05}
IDENTIFY = {"mode": "identify", "kernels": ["laplacian", "sobel_h", "sobel_v"]}


def variant_of(params, seed=0):
    TYPE.validate_params(params)
    return TYPE.generate(params, np.random.default_rng(seed))


def test_reconstruct_variant():
    for seed in range(20):
        variant = variant_of(RECONSTRUCT, seed)
        image = np.array(variant["input"])
        assert image.shape == (24, 24) and image.min() >= 0 and image.max() <= 255
        assert all(isinstance(value, int) for row in variant["input"] for value in row)
        output = np.array(variant["output"])
        assert output.shape == (22, 22) and variant["padding"] == "valid"
        assert np.array_equal(output, np.round(output, 2))
        assert np.allclose(output, apply_kernel(image, np.array(variant["_kernel"])), atol=0.006)


def test_crops_differ_between_students():
    params = {**RECONSTRUCT, "kernels": ["laplacian"]}
    inputs = {str(variant_of(params, seed)["input"]) for seed in range(10)}
    assert len(inputs) >= 8


def test_any_kernel_giving_the_output_is_accepted():
    variant = variant_of({"mode": "reconstruct", "kernels": ["sharpen"]}, 3)
    near = (np.array(KERNELS["sharpen"].array) * 1.01).tolist()
    assert TYPE.grade_answer(variant, {"kernel": near}).correct


def test_wrong_kernels_score_lower():
    for seed in range(20):
        variant = variant_of(RECONSTRUCT, seed)
        hidden = np.array(variant["_kernel"])
        for name, named in KERNELS.items():
            if np.allclose(named.array, hidden):
                continue
            result = TYPE.grade_answer(variant, {"kernel": named.array.tolist()})
            assert not result.correct and result.score < 1, (seed, name)


def test_explicit_kernels_and_same_padding():
    params = {"mode": "reconstruct", "kernels": [[[0, 0, 0], [0, 2, 0], [0, 0, -1]]],
              "images": ["shapes"], "crop": 16, "padding": "same", "tolerance": 0.02}
    variant = variant_of(params)
    assert np.array(variant["output"]).shape == (16, 16) and variant["padding"] == "same"
    assert TYPE.grade_answer(variant, TYPE.solve(variant)).correct


def test_kernel_form_round_trip():
    variant = variant_of(RECONSTRUCT, 5)
    answer = TYPE.solve(variant)
    flat = [value for row in answer["kernel"] for value in row]
    form = {f"k{index}": [repr(value)] for index, value in enumerate(flat)}
    assert TYPE.answer_from_form(variant, form) == answer
    form["k4"] = ["1/9"]
    assert TYPE.answer_from_form(variant, form)["kernel"][1][1] == pytest.approx(1 / 9)
    for broken in ("", "abc", "1e999"):
        with pytest.raises(AnswerError):
            TYPE.answer_from_form(variant, {**form, "k8": [broken]})
    with pytest.raises(AnswerError):
        TYPE.answer_from_form(variant, {key: value for key, value in form.items() if key != "k0"})


def test_reconstruct_answers():
    variant = variant_of(RECONSTRUCT)
    for bad in ({"kernel": [1] * 9}, {"kernel": [[1, 2], [3, 4]]}, {"kernel": "laplacian"},
                {"choice": "laplacian"}, {"kernel": [[0, 0, 0], [0, "x", 0], [0, 0, 0]]}):
        with pytest.raises(AnswerError):
            TYPE.parse_answer(variant, bad)


def test_identify_variant_and_grading():
    seen = set()
    for seed in range(30):
        variant = variant_of(IDENTIFY, seed)
        assert variant["kernel"] == KERNELS[variant["_answer"]].array.tolist()
        ids = [choice["id"] for choice in variant["choices"]]
        assert sorted(ids) == sorted(KERNELS)
        assert all(set(choice["text"]) == {"fr", "en"} for choice in variant["choices"])
        seen.add(tuple(ids))
        assert TYPE.grade_answer(variant, {"choice": variant["_answer"]}).correct
        wrong = next(name for name in ids if name != variant["_answer"])
        assert TYPE.grade_answer(variant, {"choice": wrong}).score == 0.0
        assert TYPE.answer_from_form(variant, {"choice": [wrong]}) == {"choice": wrong}
    assert len(seen) > 10  # shuffled per student


def test_identify_with_restricted_choices():
    params = {"mode": "identify", "kernels": ["blur"], "choices": ["blur", "sharpen", "identity"]}
    variant = variant_of(params)
    assert sorted(choice["id"] for choice in variant["choices"]) == ["blur", "identity", "sharpen"]
    with pytest.raises(AnswerError):
        TYPE.parse_answer(variant, {"choice": "laplacian"})
    with pytest.raises(AnswerError):
        TYPE.parse_answer(variant, {"choice": ["blur", "sharpen"]})


@pytest.mark.parametrize("params", [
    {"mode": "guess", "kernels": ["blur"]},
    {"mode": "reconstruct"},
    {"mode": "reconstruct", "kernels": []},
    {"mode": "reconstruct", "kernels": ["gaussian"]},
    {"mode": "reconstruct", "kernels": [[[1, 2], [3, 4]]]},
    {"mode": "reconstruct", "kernels": [[[0, 0, 0], [0, 0, 0], [0, 0, 0]]]},
    {"mode": "reconstruct", "kernels": ["blur"], "crop": 2},
    {"mode": "reconstruct", "kernels": ["blur"], "crop": 65},
    {"mode": "reconstruct", "kernels": ["blur"], "images": ["moon"]},
    {"mode": "reconstruct", "kernels": ["blur"], "tolerance": 0},
    {"mode": "reconstruct", "kernels": ["blur"], "tolerance": 0.9},
    {"mode": "reconstruct", "kernels": ["blur"], "padding": "full"},
    {"mode": "reconstruct", "kernels": ["blur"], "choices": ["blur"]},
    {"mode": "identify", "kernels": ["blur"], "choices": ["sharpen", "identity"]},
    {"mode": "identify", "kernels": ["blur"], "choices": ["blur"]},
    {"mode": "identify", "kernels": ["blur"], "choices": ["blur", "blur"]},
    {"mode": "identify", "kernels": [[[0, 0, 0], [0, 1, 0], [0, 0, 0]]]},
    {"mode": "identify", "kernels": ["blur"], "crop": 24},
])
def test_impossible_params_are_refused(params):
    with pytest.raises(ParamsError):
        TYPE.validate_params(params)


def test_undistinguishable_crops_are_refused():
    # A blur and the identity on 8x8 crops with a loose tolerance cannot be told apart often
    # enough: the params are refused rather than handing out an ambiguous variant.
    params = {"mode": "reconstruct", "kernels": ["blur"], "images": ["house"], "crop": 8,
              "tolerance": 0.2}
    with pytest.raises(ParamsError):
        TYPE.validate_params(params)
