"""A course as a YAML folder: ``course.yaml`` and one ``exercises/NN-<slug>.yaml`` per exercise.

Loading is atomic (all or nothing) and idempotent: exercises are matched by slug and updated
in place, so students' attempts are kept. An exercise that left the folder is unpublished,
not deleted, for the same reason.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from config.i18n import LANGS
from courses.models import Course
from exercises.models import Exercise
from exercises.types import REGISTRY, get_type
from grader.result import ParamsError

EXERCISE_FIELDS = ("section", "title", "statement", "explanation")
POLICY_FIELDS = ("max_attempts", "retry_penalty", "due_at", "late_policy", "late_penalty", "grades_visible_at", "feedback")


class CourseFileError(ValueError):
    """A course folder that cannot be loaded; the message names the file."""


@dataclass(frozen=True)
class LoadReport:
    course: Course
    exercises: int
    created: int
    unpublished: int


def _text(value, where: str) -> dict:
    if value is None:
        return {}
    if isinstance(value, str):
        return {"fr": value}
    if not isinstance(value, dict) or not set(value) <= set(LANGS):
        raise CourseFileError(f"{where}: expected a text or {{fr: ..., en: ...}}")
    return {k: str(v) for k, v in value.items()}


def _float(value, where: str, *, low: float, high: float | None = None) -> float:
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or value < low or (high is not None and value > high)):
        expected = f"a number between {low:g} and {high:g}" if high is not None else f"a number >= {low:g}"
        raise CourseFileError(f"{where}: expected {expected}, not {value!r}")
    return float(value)


def _int(value, where: str, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise CourseFileError(f"{where}: expected an integer >= {low}, not {value!r}")
    return value


def _datetime(value, where: str) -> datetime | None:
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
    if parsed is None:
        raise CourseFileError(f"{where}: expected a date and time such as 2026-03-01 18:00:00+01:00, not {value!r}")
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CourseFileError(f"{path.name}: cannot read YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise CourseFileError(f"{path.name}: expected a mapping at the top level")
    return data


def exercise_fields(data: dict, *, where: str) -> dict:
    """The model fields of one exercise in the course-folder format, every one checked (the type,
    its params, the policy, the texts); ``CourseFileError`` names ``where`` and the problem.
    Course folders, zips and GIFT imports all build their exercises through it."""
    name = where
    slug = data.get("slug")
    if not slug or not isinstance(slug, str):
        raise CourseFileError(f"{name}: missing slug")
    kind = data.get("type")
    if kind not in REGISTRY:
        raise CourseFileError(f"{name}: unknown type {kind!r} (known: {', '.join(sorted(REGISTRY))})")
    params = data.get("params") or {}
    try:
        get_type(kind).validate_params(params)
    except ParamsError as exc:
        raise CourseFileError(f"{name}: invalid params: {exc.message.get('en') or exc}") from exc
    policy = data.get("policy") or {}
    if not isinstance(policy, dict):
        raise CourseFileError(f"{name}: policy must be a mapping")
    unknown = set(policy) - set(POLICY_FIELDS)
    if unknown:
        raise CourseFileError(f"{name}: unknown policy keys {sorted(unknown)}")
    fields = {
        "type": kind,
        "position": _int(data.get("position", 0), f"{name}: position", low=0),
        "params": params,
        "max_score": _float(data.get("max_score", 1), f"{name}: max_score", low=0),
        "weight": _float(data.get("weight", 1), f"{name}: weight", low=0),
        "published": bool(data.get("published", True)),
        "max_attempts": None if policy.get("max_attempts") is None
        else _int(policy["max_attempts"], f"{name}: policy max_attempts", low=1),
        "retry_penalty": _float(policy.get("retry_penalty") or 0, f"{name}: policy retry_penalty", low=0, high=1),
        "due_at": _datetime(policy.get("due_at"), f"{name}: policy due_at"),
        "grades_visible_at": _datetime(policy.get("grades_visible_at"), f"{name}: policy grades_visible_at"),
        "late_policy": policy.get("late_policy", Exercise.LatePolicy.PENALTY),
        "late_penalty": _float(policy.get("late_penalty") or 0, f"{name}: policy late_penalty", low=0, high=1),
    }
    fields["feedback_policy"] = policy.get("feedback", Exercise.FeedbackPolicy.AFTER_SOLVED)
    if fields["feedback_policy"] not in Exercise.FeedbackPolicy.values:
        raise CourseFileError(f"{name}: policy feedback must be one of {Exercise.FeedbackPolicy.values}")
    if fields["late_policy"] not in Exercise.LatePolicy.values:
        raise CourseFileError(f"{name}: late_policy must be one of {Exercise.LatePolicy.values}")
    for key in EXERCISE_FIELDS:
        fields[f"{key}_i18n"] = _text(data.get(key), f"{name}: {key}")
    if not fields["title_i18n"]:
        raise CourseFileError(f"{name}: missing title")
    return {"slug": slug, **fields}


def course_load(*, path: Path) -> LoadReport:
    path = Path(path)
    meta_path = path / "course.yaml"
    if not meta_path.is_file():
        raise CourseFileError(f"{path}: no course.yaml")
    meta = _read_yaml(meta_path)
    if not meta.get("slug"):
        raise CourseFileError("course.yaml: missing slug")
    files = sorted((path / "exercises").glob("*.yaml")) + sorted((path / "exercises").glob("*.yml"))
    # Parse and validate everything before the first write: a bad file imports nothing.
    parsed = [exercise_fields(_read_yaml(f), where=f.name) for f in files]
    slugs = [p["slug"] for p in parsed]
    duplicates = {s for s in slugs if slugs.count(s) > 1}
    if duplicates:
        raise CourseFileError(f"duplicate exercise slugs: {sorted(duplicates)}")
    budget = meta.get("device_seconds_per_day")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 0):
        raise CourseFileError("course.yaml: device_seconds_per_day must be a whole number of seconds, 0 or more")
    join_code = str(meta["join_code"]).upper() if meta.get("join_code") else None
    clash = join_code and Course.objects.filter(join_code=join_code).exclude(slug=meta["slug"]).first()
    if clash:
        raise CourseFileError(f"course.yaml: join_code {join_code} is already used by the course {clash.slug!r}")

    with transaction.atomic():
        course, _ = Course.objects.get_or_create(slug=meta["slug"], defaults={"title_i18n": _text(meta.get("title"), "title")})
        course.title_i18n = _text(meta.get("title"), "course.yaml: title") or {"fr": meta["slug"]}
        course.description_i18n = _text(meta.get("description"), "course.yaml: description")
        course.language = meta.get("language", "fr")
        course.device_seconds_per_day = budget
        if join_code:
            course.join_code = join_code
        course.save()
        created = 0
        for fields in parsed:
            slug = fields.pop("slug")
            _obj, was_created = Exercise.objects.update_or_create(course=course, slug=slug, defaults=fields)
            created += was_created
        unpublished = Exercise.objects.filter(course=course, published=True).exclude(slug__in=slugs).update(published=False)
    return LoadReport(course=course, exercises=len(parsed), created=created, unpublished=unpublished)


def course_export(*, course: Course, path: Path) -> int:
    """Write a course as a YAML folder that ``course_load`` reads back without loss."""
    path = Path(path)
    (path / "exercises").mkdir(parents=True, exist_ok=True)
    for old in (path / "exercises").glob("*.yaml"):
        old.unlink()
    meta = {
        "slug": course.slug,
        "title": course.title_i18n,
        "language": course.language,
        "description": course.description_i18n,
        "join_code": course.join_code,
    }
    if course.device_seconds_per_day is not None:
        meta["device_seconds_per_day"] = course.device_seconds_per_day
    _write_yaml(path / "course.yaml", meta)
    exercises = list(course.exercises.filter(deleted_at__isnull=True).order_by("position", "pk"))
    for index, ex in enumerate(exercises, start=1):
        data = {
            "slug": ex.slug,
            "type": ex.type,
            "position": ex.position,
            "published": ex.published,
            **{key: getattr(ex, f"{key}_i18n") for key in EXERCISE_FIELDS if getattr(ex, f"{key}_i18n")},
            "max_score": ex.max_score,
            "weight": ex.weight,
            "policy": {
                "max_attempts": ex.max_attempts,
                "retry_penalty": ex.retry_penalty,
                "due_at": ex.due_at,
                "grades_visible_at": ex.grades_visible_at,
                "late_policy": ex.late_policy,
                "late_penalty": ex.late_penalty,
                "feedback": ex.feedback_policy,
            },
            "params": ex.params,
        }
        _write_yaml(path / "exercises" / f"{index:02d}-{ex.slug}.yaml", data)
    return len(exercises)


def _write_yaml(path: Path, data: dict) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100), encoding="utf-8")
