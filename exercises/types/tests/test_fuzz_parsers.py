"""Fuzzing every answer parser (issue #7): arbitrary input parses, or raises the documented error.

The contract, for each parser: anything a script, a form or a careless student can send either
parses (into a JSON-safe value a grader takes) or raises ``AnswerError`` (``PromptError`` for a
diffusion prompt) whose ``message`` is a non-empty French and English sentence. Never another
exception: that would be a 500 in the request that graded it.

- the exercise types (``exercises/types``): ``parse_answer``, ``grade_answer`` and
  ``answer_from_form`` of every type, on the variants of every exercise of the built-in course
  (``exercises/seed/cnn-diffusion``) plus numeric and short-answer exercises written here (the
  course has none), drawn with ``type.generate(params, default_rng(seed))``;
- the grader's own parsers: ``grader/answers.py``, ``grader/mcq.py``, ``grader/text.py`` and
  ``grader/diffusion/vocab.py`` ``parse_prompt``.

Pure functions: no database, no Keras.
"""
from __future__ import annotations

import copy
import json
import math
import os
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from exercises.types import REGISTRY, get_type
from grader.answers import (
    MAX_INT,
    parse_choices,
    parse_float,
    parse_int,
    parse_kernel,
    parse_shape,
    require_fields,
)
from grader.diffusion import vocab
from grader.diffusion.vocab import PromptError, caption, parse_prompt
from grader.mcq import grade_mcq
from grader.result import AnswerError, GradeResult
from grader.tests.strategies import json_like, json_scalars
from grader.text import format_int, join_lines

pytestmark = pytest.mark.fuzz

# STRIDE_FUZZ_SCALE=10 for a long run (ten times the examples).
FUZZ = settings(max_examples=int(150 * float(os.environ.get("STRIDE_FUZZ_SCALE", "1"))), deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
SEED_DIR = Path(__file__).resolve().parents[3] / "exercises" / "seed" / "cnn-diffusion" / "exercises"
SEEDS = (0, 1, 2)

# The course has no numeric or short-answer exercise: these are written as a teacher would.
EXTRA = {
    "numeric-fraction": ("numeric", {
        "unit": "cm",
        "answers": [{"value": 1 / 9, "tolerance": 0.001, "feedback": {"fr": "Oui.", "en": "Yes."}},
                    {"value": 0.1, "tolerance": 0.05, "weight": 0.5}],
    }),
    "numeric-large": ("numeric", {"answers": [{"value": 3_600_000_100, "tolerance": 0}]}),
    "short-answer": ("short_answer", {
        "answers": [{"text": "Neocognitron", "feedback": {"fr": "Oui.", "en": "Yes."}},
                    {"text": "néo cognitron", "weight": 0.5}],
    }),
    "short-answer-case": ("short_answer", {"case_sensitive": True, "answers": [{"text": "ReLU"}]}),
}


def _course_params() -> dict[str, tuple[str, dict]]:
    found = {}
    for path in sorted(SEED_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        found[data["slug"]] = (data["type"], data.get("params") or {})
    return found


EXERCISES = {**_course_params(), **EXTRA}
EXERCISE_KEYS = sorted(EXERCISES)


@cache
def variant(key: str, seed: int) -> dict:
    type_name, params = EXERCISES[key]
    return get_type(type_name).generate(copy.deepcopy(params), np.random.default_rng(seed))


def _variant_copy(key: str, seed: int) -> dict:
    # A parser must not change the variant; a fresh copy each time lets the test check it.
    return copy.deepcopy(variant(key, seed))


def _event(name: str) -> None:
    """Count outcomes (``--hypothesis-show-statistics``), also from plain tests."""
    if currently_in_test_context():
        event(name)


def assert_clear(error: AnswerError) -> None:
    message = error.message
    assert isinstance(message, dict), message
    for lang in ("fr", "en"):
        assert isinstance(message.get(lang), str) and message[lang].strip(), message


def assert_grade(result: GradeResult) -> None:
    assert isinstance(result, GradeResult)
    assert 0.0 <= result.score <= 1.0 and isinstance(result.correct, bool)
    for lang in ("fr", "en"):
        assert isinstance(result.feedback.get(lang), str) and result.feedback[lang].strip(), result.feedback
    json.dumps(result.details, allow_nan=False)


def check_answer(key: str, seed: int, answer) -> dict | None:
    """Parse, grade and re-parse one answer; return the parsed answer or None if refused."""
    type_name, _params = EXERCISES[key]
    exercise_type = get_type(type_name)
    the_variant = _variant_copy(key, seed)
    before = copy.deepcopy(the_variant)
    try:
        parsed = exercise_type.parse_answer(the_variant, answer)
    except AnswerError as error:
        _event(f"{type_name}: refused")
        assert_clear(error)
        with pytest.raises(AnswerError):
            exercise_type.grade_answer(the_variant, answer)
        assert the_variant == before
        return None
    _event(f"{type_name}: parsed")
    assert isinstance(parsed, dict)
    # JSON-safe (it is stored in a JSONField and sent back by the API), and a fixed point.
    assert json.loads(json.dumps(parsed, allow_nan=False)) == parsed
    assert exercise_type.parse_answer(the_variant, parsed) == parsed
    assert_grade(exercise_type.grade(the_variant, parsed))
    assert_grade(exercise_type.grade_answer(the_variant, answer))
    assert the_variant == before
    return parsed


# ----------------------------------------------------------------------------- answer strategies

# Draw the type first, so the 17 quizzes of the course do not crowd out the other types.
KEYS_BY_TYPE = {name: [k for k in EXERCISE_KEYS if EXERCISES[k][0] == name] for name in sorted(REGISTRY)}
exercise_keys = st.sampled_from(sorted(KEYS_BY_TYPE)).flatmap(lambda name: st.sampled_from(KEYS_BY_TYPE[name]))
seeds = st.sampled_from(SEEDS)
ANSWER_FIELDS = ["shape", "value", "kernel", "choice", "choices", "text", "answer", "prompt", ""]


def _mutations(value, leaf):
    """Copies of ``value`` with one leaf, list or key replaced."""
    if isinstance(value, dict) and value:
        return st.sampled_from(sorted(value, key=str)).flatmap(lambda key: st.one_of(
            _mutations(value[key], leaf).map(lambda new: {**value, key: new}),
            st.just({k: v for k, v in value.items() if k != key}),
            leaf.map(lambda extra: {**value, "extra": extra}),
        ))
    if isinstance(value, list) and value:
        return st.integers(0, len(value) - 1).flatmap(lambda i: st.one_of(
            _mutations(value[i], leaf).map(lambda new: [*value[:i], new, *value[i + 1:]]),
            st.just(value[:i] + value[i + 1:]),
            st.just(value + [value[i]]),
            st.just([value]),
        ))
    return leaf


def well_formed(key: str, seed: int):
    """Answers of the right shape, mostly wrong: they reach the grader, not just the parser."""
    type_name, _params = EXERCISES[key]
    the_variant = variant(key, seed)
    ids = [c["id"] for c in the_variant.get("choices", [])]
    finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
    if type_name == "output_size":
        return st.fixed_dictionaries({"shape": st.lists(st.integers(1, 10**6), min_size=1, max_size=4)})
    if type_name == "param_count":
        return st.fixed_dictionaries({"value": st.one_of(st.integers(0, MAX_INT), st.integers(0, 10**7).map(str))})
    if type_name == "kernel" and the_variant["mode"] == "identify":
        return st.fixed_dictionaries({"choice": st.sampled_from(ids)})
    if type_name == "kernel":
        return st.fixed_dictionaries({"kernel": st.lists(st.lists(st.one_of(finite, finite.map(str)), min_size=3,
                                                                  max_size=3), min_size=3, max_size=3)})
    if type_name == "mcq":
        size = None if the_variant["multiple"] else 1
        return st.fixed_dictionaries({"choices": st.lists(st.sampled_from(ids), min_size=1, max_size=size or len(ids),
                                                          unique=True)})
    if type_name == "numeric":
        return st.fixed_dictionaries({"value": st.one_of(st.floats(min_value=-1e13, max_value=1e13), finite.map(str))})
    if type_name == "short_answer":
        return st.fixed_dictionaries({"text": st.text(min_size=1, max_size=220)})
    return st.fixed_dictionaries({"prompt": st.text(max_size=20)})


@st.composite
def answers_for(draw, key: str, seed: int):
    """Arbitrary JSON, well-shaped bodies with arbitrary fields, and mutated right answers."""
    type_name, _params = EXERCISES[key]
    exercise_type = get_type(type_name)
    kinds = [json_like, st.dictionaries(st.sampled_from(ANSWER_FIELDS), json_like, max_size=3),
             well_formed(key, seed), well_formed(key, seed)]
    if exercise_type.instant:
        solved = exercise_type.solve(variant(key, seed))
        kinds += [st.just(solved), _mutations(solved, json_scalars), _mutations(solved, json_like)]
        public = exercise_type.public_variant(variant(key, seed))
        ids = [c["id"] for c in public.get("choices", [])]
        if ids:
            kinds.append(st.fixed_dictionaries({
                "choices": st.lists(st.sampled_from(ids + ["zz", ""]), max_size=len(ids) + 2),
                "choice": st.sampled_from(ids + ["zz", 0]),
            }))
    return draw(st.one_of(kinds))


# ----------------------------------------------------------------------------- exercise types

def test_the_fuzzed_exercises_cover_every_type():
    assert {EXERCISES[key][0] for key in EXERCISE_KEYS} == set(REGISTRY)


@pytest.mark.parametrize("key", EXERCISE_KEYS)
def test_the_reference_answer_scores_full_marks(key):
    type_name, _params = EXERCISES[key]
    exercise_type = get_type(type_name)
    if not exercise_type.instant:
        with pytest.raises(AnswerError) as caught:
            exercise_type.grade_answer(variant(key, 0), {})
        assert_clear(caught.value)
        return
    for seed in SEEDS:
        parsed = check_answer(key, seed, exercise_type.solve(variant(key, seed)))
        assert parsed is not None
        assert exercise_type.grade(variant(key, seed), parsed).score == 1.0


@FUZZ
@given(data=st.data(), key=exercise_keys, seed=seeds)
def test_parse_answer_and_grade_answer_take_anything(data, key, seed):
    check_answer(key, seed, data.draw(answers_for(key, seed)))


form_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["1", "0", "-1", "3,5", "1/9", "1 000", "٣", "1e999", "nan", "", " ", "laplacian",
                     "a", "b", "c", "32", "0x10", "\x00", "1\u202f000"]),
)


def _form_strategy(key: str, seed: int):
    type_name, _params = EXERCISES[key]
    fields = list(get_type(type_name).form_fields) or ["value"]
    ids = [c["id"] for c in variant(key, seed).get("choices", [])]
    value = st.one_of(form_text, st.sampled_from(ids)) if ids else form_text
    values = st.lists(value, max_size=3)
    return st.dictionaries(st.sampled_from(fields + ["other", "csrfmiddlewaretoken"]), values,
                           max_size=len(fields) + 1)


class QueryDictLike:
    """What ``answer_from_form`` gets from a view: ``getlist`` (no Django here)."""

    def __init__(self, data: dict[str, list[str]]):
        self.data = data

    def getlist(self, key):
        return list(self.data.get(key, []))


@FUZZ
@given(data=st.data(), key=exercise_keys, seed=seeds, as_querydict=st.booleans())
def test_answer_from_form_takes_any_form(data, key, seed, as_querydict):
    type_name, _params = EXERCISES[key]
    exercise_type = get_type(type_name)
    form = data.draw(_form_strategy(key, seed))
    try:
        answer = exercise_type.answer_from_form(_variant_copy(key, seed), QueryDictLike(form) if as_querydict else form)
    except AnswerError as error:
        _event(f"{type_name}: form refused")
        assert_clear(error)
        return
    assert isinstance(answer, dict)
    check_answer(key, seed, answer)


@FUZZ
@given(key=st.sampled_from([k for k in EXERCISE_KEYS if get_type(EXERCISES[k][0]).instant]), seed=seeds)
def test_a_right_answer_typed_into_the_form_scores_like_the_api(key, seed):
    """The form path and the API path agree on the reference answer."""
    type_name, _params = EXERCISES[key]
    exercise_type = get_type(type_name)
    the_variant = variant(key, seed)
    solved = exercise_type.solve(the_variant)
    form = {}
    if "shape" in solved:
        shape = [str(d) for d in solved["shape"]]
        form = dict(zip(exercise_type.form_fields[-len(shape):], ([d] for d in shape), strict=True))
    elif "kernel" in solved:
        flat = [repr(float(x)) for row in solved["kernel"] for x in row]
        form = dict(zip(exercise_type.form_fields, ([x] for x in flat), strict=False))
    elif "choice" in solved:
        form = {"choice": [solved["choice"]]}
    elif "choices" in solved:
        form = {"choices": list(solved["choices"])}
    elif "value" in solved:
        form = {"value": [repr(solved["value"])]}
    elif "text" in solved:
        form = {"text": [solved["text"]]}
    answer = exercise_type.answer_from_form(the_variant, form)
    assert exercise_type.grade_answer(the_variant, answer).score == 1.0


# ----------------------------------------------------------------------------- grader/answers.py

@FUZZ
@given(obj=json_like, valid=st.lists(st.text(max_size=4), max_size=5, unique=True), multiple=st.booleans(),
       fields=st.lists(st.text(max_size=6), min_size=1, max_size=3, unique=True))
def test_grader_parsers_take_anything(obj, valid, multiple, fields):
    for parse in (parse_int, parse_float, parse_shape, parse_kernel,
                  lambda o: parse_choices(o, valid, multiple),
                  lambda o: require_fields(o, fields),
                  lambda o: require_fields({fields[0]: o}, fields[:1])):
        try:
            parse(obj)
        except AnswerError as error:
            assert_clear(error)


@FUZZ
@given(text=st.text(max_size=40))
def test_number_parsers_take_any_text(text):
    for parse in (parse_int, parse_float):
        try:
            value = parse(text)
        except AnswerError as error:
            assert_clear(error)
            continue
        assert math.isfinite(value)
        assert parse(value) == value  # a parsed number parses to itself


@FUZZ
@given(value=st.integers(min_value=-MAX_INT, max_value=MAX_INT))
def test_numbers_as_the_site_writes_them_parse_back(value):
    """The French feedback writes 12 000 with a narrow no-break space: a student may paste it."""
    assert parse_int(format_int(value, "fr")) == value
    assert parse_float(format_int(value, "fr"), limit=MAX_INT) == value


@FUZZ
@given(ids=st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=6, unique=True),
       data=st.data(), multiple=st.booleans())
def test_parsed_choices_are_grade_mcq_input(ids, data, multiple):
    chosen = data.draw(st.one_of(json_like, st.lists(st.sampled_from(ids), max_size=len(ids) + 1)))
    correct = data.draw(st.lists(st.sampled_from(ids), min_size=1, max_size=len(ids), unique=True))
    try:
        parsed = parse_choices(chosen, ids, multiple)
    except AnswerError as error:
        assert_clear(error)
        return
    assert parsed and set(parsed) <= set(ids) and len(parsed) == len(set(parsed))
    assert multiple or len(parsed) == 1
    feedback = {i: {"fr": f"Choix {i}.", "en": f"Choice {i}."} for i in ids[::2]}
    text = {i: {"fr": f"texte {i}", "en": f"text {i}"} for i in ids}
    result = grade_mcq(correct_ids=correct, chosen_ids=parsed, multiple=multiple, feedback_by_id=feedback,
                       text_by_id=text)
    assert_grade(result)
    assert result.correct == (set(parsed) == set(correct))
    if result.correct:
        assert result.score == 1.0


@FUZZ
@given(lines=st.lists(st.fixed_dictionaries({lang: st.text(st.characters(exclude_characters="\n"), max_size=10)
                                             for lang in ("fr", "en")}), max_size=5),
       value=st.integers(min_value=-(10**18), max_value=10**18))
def test_text_helpers(lines, value):
    joined = join_lines(lines)
    for lang in ("fr", "en"):
        assert joined[lang] == "\n".join(line[lang] for line in lines)
        assert not lines or joined[lang].split("\n") == [line[lang] for line in lines]
    for lang in ("fr", "en"):
        written = format_int(value, lang)
        assert int(written.replace("\u202f", "").replace(",", "")) == value


# ----------------------------------------------------------------------------- parse_prompt

prompt_words = st.sampled_from(vocab.VOCABULARY + ["un", "une", "la", "BANANE", "Pommé", "orangé",
                                                   "pomme,", "d'une", "banana", "xyz", "-", ""])


@FUZZ
@given(obj=st.one_of(json_like, st.text(max_size=100),
                     st.lists(prompt_words, max_size=6).map(" ".join)))
def test_parse_prompt_takes_anything(obj):
    try:
        prompt = parse_prompt(obj)
    except PromptError as error:
        assert isinstance(error, AnswerError)
        assert_clear(error)
        return
    assert isinstance(prompt.text, str) and 0 < len(prompt.text) <= vocab.MAX_PROMPT_CHARS
    assert len(prompt.tokens) == vocab.MAX_TOKENS
    assert all(0 <= token < len(vocab.TOKENS) for token in prompt.tokens)
    assert prompt.fruit is None or 0 <= prompt.fruit < len(vocab.FRUITS)
    assert prompt.colour is None or 0 <= prompt.colour < len(vocab.COLOURS)
    assert parse_prompt(prompt.text) == prompt  # the checked text is a fixed point


@FUZZ
@given(pair=st.sampled_from(vocab.all_pairs()))
def test_every_caption_parses_back_to_its_pair(pair):
    prompt = parse_prompt(caption(*pair))
    assert (prompt.fruit, prompt.colour) == pair
