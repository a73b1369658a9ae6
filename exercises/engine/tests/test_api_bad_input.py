"""Malformed answers through API v1: a clear 400, never a 500, and no attempt spent.

The bodies are sent as raw JSON text, so values Python's json writes and reads but that are
not valid JSON (NaN, Infinity) reach the server exactly as a careless script would send them.
"""
from __future__ import annotations

import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exercises.models import Attempt, Exercise
from tests.factories import PASSWORD, CourseFactory, student

pytestmark = pytest.mark.django_db

NAN, INF = float("nan"), float("inf")
MAX_ATTEMPTS = 3

PARAMS = {
    "output_size": {
        "input_shape": [5, 5, 1],
        "layers": [
            {"class_name": "ZeroPadding2D", "config": {"padding": 1}},
            {"class_name": "Conv2D", "config": {"filters": 1, "kernel_size": 3, "strides": 1, "padding": "valid"}},
        ],
    },
    "param_count": {
        "input_shape": [28, 28, 1],
        "layers": [
            {"class_name": "Flatten", "config": {}},
            {"class_name": "Dense", "config": {"units": 10}},
        ],
        "ask": "total",
    },
    "kernel-reconstruct": {"mode": "reconstruct", "kernels": ["laplacian"], "crop": 12},
    "kernel-identify": {"mode": "identify", "kernels": ["laplacian"], "choices": ["laplacian", "blur", "sharpen"]},
    "mcq": {
        "multiple": False,
        "choices": [
            {"id": "a", "text": {"fr": "Oui", "en": "Yes"}, "correct": True},
            {"id": "b", "text": {"fr": "Non", "en": "No"}, "correct": False},
        ],
    },
}
FIELD = {"output_size": "shape", "param_count": "value", "kernel-reconstruct": "kernel",
         "kernel-identify": "choice", "mcq": "choices"}
# A well-formed (not necessarily right) answer of each exercise.
VALID = {"output_size": {"shape": [5, 5, 1]}, "param_count": {"value": 7850},
         "kernel-reconstruct": {"kernel": [[0, -1, 0], [-1, 4, -1], [0, -1, 0]]},
         "kernel-identify": {"choice": "laplacian"}, "mcq": {"choices": ["a"]}}
ZERO_ROW = [0, 0, 0]


def _field_cases() -> dict[str, list[tuple[str, object]]]:
    """(case id, the value of the answer's one field) for each exercise."""
    def kernel_with(value):
        return [[value, 0, 0], ZERO_ROW, ZERO_ROW]

    return {
        "output_size": [
            ("text", "trente-deux"), ("text-in-list", ["a", 5, 1]), ("nan", [NAN, 5, 1]),
            ("nan-string", ["nan", 5, 1]), ("infinity", [INF, 5, 1]), ("huge", [1e300, 5, 1]),
            ("object", {"h": 5, "w": 5, "c": 1}), ("empty", []), ("zero", [0, 5, 1]),
            ("float", [5.5, 5, 1]), ("bool", [True, 5, 1]), ("nan-alone", NAN),
        ],
        "param_count": [
            ("text", "beaucoup"), ("nan", NAN), ("nan-string", "nan"), ("infinity", INF),
            ("minus-infinity", -INF), ("infinity-string", "Infinity"), ("huge", 1e300),
            ("huge-int", 10**400), ("negative", -3), ("list", [7850]), ("object", {"n": 7850}),
            ("bool", True), ("null", None), ("fraction", 3.5),
        ],
        "kernel-reconstruct": [
            ("2x2", [[1, 0], [0, 1]]), ("2x3", [ZERO_ROW, ZERO_ROW]), ("4x3", [ZERO_ROW] * 4),
            ("3x4", [[0, 0, 0, 0]] * 3), ("flat-9", [0] * 9), ("text", "laplacian"),
            ("text-coefficient", kernel_with("un")), ("nan", kernel_with(NAN)),
            ("nan-string", kernel_with("nan")), ("infinity", kernel_with(INF)),
            ("huge", kernel_with(1e300)), ("null-coefficient", kernel_with(None)),
            ("object", {"a": 1}), ("empty", []),
        ],
        "kernel-identify": [
            ("unknown-choice", "gaussian"), ("number", 3), ("nan", NAN), ("nan-string", "nan"),
            ("huge", 1e300), ("two-choices", ["laplacian", "blur"]), ("object", {"id": "laplacian"}),
            ("empty", []),
        ],
        "mcq": [
            ("unknown-choice", ["z"]), ("unknown-choice-string", "z"), ("number", [1]), ("nan", [NAN]),
            ("nan-string", ["nan"]), ("huge", 1e300), ("none-chosen", []), ("object", {"a": True}),
            ("two-for-one", ["a", "b"]), ("twice", ["a", "a"]),
        ],
    }


def _cases():
    for key, field_cases in _field_cases().items():
        valid = VALID[key]
        yield pytest.param(key, json.dumps({"answer": {}}), id=f"{key}-missing-field")
        yield pytest.param(key, json.dumps({}), id=f"{key}-no-answer-key")
        yield pytest.param(key, json.dumps({"anwser": valid}), id=f"{key}-misspelt-answer-key")
        yield pytest.param(key, json.dumps({"answer": [valid]}), id=f"{key}-list-not-object")
        yield pytest.param(key, json.dumps({"answer": list(valid.values())}), id=f"{key}-values-as-list")
        yield pytest.param(key, json.dumps({"answer": None}), id=f"{key}-null")
        yield pytest.param(key, json.dumps({"answer": {**valid, "extra": 1}}), id=f"{key}-extra-field")
        yield pytest.param(key, json.dumps({"answer": valid})[:-3], id=f"{key}-truncated-json")
        yield pytest.param(key, "answer=42", id=f"{key}-not-json")
        yield pytest.param(key, json.dumps([valid]), id=f"{key}-body-is-a-list")
        for case_id, value in field_cases:
            yield pytest.param(key, json.dumps({"answer": {FIELD[key]: value}}), id=f"{key}-{case_id}")


@pytest.fixture
def course():
    return CourseFactory(slug="bad-input")


@pytest.fixture
def exercises(course):
    made = {}
    for position, (key, params) in enumerate(PARAMS.items()):
        made[key] = Exercise.objects.create(
            course=course, slug=key, type=key.split("-")[0], position=position, params=params,
            title_i18n={"fr": key, "en": key}, max_attempts=MAX_ATTEMPTS,
        )
    return made


def bearer_client(user) -> Client:
    client = Client()
    response = client.post("/api/v1/auth/token", {"username": user.username, "password": PASSWORD},
                           content_type="application/json")
    assert response.status_code == 200, response.content
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {response.json()['token']}"
    return client


@pytest.fixture
def user(course):
    return student(course, username="careless-script")


@pytest.fixture
def api(user):
    return bearer_client(user)


def post_raw(client, exercise_id, body: str):
    return client.post(f"/api/v1/exercises/{exercise_id}/attempts", data=body, content_type="application/json")


def assert_clear_error(response, status):
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"detail"}, body
    detail = body["detail"]
    # A sentence: words, an end, no Python internals.
    assert isinstance(detail, str) and len(detail) >= 8 and len(detail.split()) >= 2, body
    assert "Traceback" not in detail and "Error(" not in detail, body
    return detail


def attempts_left(client, exercise_id):
    response = client.get(f"/api/v1/exercises/{exercise_id}")
    assert response.status_code == 200
    return response.json()["attempts_left"]


@pytest.mark.parametrize(("key", "body"), list(_cases()))
def test_malformed_answer_is_a_clear_400_and_uses_no_attempt(api, user, exercises, key, body):
    exercise = exercises[key]
    assert attempts_left(api, exercise.pk) == MAX_ATTEMPTS
    assert_clear_error(post_raw(api, exercise.pk, body), 400)
    assert attempts_left(api, exercise.pk) == MAX_ATTEMPTS
    assert not Attempt.objects.filter(exercise=exercise, user=user).exists()


@pytest.mark.parametrize("key", list(PARAMS))
def test_the_well_formed_answers_of_this_file_are_accepted(api, user, exercises, key):
    # So the 400s above come from the bad parts, not from a broken exercise or answer.
    response = post_raw(api, exercises[key].pk, json.dumps({"answer": VALID[key]}))
    assert response.status_code == 200, response.content
    assert response.json()["attempts_left"] == MAX_ATTEMPTS - 1
    assert Attempt.objects.filter(exercise=exercises[key], user=user).count() == 1


def test_numbers_as_strings_are_not_malformed(api, exercises):
    assert post_raw(api, exercises["param_count"].pk, json.dumps({"answer": {"value": "7 850"}})).json()["correct"]
    kernel = [["0", "-1", "0"], ["-1", "4", "-1"], ["0", "-1", "0"]]
    assert post_raw(api, exercises["kernel-reconstruct"].pk, json.dumps({"answer": {"kernel": kernel}})).json()["correct"]


def test_past_the_limit_is_403_with_a_clear_detail(api, user, exercises):
    exercise = exercises["mcq"]
    for left in range(MAX_ATTEMPTS - 1, -1, -1):
        response = post_raw(api, exercise.pk, json.dumps({"answer": {"choices": ["b"]}}))
        assert response.status_code == 200 and response.json()["attempts_left"] == left
    refused = post_raw(api, exercise.pk, json.dumps({"answer": {"choices": ["a"]}}))
    detail = assert_clear_error(refused, 403)
    assert "tentatives" in detail  # French by default: "Vous avez utilisé toutes vos tentatives..."
    api.cookies["django_language"] = "en"
    detail_en = assert_clear_error(post_raw(api, exercise.pk, json.dumps({"answer": {"choices": ["a"]}})), 403)
    assert detail_en == "You have used all your attempts for this exercise."
    assert Attempt.objects.filter(exercise=exercise, user=user).count() == MAX_ATTEMPTS
    # Even a malformed answer is refused, never counted.
    assert post_raw(api, exercise.pk, json.dumps({"answer": {}})).status_code in (400, 403)
    assert Attempt.objects.filter(exercise=exercise, user=user).count() == MAX_ATTEMPTS


def test_an_exercise_of_a_course_one_is_not_enrolled_in_is_404(exercises):
    other_course = CourseFactory(slug="another-course")
    outsider = student(other_course, username="outsider")
    client = bearer_client(outsider)
    for key, exercise in exercises.items():
        body = json.dumps({"answer": VALID[key]})
        assert_clear_error(post_raw(client, exercise.pk, body), 404)
        assert_clear_error(client.get(f"/api/v1/exercises/{exercise.pk}"), 404)
    assert_clear_error(client.get("/api/v1/courses/bad-input/exercises"), 404)
    assert not Attempt.objects.exists()


def test_an_unknown_exercise_is_404(api, exercises):
    unknown = max(e.pk for e in exercises.values()) + 1000
    assert_clear_error(post_raw(api, unknown, json.dumps({"answer": VALID["mcq"]})), 404)
    assert_clear_error(api.get(f"/api/v1/exercises/{unknown}"), 404)


def test_an_unpublished_exercise_is_404_to_a_student(api, exercises):
    exercise = exercises["mcq"]
    Exercise.objects.filter(pk=exercise.pk).update(published=False)
    assert_clear_error(post_raw(api, exercise.pk, json.dumps({"answer": VALID["mcq"]})), 404)
    assert not Attempt.objects.exists()


def test_without_a_token_is_401(exercises):
    response = post_raw(Client(), exercises["mcq"].pk, json.dumps({"answer": VALID["mcq"]}))
    assert_clear_error(response, 401)
    bad = Client(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert_clear_error(post_raw(bad, exercises["mcq"].pk, json.dumps({"answer": VALID["mcq"]})), 401)


# --- never a 500 -------------------------------------------------------------------------------
ANSWER_KEYS = st.sampled_from(["answer", "shape", "value", "kernel", "choice", "choices"])
JSON_LEAVES = (
    st.none() | st.booleans() | st.integers() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["", "nan", "NaN", "inf", "-Infinity", "1e300", "1/0", "1/9", "3 600", "0,5",
                       "laplacian", "blur", "a", "b", "\u2212 1", "\x00", "9" * 400])
    | st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(ANSWER_KEYS | st.text(max_size=6), children, max_size=3),
    max_leaves=16,
)
BODIES = st.one_of(
    JSON_VALUES.map(json.dumps),  # any JSON value as the whole body
    JSON_VALUES.map(lambda v: json.dumps({"answer": v})),  # any value as the answer
    st.dictionaries(ANSWER_KEYS, JSON_VALUES, max_size=2).map(lambda v: json.dumps({"answer": v})),
    st.text(max_size=30),  # not JSON at all, most of the time
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES)
def test_random_bodies_never_give_a_500(api, user, exercises, body):
    for key, exercise in exercises.items():
        before = Attempt.objects.filter(exercise=exercise, user=user).count()
        response = post_raw(api, exercise.pk, body)
        assert response.status_code < 500, (key, body, response.content)
        assert response.status_code in (200, 400, 403), (key, body, response.status_code, response.content)
        assert "detail" in response.json() or response.status_code == 200
        after = Attempt.objects.filter(exercise=exercise, user=user).count()
        assert after == before + (response.status_code == 200), (key, body)
    # Keep the allowance from running out so every example reaches the answer parser.
    Attempt.objects.filter(user=user).delete()
