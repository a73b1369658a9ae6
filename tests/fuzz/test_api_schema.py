"""Schema-driven fuzzing of API v1 (issue #7): schemathesis against ``/api/v1/openapi.json``.

Every operation of the OpenAPI document that django-ninja serves is called through the Django
WSGI application (no server, no worker), as a student and as a teacher of the built-in course,
with requests generated from the document itself:

- **positive** requests (they fit the document): no 5xx, the status code is declared, the
  content type is declared and the body matches the declared schema;
- **negative** requests (they break the document: wrong types, missing fields, ...): never a
  5xx (API.md: "bad input never gives a 500"), and an error is ``{"detail": "<sentence>"}``.

The path parameters that name rows (``exercise_id``, ``submission_id``, ``generation_id``,
``slug``) and the ``username`` of the teachers' bodies draw from the ids that exist in the
database (the student's own, another student's, the teacher's) as well as from arbitrary
values, so the fuzzer reaches the handlers' real work and not only their 404s.

Model uploads and generations are accepted (202) and queued: their Celery tasks are sent on
commit, which never comes inside the test's transaction, and ``send_task`` is replaced by a
recorder besides, so no broker and no worker are needed.

Knob: ``STRIDE_FUZZ_EXAMPLES`` (default 8: about a minute here) is the number of generated
requests per operation, per mode and per role. ``STRIDE_FUZZ_EXAMPLES=200 bin/test tests/fuzz -s``
is a long run; ``-s`` prints the status codes each operation answered. A failure prints the
request (as curl), the server's traceback, and the Hypothesis seed to replay it
(``--hypothesis-seed=...``).
"""
from __future__ import annotations

import json
import os
import traceback
from collections import Counter, defaultdict
from contextlib import contextmanager
from datetime import timedelta

import pytest
import schemathesis
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import CourseFactory, student, teacher

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

EXAMPLES = int(os.environ.get("STRIDE_FUZZ_EXAMPLES", "8"))
SLUG = "cnn-diffusion"


def error_detail_check(ctx, response, case):
    """API.md: an error is ``{"detail": "<clear sentence>"}`` with a 4xx code."""
    if 400 <= response.status_code < 500:
        try:
            body = json.loads(response.content)
        except ValueError as exc:
            raise AssertionError(f"{response.status_code} without a JSON body: {response.content[:200]!r}") from exc
        assert isinstance(body, dict) and isinstance(body.get("detail"), str) and body["detail"].strip(), (
            f"{response.status_code} body is not {{'detail': '<sentence>'}}: {body!r}")
    return None


POSITIVE_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
                   error_detail_check, ignored_auth]
NEGATIVE_CHECKS = [not_a_server_error, error_detail_check]


@pytest.fixture
def world(settings, monkeypatch, tmp_path):
    """The built-in course, a student, a teacher, and rows of every kind so ids exist."""
    from accounts.services import api_token_create
    from exercises.engine.services import attempt_submit
    from exercises.engine.variants import variant_generate
    from exercises.lab import services as generations
    from exercises.models import Exercise, Generation, Submission
    from exercises.submissions import services as submissions
    from exercises.types import get_type
    from grader.diffusion.vocab import caption

    settings.ALLOWED_HOSTS = ["*"]
    settings.MEDIA_ROOT = tmp_path / "media"
    sent = []
    for module in (generations, submissions):
        monkeypatch.setattr(module, "send_task", lambda name, row_id, model: sent.append((name, row_id)) or True)

    call_command("load_course", verbosity=0)
    from courses.models import Course

    course = Course.objects.get(slug=SLUG)
    other_course = CourseFactory(slug="other-course")
    alice, bob = student(course, username="alice"), student(course, username="bob")
    prof = teacher(course, username="prof")
    student(other_course, username="carol")

    exercises = list(Exercise.objects.filter(course=course).order_by("position"))
    by_type = {}
    for exercise in exercises:
        by_type.setdefault(exercise.type, []).append(exercise)
    # Attempts: the right answer to one exercise of each instant type, for both students.
    for kind in ("output_size", "param_count", "kernel", "mcq", "numeric"):
        for exercise in by_type.get(kind, [])[:1]:
            for user in (alice, bob):
                right = get_type(exercise.type).solve(variant_generate(exercise=exercise, user_id=user.pk))
                attempt_submit(exercise=exercise, user=user, answer=right)
    # Submissions and generations in every state, stored as rows (no Keras, no worker).
    now = timezone.now()
    model_exercise = by_type["model"][0]
    diffusion_exercise = next(e for e in by_type["diffusion"] if e.params.get("mode") == "target")
    rows = {"submission": [], "generation": []}
    for user in (alice, bob):
        for status, extra in (
            ("queued", {}),
            ("running", {"started_at": now, "progress": 40}),
            ("done", {"started_at": now, "finished_at": now, "score": 0.75,
                      "metrics": {"accuracy": 0.8, "public_accuracy": 0.82, "private_accuracy": 0.78},
                      "feedback": {"fr": "Bien.", "en": "Good."}}),
            ("rejected", {"finished_at": now, "feedback": {"fr": "Refusé.", "en": "Refused."}}),
        ):
            sub = Submission.objects.create(exercise=model_exercise, user=user, file="submissions/x.keras",
                                            original_name="model.keras", status=status,
                                            queued_at=now - timedelta(minutes=5), **extra)
            rows["submission"].append(sub.pk)
        for status, extra in (
            ("queued", {}),
            ("done", {"finished_at": now, "score": 1.0, "trajectory_steps": [50, 25, 0],
                      "recognition": {"fruit": 0, "colour": 1, "caption": caption(0, 1),
                                      "fruit_confidence": 0.91, "colour_confidence": 0.62}, "batch_size": 2,
                      "feedback": {"fr": "Reconnu.", "en": "Recognised."}}),
            ("failed", {"finished_at": now, "feedback": {"fr": "Échec.", "en": "Failed."}}),
        ):
            for exercise in (diffusion_exercise, None):
                gen = Generation.objects.create(course=course, exercise=exercise, user=user, prompt="banane verte",
                                                steps=20, seed=7, guidance=3.0, status=status, **extra)
                rows["generation"].append(gen.pk)

    tokens, answers = {}, {}
    for user in (alice, prof):
        _token, raw = api_token_create(user=user, name="fuzz")
        tokens[user.username] = raw
        answers[user.username] = {
            e.pk: get_type(e.type).solve(variant_generate(exercise=e, user_id=user.pk))
            for e in exercises if get_type(e.type).instant
        }
    # A small CNN's .keras as Keras writes it (static intake accepts it), and files it refuses.
    from grader.tests.test_intake import small_cnn_config, write_archive

    good = write_archive(tmp_path / "good.keras", small_cnn_config()).read_bytes()
    files = [good, good[: len(good) // 2], b"\x89HDF\r\n\x1a\n" + bytes(64), b"", b"PK\x03\x04" + bytes(40)]
    return {
        "exercise_ids": [e.pk for e in exercises] + [0, -1, 10**6],
        "exercise_ids_by_type": {kind: [e.pk for e in same] for kind, same in by_type.items()},
        "submission_ids": rows["submission"] + [0, 10**6],
        "generation_ids": rows["generation"] + [0, 10**6],
        # NUL characters: PostgreSQL refuses them in a query, so each one must be stopped before.
        "slugs": [SLUG, other_course.slug, "no-such-course", "cnn\x00diffusion"],
        "usernames": ["alice", "bob", "prof", "carol", "nobody", "al\x00ice"],
        "tokens": tokens,
        "answers": answers,
        "files": files,
        "prompts": ["banane verte", "pomme rouge", "  Citron   JAUNE ", "banane bleue", "banana", "", "pomme\x00rouge"],
        "sent": sent,
        "statuses": defaultdict(Counter),
    }


def _schema(world) -> dict:
    """The OpenAPI document the site serves."""
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200, response.status_code
    return response.json()


def _pinned(case, world, username: str):
    """The generated case, or the same case with known ids, names, prompts, answers or files.

    Merging the known values into the parameter schemas does not work: an ``enum`` of ids is
    a subset of ``integer``, and the generator simplifies the union back to ``integer``.
    """
    options = [st.just(case)]
    known = {"exercise_id": world["exercise_ids"], "submission_id": world["submission_ids"],
             "generation_id": world["generation_ids"], "slug": world["slugs"]}
    path = case.path_parameters or {}
    names = [name for name in path if name in known]
    body_fields = {"username": world["usernames"], "prompt": world["prompts"]}
    label = case.operation.label
    is_post = case.method.upper() == "POST"

    def replaced(values: dict):
        case.path_parameters = {**path, **values.get("path", {})}
        if "body" in values:
            case.body = values["body"]
        elif isinstance(case.body, dict):
            case.body = {**case.body, **values.get("fields", {})}
        return case

    fields = {}
    if isinstance(case.body, dict):
        fields = {key: st.sampled_from(values) for key, values in body_fields.items() if key in case.body}
    if names or fields:
        path_values = st.fixed_dictionaries({name: st.sampled_from(known[name]) for name in names})
        options.append(st.fixed_dictionaries({"path": path_values, "fields": st.fixed_dictionaries(fields)})
                       .map(replaced))
    # Requests that reach the real work of a route: the right kind of exercise and a body that
    # passes the schema, with values at the edges of what the service accepts.
    typed = world["exercise_ids_by_type"]
    if is_post and label.endswith("/attempts"):
        answers = world["answers"][username]
        options.append(st.sampled_from(sorted(answers)).map(
            lambda pk: replaced({"path": {"exercise_id": pk}, "body": {"answer": answers[pk]}})))
    if is_post and label.endswith("/submissions"):
        options.append(st.tuples(st.sampled_from(typed["model"]), st.sampled_from(world["files"])).map(
            lambda pair: replaced({"path": {"exercise_id": pair[0]}, "body": {"file": pair[1]}})))
    if not is_post and label.endswith(("/dataset", "/leaderboard")):
        options.append(st.sampled_from(typed["model"]).map(lambda pk: replaced({"path": {"exercise_id": pk}})))
    if is_post and label.endswith("/generations"):
        body = st.fixed_dictionaries({
            "prompt": st.sampled_from(world["prompts"]),
            "steps": st.one_of(st.integers(1, 100), st.sampled_from([0, 101, -1, 2**40])),
            "seed": st.one_of(st.integers(0, 2**32), st.sampled_from([2**63 - 1, 2**63, 2**64, -1])),
            "guidance": st.one_of(st.floats(0, 10), st.sampled_from([-0.0, 10.000001, 1e308, -1.0])),
        })
        target = {"exercise_id": st.sampled_from(typed["diffusion"])} if "exercise_id" in path else {
            "slug": st.sampled_from(world["slugs"][:1])}
        options.append(st.fixed_dictionaries({"path": st.fixed_dictionaries(target), "body": body}).map(replaced))
    if is_post and label.endswith(("/overrides", "/extensions")):
        options.append(st.tuples(st.sampled_from(world["exercise_ids"][:-3]), st.sampled_from(["alice", "bob"]))
                       .flatmap(lambda pair: st.fixed_dictionaries({
                           "path": st.just({"exercise_id": pair[0]}),
                           "fields": st.fixed_dictionaries({"username": st.just(pair[1])})}))
                       .map(replaced))
    return st.one_of(options)


@contextmanager
def _connection_kept():
    """Like Django's test client: a request must not close the connection that holds the test's
    transaction, which the WSGI handler does on ``request_started`` and ``request_finished``.
    Yields the tracebacks of the server errors, for the report."""
    from django.core.signals import got_request_exception, request_finished, request_started
    from django.db import close_old_connections

    errors: list[str] = []

    def record(sender, request=None, **kwargs):
        errors.append(f"{request.method} {request.get_full_path()}\n{traceback.format_exc()}")

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    got_request_exception.connect(record)
    try:
        yield errors
    finally:
        got_request_exception.disconnect(record)
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _fuzz(world, username: str) -> tuple[int, list[str]]:
    # The handler itself, as Django's test client builds it: config.wsgi would run django.setup()
    # again, which re-applies the logging config over pytest's captured streams.
    from django.core.handlers.wsgi import WSGIHandler

    application = WSGIHandler()

    schema = schemathesis.openapi.from_dict(_schema(world))
    schema.app = application
    headers = {"Authorization": f"Bearer {world['tokens'][username]}"}
    failures, count = [], 0
    statuses = world["statuses"]
    for result in schema.get_all_operations():
        operation = result.ok()
        count += 1
        for mode, checks in ((GenerationMode.POSITIVE, POSITIVE_CHECKS), (GenerationMode.NEGATIVE, NEGATIVE_CHECKS)):

            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                      phases=[Phase.explicit, Phase.generate, Phase.shrink],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode, headers=headers).flatmap(
                lambda case: _pinned(case, world, username)))
            def run(case):
                # The token given again here is what the checks know as the caller's own ("explicit"):
                # ignored_auth then replays each 2xx without it and with a wrong one and expects a
                # 401. Set only on the case, a body that _pinned replaced could make the token look
                # generated by the fuzzer, and a valid one "accepted as invalid" (a false failure).
                response = case.call_and_validate(checks=checks, headers=headers)
                statuses[(operation.label, mode.value)][response.status_code] += 1

            errors: list[str] = []
            try:
                with _connection_kept() as errors:
                    run()
            except Unsatisfiable:
                # Nothing in this operation can be made invalid (no parameters, or only free strings).
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 — collected, reported at the end
                last = f"\nlast server traceback: {errors[-1]}" if errors else ""
                failures.append(f"[{username}] {mode.value} {operation.label}:\n{exc}{last}")
    return count, failures


@pytest.mark.parametrize("username", ["alice", "prof"], ids=["student", "teacher"])
def test_api_conforms_to_its_schema(world, username, record_property):
    count, failures = _fuzz(world, username)
    record_property("operations", count)
    # Shown with -s (or -rP): how many operations, and each one's status codes.
    print(f"\nschemathesis: {count} operations x 2 modes x {EXAMPLES} examples as {username}")
    for (label, mode), counter in sorted(world["statuses"].items()):
        print(f"  {mode:8} {label:50} {dict(sorted(counter.items()))}")
    assert count >= 19, count
    assert not failures, "\n\n".join(failures)
