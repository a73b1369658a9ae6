"""Course folders: load_course / export_course, idempotent, lossless, all or nothing."""
from __future__ import annotations

import shutil
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from courses.models import Course
from exercises.engine.services import attempt_submit
from exercises.models import Attempt, Exercise
from tests.factories import student

pytestmark = pytest.mark.django_db

SEED = Path(__file__).resolve().parents[2] / "seed" / "cnn-diffusion"
SEED_COUNT = len(list((SEED / "exercises").glob("*.yaml")))
# Every field a course folder carries (all but the keys and the bookkeeping).
EXERCISE_FIELDS = [
    "slug", "type", "position", "section_i18n", "title_i18n", "statement_i18n", "explanation_i18n", "params",
    "max_score", "weight", "max_attempts", "retry_penalty", "due_at", "late_policy", "late_penalty", "published",
    "grades_visible_at",
]
COURSE_FIELDS = ["title_i18n", "description_i18n", "language"]


def load(path=None) -> str:
    out = StringIO()
    call_command("load_course", *([str(path)] if path else []), stdout=out)
    return out.getvalue()


def export(slug, path) -> str:
    out = StringIO()
    call_command("export_course", slug, str(path), stdout=out)
    return out.getvalue()


def snapshot(course: Course) -> dict[str, dict]:
    return {
        ex.slug: {field: getattr(ex, field) for field in EXERCISE_FIELDS}
        for ex in Exercise.objects.filter(course=course)
    }


def copy_seed(tmp_path: Path) -> Path:
    folder = tmp_path / "course"
    shutil.copytree(SEED, folder)
    return folder


def exercise_file(folder: Path, slug: str) -> Path:
    (path,) = [p for p in (folder / "exercises").glob("*.yaml") if yaml.safe_load(p.read_text())["slug"] == slug]
    return path


def edit_yaml(path: Path, **changes) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def first_answerable(course):
    return Exercise.objects.get(course=course, slug="history-neocognitron-1980")


def test_the_seed_has_at_least_its_35_instant_exercises():
    assert SEED_COUNT >= 35


def test_load_course_prints_the_course_and_its_count():
    assert load().strip() == f"course cnn-diffusion: {SEED_COUNT} exercises"
    course = Course.objects.get(slug="cnn-diffusion")
    assert Exercise.objects.filter(course=course, published=True).count() == SEED_COUNT
    assert course.join_code == "CNN2026" and course.title_i18n["en"].startswith("Convolution")


def test_load_course_with_an_explicit_path():
    assert load(SEED).strip() == f"course cnn-diffusion: {SEED_COUNT} exercises"


def test_loading_twice_is_idempotent_and_keeps_attempts():
    load()
    course = Course.objects.get(slug="cnn-diffusion")
    ids_before = dict(Exercise.objects.filter(course=course).values_list("slug", "pk"))
    fields_before = snapshot(course)
    user = student(course, username="keeper")
    exercise = first_answerable(course)
    attempt = attempt_submit(exercise=exercise, user=user, answer={"choices": ["a"]})

    assert load().strip() == f"course cnn-diffusion: {SEED_COUNT} exercises"

    assert Course.objects.filter(slug="cnn-diffusion").count() == 1
    assert dict(Exercise.objects.filter(course=course).values_list("slug", "pk")) == ids_before
    assert Exercise.objects.count() == SEED_COUNT
    assert snapshot(course) == fields_before
    kept = Attempt.objects.get(pk=attempt.pk)
    assert (kept.exercise_id, kept.user_id, kept.score, kept.number) == (exercise.pk, user.pk, attempt.score, 1)
    assert course.enrollments.filter(user=user).exists()


def test_a_course_folder_round_trips(tmp_path):
    load()
    original = Course.objects.get(slug="cnn-diffusion")
    # Give the policies values a seed file does not hold, so they travel too.
    Exercise.objects.filter(course=original, slug="kernel-reconstruct-blur").update(
        due_at=datetime(2026, 3, 1, 18, 30, tzinfo=UTC), late_policy="closed", late_penalty=0.3,
        max_attempts=None, retry_penalty=0.125, max_score=2.5, weight=0.5,
        grades_visible_at=datetime(2026, 3, 8, 9, 0, tzinfo=UTC))
    Exercise.objects.filter(course=original, slug="cnn-1d-data").update(published=False)
    before = snapshot(original)

    folder = tmp_path / "export"
    assert export("cnn-diffusion", folder).startswith(f"course cnn-diffusion: {SEED_COUNT} exercises written")
    assert len(list((folder / "exercises").glob("*.yaml"))) == SEED_COUNT
    edit_yaml(folder / "course.yaml", slug="cnn-copy", join_code="COPY2026")

    assert load(folder).strip() == f"course cnn-copy: {SEED_COUNT} exercises"

    copy = Course.objects.get(slug="cnn-copy")
    assert copy.pk != original.pk and copy.join_code == "COPY2026"
    assert {f: getattr(copy, f) for f in COURSE_FIELDS} == {f: getattr(original, f) for f in COURSE_FIELDS}
    after = snapshot(copy)
    assert set(after) == set(before)
    for slug, fields in before.items():
        for field, value in fields.items():
            assert after[slug][field] == value, (slug, field, after[slug][field], value)
    assert after["kernel-reconstruct-blur"]["due_at"] == datetime(2026, 3, 1, 18, 30, tzinfo=UTC)
    assert after["cnn-1d-data"]["published"] is False
    # The original course is untouched.
    assert snapshot(original) == before
    assert Exercise.objects.count() == 2 * SEED_COUNT


def test_an_export_loaded_back_over_its_course_changes_nothing(tmp_path):
    load()
    course = Course.objects.get(slug="cnn-diffusion")
    before = snapshot(course)
    ids = dict(Exercise.objects.values_list("slug", "pk"))
    export("cnn-diffusion", tmp_path / "again")
    load(tmp_path / "again")
    assert snapshot(course) == before
    assert dict(Exercise.objects.values_list("slug", "pk")) == ids


def test_export_of_an_unknown_course_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="nope"):
        export("nope", tmp_path / "x")


def _break_unknown_type(folder):
    path = folder / "exercises" / "99-mystery.yaml"
    path.write_text("slug: mystery\ntype: crossword\ntitle: {fr: Mystère, en: Mystery}\nparams: {}\n")
    return path


def _break_params(folder):
    path = exercise_file(folder, "kernel-identify-laplacian")
    edit_yaml(path, params={"mode": "identify", "kernels": ["no-such-kernel"]})
    return path


def _break_yaml(folder):
    path = exercise_file(folder, "output-size-formula")
    path.write_text(path.read_text(encoding="utf-8") + "\n  oops: [unclosed\n: : :\n", encoding="utf-8")
    return path


def _break_top_level(folder):
    path = exercise_file(folder, "cnn-3d-data")
    path.write_text("- just\n- a list\n", encoding="utf-8")
    return path


def _break_duplicate_slug(folder):
    source = exercise_file(folder, "cnn-3d-data")
    path = folder / "exercises" / "98-duplicate.yaml"
    shutil.copy(source, path)
    return path


@pytest.mark.parametrize(
    ("breaker", "named"),
    [(_break_unknown_type, "99-mystery.yaml"), (_break_params, None), (_break_yaml, None),
     (_break_top_level, None), (_break_duplicate_slug, "cnn-3d-data")],
    ids=["unknown-type", "invalid-params", "bad-yaml", "not-a-mapping", "duplicate-slug"],
)
def test_a_broken_folder_is_a_command_error_naming_the_file_and_imports_nothing(tmp_path, breaker, named):
    load()
    course = Course.objects.get(slug="cnn-diffusion")
    before = snapshot(course)
    folder = copy_seed(tmp_path)
    # A good change in the same folder, which must not be applied either.
    edit_yaml(exercise_file(folder, "history-gpus-2012"), title={"fr": "Changé", "en": "Changed"})
    broken = breaker(folder)

    with pytest.raises(CommandError) as error:
        load(folder)
    assert (named or broken.name) in str(error.value)
    assert Exercise.objects.count() == SEED_COUNT
    assert snapshot(course) == before

    # Under another slug: no course appears either.
    edit_yaml(folder / "course.yaml", slug="half-course", join_code="HALF01")
    with pytest.raises(CommandError):
        load(folder)
    assert not Course.objects.filter(slug="half-course").exists()
    assert Exercise.objects.count() == SEED_COUNT


def test_a_folder_without_course_yaml_is_a_command_error(tmp_path):
    (tmp_path / "empty" / "exercises").mkdir(parents=True)
    with pytest.raises(CommandError, match="course.yaml"):
        load(tmp_path / "empty")
    assert not Course.objects.exists()


def test_an_exercise_removed_from_the_folder_is_unpublished_not_deleted(tmp_path):
    load()
    course = Course.objects.get(slug="cnn-diffusion")
    removed = Exercise.objects.get(course=course, slug="history-neocognitron-1980")
    user = student(course, username="historian")
    attempt = attempt_submit(exercise=removed, user=user, answer={"choices": ["a"]})
    folder = copy_seed(tmp_path)
    exercise_file(folder, "history-neocognitron-1980").unlink()

    assert load(folder).strip() == f"course cnn-diffusion: {SEED_COUNT - 1} exercises"

    removed.refresh_from_db()
    assert removed.published is False
    assert Exercise.objects.filter(course=course).count() == SEED_COUNT
    assert Exercise.objects.filter(course=course, published=True).count() == SEED_COUNT - 1
    assert Attempt.objects.filter(pk=attempt.pk, exercise=removed, user=user).exists()

    # Back in the folder, it is published again, with the same id and its attempts.
    assert load(SEED).strip() == f"course cnn-diffusion: {SEED_COUNT} exercises"
    removed.refresh_from_db()
    assert removed.published is True
    assert Attempt.objects.filter(exercise=removed).count() == 1


def test_a_copy_under_another_slug_with_the_same_join_code_is_a_command_error(tmp_path):
    load()
    folder = copy_seed(tmp_path)
    edit_yaml(folder / "course.yaml", slug="cnn-twin")  # join_code CNN2026 kept
    with pytest.raises(CommandError, match="course.yaml.*CNN2026"):
        load(folder)
    assert not Course.objects.filter(slug="cnn-twin").exists()
    assert Exercise.objects.count() == SEED_COUNT


@pytest.mark.parametrize(
    "policy",
    [{"max_attempts": "three"}, {"max_attempts": -1}, {"retry_penalty": "a lot"}, {"due_at": "next monday"},
     {"late_policy": "maybe"}, {"late_penalty": [1]}],
    ids=["max-attempts-text", "max-attempts-negative", "retry-penalty-text", "due-at-text", "late-policy",
         "late-penalty-list"],
)
def test_a_bad_policy_value_is_a_command_error_naming_the_file(tmp_path, policy):
    folder = copy_seed(tmp_path)
    path = exercise_file(folder, "param-count-conv-layer")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit_yaml(path, policy={**data["policy"], **policy})
    with pytest.raises(CommandError, match=path.name):
        load(folder)
    assert not Course.objects.exists() and not Exercise.objects.exists()


@pytest.mark.parametrize("field", [{"position": "first"}, {"max_score": "full"}, {"weight": None}])
def test_a_bad_number_is_a_command_error_naming_the_file(tmp_path, field):
    folder = copy_seed(tmp_path)
    path = exercise_file(folder, "param-count-conv-layer")
    edit_yaml(path, **field)
    with pytest.raises(CommandError, match=path.name):
        load(folder)
    assert not Course.objects.exists() and not Exercise.objects.exists()


def test_a_due_date_written_as_text_is_read_with_its_offset(tmp_path):
    folder = copy_seed(tmp_path)
    path = exercise_file(folder, "param-count-conv-layer")
    edit_yaml(path, policy={"max_attempts": 2, "due_at": "2026-03-01T18:00:00+01:00", "late_policy": "closed"})
    load(folder)
    exercise = Exercise.objects.get(slug="param-count-conv-layer")
    assert exercise.due_at == datetime(2026, 3, 1, 17, 0, tzinfo=UTC)
    assert (exercise.max_attempts, exercise.late_policy, exercise.retry_penalty) == (2, "closed", 0.0)
