"""What every exercise type promises, checked on each type with sample params."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from exercises.types import REGISTRY, ExerciseType, UnknownExerciseType, get_type
from grader.result import AnswerError, GradeResult, ParamsError

ROOT = Path(__file__).resolve().parents[3]

SAMPLES = {
    "output_size": {
        "input_shape": [{"choices": [28, 32, 64]}, "same", {"choices": [1, 3]}],
        "layers": [
            {"class_name": "Conv2D", "config": {"filters": {"choices": [8, 16, 32]},
                                                "kernel_size": {"choices": [3, 5]},
                                                "strides": {"choices": [1, 2]},
                                                "padding": {"choices": ["valid", "same"]}}},
            {"class_name": "ZeroPadding2D", "config": {"padding": {"choices": [1, 2]}}},
            {"class_name": "MaxPooling2D", "config": {"pool_size": 2}},
        ],
    },
    "param_count": {
        "input_shape": [{"choices": [28, 32]}, "same", {"choices": [1, 3]}],
        "layers": [
            {"class_name": "Conv2D", "config": {"filters": {"choices": [8, 16]}, "kernel_size": 3}},
            {"class_name": "MaxPooling2D", "config": {"pool_size": 2}},
            {"class_name": "Flatten", "config": {}},
            {"class_name": "Dense", "config": {"units": {"choices": [10, 32]}}},
        ],
        "ask": {"layer": "random", "among": ["Conv2D", "Dense"]},
    },
    "kernel": {"mode": "reconstruct", "kernels": ["laplacian", "sobel_h", "sobel_v"],
               "crop": 16, "tolerance": 0.05},
    "mcq": {
        "multiple": True,
        "choices": [
            {"id": "a", "text": {"fr": "Vrai A", "en": "True A"}, "correct": True,
             "feedback": {"fr": "Oui.", "en": "Yes."}},
            {"id": "b", "text": {"fr": "Vrai B", "en": "True B"}, "correct": True},
            {"id": "c", "text": {"fr": "Faux C", "en": "False C"}, "correct": False,
             "feedback": {"fr": "Non.", "en": "No."}},
            {"id": "d", "text": {"fr": "Faux D", "en": "False D"}, "correct": False},
        ],
    },
}
SAMPLES_IDENTIFY = {"mode": "identify", "kernels": ["laplacian", "blur", "sharpen"]}
CASES = [(name, params) for name, params in SAMPLES.items()] + [("kernel", SAMPLES_IDENTIFY)]
SEEDS = range(40)


def case_id(case):
    return f"{case[0]}-{case[1].get('mode', '')}"


def test_registry_holds_the_four_instant_types():
    assert set(REGISTRY) >= {"output_size", "param_count", "kernel", "mcq"}
    for name, exercise_type in REGISTRY.items():
        assert isinstance(exercise_type, ExerciseType) and exercise_type.name == name
        assert get_type(name) is exercise_type
        assert exercise_type.template_name == f"exercises/types/{name}.html"
        assert exercise_type.label["fr"] and exercise_type.label["en"]
        if exercise_type.instant:
            assert exercise_type.form_fields


def test_unknown_type_is_a_clear_key_error():
    with pytest.raises(KeyError) as caught:
        get_type("nope")
    assert isinstance(caught.value, UnknownExerciseType)
    assert "nope" in str(caught.value) and "output_size" in str(caught.value)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_params_schema_is_a_2020_12_json_schema(name):
    schema = get_type(name).params_schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    json.dumps(schema)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_params_match_the_json_schema(name):
    jsonschema = pytest.importorskip("jsonschema")
    schema = get_type(name).params_schema
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(SAMPLES[name], schema)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_sample_params_are_valid(case):
    name, params = case
    get_type(name).validate_params(params)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_generate_solve_grade_gives_full_marks(case):
    name, params = case
    exercise_type = get_type(name)
    for seed in SEEDS:
        variant = exercise_type.generate(params, np.random.default_rng(seed))
        answer = exercise_type.solve(variant)
        result = exercise_type.grade(variant, exercise_type.parse_answer(variant, answer))
        assert isinstance(result, GradeResult)
        assert result.score == 1.0 and result.correct, (seed, variant)
        assert result.feedback["fr"] and result.feedback["en"]
        assert set(result.details["hint"]) == {"fr", "en"}
        json.dumps(result.details)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_variants_are_deterministic_and_differ_between_seeds(case):
    name, params = case
    exercise_type = get_type(name)
    first = [exercise_type.generate(params, np.random.default_rng(seed)) for seed in SEEDS]
    again = [exercise_type.generate(params, np.random.default_rng(seed)) for seed in SEEDS]
    assert first == again
    assert len({json.dumps(variant, sort_keys=True) for variant in first}) > len(SEEDS) // 4


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_variants_are_plain_json_and_public_variant_hides_the_key(case):
    name, params = case
    exercise_type = get_type(name)
    for seed in SEEDS:
        variant = exercise_type.generate(params, np.random.default_rng(seed))
        assert json.loads(json.dumps(variant)) == variant
        public = exercise_type.public_variant(variant)
        assert not [key for key in public if key.startswith("_")]
        assert any(key.startswith("_") for key in variant) or name in ("output_size",
                                                                        "param_count")
        assert json.loads(json.dumps(public)) == public
        public["extra"] = 1
        assert "extra" not in variant


PUBLIC_KEYS = {
    "output_size": {"input_shape", "layers"},
    "param_count": {"input_shape", "layers", "ask"},
    "kernel-reconstruct": {"mode", "input", "output", "padding"},
    "kernel-identify": {"mode", "kernel", "choices"},
    "mcq": {"multiple", "choices"},
}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_public_keys_follow_the_api_table(case):
    name, params = case
    key = f"{name}-{params['mode']}" if name == "kernel" else name
    variant = get_type(name).generate(params, np.random.default_rng(0))
    assert set(get_type(name).public_variant(variant)) == PUBLIC_KEYS[key]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_malformed_answers_raise_answer_error(case):
    name, params = case
    exercise_type = get_type(name)
    variant = exercise_type.generate(params, np.random.default_rng(0))
    for bad in (None, [], "x", {}, {"oops": 1}, {**exercise_type.solve(variant), "extra": 1}):
        with pytest.raises(AnswerError):
            exercise_type.parse_answer(variant, bad)
    with pytest.raises(AnswerError):
        exercise_type.answer_from_form(variant, {})


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_validate_params_refuses_non_mappings_and_unknown_keys(name):
    exercise_type = get_type(name)
    for bad in (None, [], "x", {**SAMPLES[name], "unknown": 1}):
        with pytest.raises(ParamsError):
            exercise_type.validate_params(bad)


def test_types_import_without_django_or_keras():
    code = ("import sys; import exercises.types, grader.answers, grader.layers, grader.shapes, "
            "grader.convolution, grader.mcq, grader.images; "
            "bad = [m for m in ('django', 'keras', 'tensorflow') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


SEED_FOLDER = ROOT / "exercises" / "seed"


def _seed_exercises():
    yaml = pytest.importorskip("yaml")
    for path in sorted(SEED_FOLDER.glob("*/exercises/*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("type") in REGISTRY:
            yield path.name, data["type"], data.get("params")


def test_seed_course_params_are_valid():
    found = list(_seed_exercises())
    if not found:
        pytest.skip("no seed course yet")
    for filename, name, params in found:
        exercise_type = get_type(name)
        try:
            exercise_type.validate_params(params)
        except ParamsError as error:
            pytest.fail(f"{filename}: {error.message['en']}")
        if not exercise_type.instant:
            continue  # graded by a worker, not solvable here
        variant = exercise_type.generate(params, np.random.default_rng(7))
        assert exercise_type.grade_answer(variant, exercise_type.solve(variant)).correct, filename
