"""Authoring in the browser (admins): a form per exercise type generated from its parameter
schema, a preview as a student with a chosen seed, and a course's YAML folder as a zip.

Scalar parameters become typed inputs; structured ones (layer templates, choices) are JSON
fields, prefilled with the built-in course's example of the type. Every save goes through
the JSON schema and then the type's own ``validate_params``, so an impossible configuration
(a kernel larger than the padded input, an MCQ without a right answer) cannot be saved.
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import yaml
from django import forms
from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from config.i18n import localize
from exercises.models import Exercise
from grader.result import ParamsError

TEXT_FIELDS = ("title", "section", "statement", "explanation")


@cache
def example_params(type_name: str) -> dict:
    """The params of the first built-in exercise of this type: a working starting point."""
    for path in sorted(Path(settings.STRIDE_SEED_DIR).glob("*/exercises/*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if data.get("type") == type_name:
            return data.get("params") or {}
    return {}


class ExerciseForm(forms.Form):
    slug = forms.SlugField(label=_("Slug"), max_length=80, help_text=_("Unique in the course, e.g. output-size-conv-3x3"))
    title_fr = forms.CharField(label=_("Title (French)"), max_length=200)
    title_en = forms.CharField(label=_("Title (English)"), max_length=200)
    section_fr = forms.CharField(label=_("Section (French)"), max_length=200, required=False)
    section_en = forms.CharField(label=_("Section (English)"), max_length=200, required=False)
    statement_fr = forms.CharField(label=_("Statement (French, markdown)"), widget=forms.Textarea(attrs={"rows": 5}))
    statement_en = forms.CharField(label=_("Statement (English, markdown)"), widget=forms.Textarea(attrs={"rows": 5}))
    explanation_fr = forms.CharField(label=_("Explanation (French, markdown)"), widget=forms.Textarea(attrs={"rows": 3}), required=False)
    explanation_en = forms.CharField(label=_("Explanation (English, markdown)"), widget=forms.Textarea(attrs={"rows": 3}), required=False)
    position = forms.IntegerField(label=_("Position in the course"), min_value=0, initial=1000)
    max_score = forms.FloatField(label=_("Maximum score (points)"), min_value=0, initial=1)
    weight = forms.FloatField(label=_("Weight in the grade"), min_value=0, initial=1)
    max_attempts = forms.IntegerField(label=_("Maximum attempts"), min_value=1, required=False, help_text=_("Empty: unlimited"))
    retry_penalty = forms.FloatField(label=_("Penalty per retry"), min_value=0, max_value=1, initial=0,
                                     help_text=_("Between 0 and 1: 0.1 takes 10 % off each new attempt"))
    due_at = forms.DateTimeField(label=_("Due date"), required=False, help_text=_("YYYY-MM-DD HH:MM, in the site's time zone"))
    late_policy = forms.ChoiceField(label=_("Late policy"), choices=Exercise.LatePolicy.choices, initial=Exercise.LatePolicy.PENALTY)
    late_penalty = forms.FloatField(label=_("Late penalty"), min_value=0, max_value=1, initial=0,
                                    help_text=_("Between 0 and 1: the share taken off late work"))
    feedback_policy = forms.ChoiceField(label=_("Feedback policy"), choices=Exercise.FeedbackPolicy.choices,
                                        initial=Exercise.FeedbackPolicy.AFTER_SOLVED, required=False)
    published = forms.BooleanField(label=_("Visible to students"), required=False, initial=True)

    def clean_feedback_policy(self):
        # Left out (an older form, a script): the default, a diagnosis before the solution.
        return self.cleaned_data.get("feedback_policy") or Exercise.FeedbackPolicy.AFTER_SOLVED

    def __init__(self, *args, exercise_type, course, instance: Exercise | None = None, **kwargs):
        self.exercise_type, self.course, self.instance = exercise_type, course, instance
        super().__init__(*args, **kwargs)
        schema = exercise_type.params_schema
        self.param_names = []
        example = instance.params if instance else example_params(exercise_type.name)
        for name, prop in schema.get("properties", {}).items():
            field = _param_field(name, prop, required=name in schema.get("required", []))
            if name in example:
                field.initial = example[name]
            self.fields[f"p_{name}"] = field
            self.param_names.append(name)

    def param_fields(self):
        return [self[f"p_{name}"] for name in self.param_names]

    def text_fields(self):
        return [self[name] for name in self.fields if not name.startswith("p_")]

    def clean_slug(self):
        slug = self.cleaned_data["slug"]
        taken = Exercise.objects.filter(course=self.course, slug=slug)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError(_("This course already has an exercise with this slug."))
        return slug

    def clean(self):
        cleaned = super().clean()
        params = {}
        for name in self.param_names:
            value = cleaned.get(f"p_{name}")
            if value is None or value == "":
                continue
            params[name] = value
        for error in sorted(Draft202012Validator(self.exercise_type.params_schema).iter_errors(params), key=str):
            where = error.path[0] if error.path else None
            message = schema_error_message(error, labels={n: str(self.fields[f"p_{n}"].label) for n in self.param_names})
            if where in self.param_names:
                self.add_error(f"p_{where}", message)
            else:
                self.add_error(None, message)
        if not self.errors:
            try:
                self.exercise_type.validate_params(params)
            except ParamsError as exc:
                self.add_error(None, localize(exc.message))
        cleaned["params"] = params
        return cleaned

    def save(self) -> Exercise:
        data = self.cleaned_data
        exercise = self.instance or Exercise(course=self.course, type=self.exercise_type.name)
        exercise.slug = data["slug"]
        for key in TEXT_FIELDS:
            setattr(exercise, f"{key}_i18n", {lang: data[f"{key}_{lang}"] for lang in ("fr", "en") if data.get(f"{key}_{lang}")})
        for key in ("position", "max_score", "weight", "max_attempts", "retry_penalty", "due_at", "late_policy", "late_penalty", "feedback_policy", "published"):
            setattr(exercise, key, data[key])
        exercise.params = data["params"]
        exercise.save()
        return exercise

    @classmethod
    def initial_from(cls, exercise: Exercise) -> dict:
        initial = {key: getattr(exercise, key) for key in ("slug", "position", "max_score", "weight", "max_attempts",
                                                         "retry_penalty", "due_at", "late_policy", "late_penalty", "feedback_policy", "published")}
        for key in TEXT_FIELDS:
            for lang in ("fr", "en"):
                initial[f"{key}_{lang}"] = getattr(exercise, f"{key}_i18n").get(lang, "")
        return initial


# Labels of the types' parameters, in the interface's language (the schemas are plain Python).
PARAM_LABELS = {
    "input_shape": _("Input shape"), "layers": _("Layers"), "ask": _("What to count"),
    "multiple": _("Several right answers"), "shuffle": _("Shuffle the choices"), "choices": _("Choices"),
    "dataset": _("Dataset"), "train_size": _("Training set size"), "train_seed": _("Training set seed"),
    "test_size": _("Hidden test set size"), "test_seed": _("Hidden test set seed"),
    "public_fraction": _("Public share of the test set (leaderboard)"), "max_params": _("Parameter budget"),
    "max_file_mb": _("Largest file (MB)"), "thresholds": _("Grade by accuracy"),
    "submissions_per_day": _("Submissions per day"), "backbone": _("Backbone offered"), "mode": _("Mode"),
    "targets": _("Targets (one per line)"), "steps_thresholds": _("Grade by number of steps"),
    "generations_per_day": _("Generations per day"), "answers": _("Accepted answers"), "unit": _("Unit"),
    "case_sensitive": _("Case-sensitive"),
}
PARAM_HELP = {
    "thresholds": _("One pair per line: accuracy, then grade (both between 0 and 1), e.g. “0.9 1.0”."),
    "steps_thresholds": _("One pair per line: at most this many steps, then the grade, e.g. “6 0.8”."),
    "targets": _("One caption per line, « fruit couleur », e.g. « raisin vert »; each student gets one."),
    "public_fraction": _("Between 0 and 1: the share scored on the public leaderboard before the due date."),
    "dataset": _("The generated dataset of the task (e.g. shapes32, fruits32)."),
    "input_shape": _("JSON: fixed sizes, {\"choices\": [...]} or \"same\", e.g. [32, 32, 3]."),
    "layers": _("JSON: Keras layers, e.g. [{\"class_name\": \"Conv2D\", \"config\": {...}}]."),
    "choices": _("JSON: a list of {\"id\", \"text\": {\"fr\", \"en\"}, \"correct\", \"weight\" (optional)}."),
    "answers": _("JSON: a list of accepted answers, at least one with weight 1."),
    "multiple": _("Several right answers (check boxes) or one (radio buttons)."),
    "shuffle": _("Shuffle the choices for each student."),
    "ask": _("JSON: \"total\", one layer {\"layer\": i} (from 0), or {\"layer\": \"random\", \"among\": [\"Conv2D\", \"Dense\"]}."),
    "test_seed": _("Seed of the hidden test set generated on the server (when no file is uploaded)."),
    "mode": _("target: the classifier must recognise the target; fewest_steps: the fewer steps, the better the grade."),
    "unit": _("Shown after the input field."),
    "backbone": _("A backbone the platform ships, offered for download (transfer learning); null for none."),
}


def _decode_error(exc: json.JSONDecodeError) -> str:
    return gettext("Invalid JSON, line %(line)s, column %(column)s: %(reason)s.") % {
        "line": exc.lineno, "column": exc.colno, "reason": _JSON_REASONS.get(exc.msg, exc.msg)}


_JSON_REASONS = {
    "Expecting value": _("a value is expected"),
    "Expecting ',' delimiter": _("a comma is missing"),
    "Expecting property name enclosed in double quotes": _("names are written in double quotes"),
    "Expecting ':' delimiter": _("a colon is missing"),
    "Extra data": _("something follows the end of the value"),
    "Unterminated string starting at": _("a string is not closed"),
}


class FriendlyJSONField(forms.JSONField):
    """A JSON field whose error names the line and column of the mistake, in the user's language."""

    def to_python(self, value):
        if self.disabled or value in self.empty_values:
            return super().to_python(value)
        if isinstance(value, list | dict | int | float | bool):
            return value
        try:
            json.loads(value)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(_decode_error(exc), code="invalid") from exc
        return super().to_python(value)


def _number(text: str, *, line: int) -> float:
    try:
        return float(text.replace(",", "."))
    except ValueError:
        raise forms.ValidationError(gettext("Line %(line)s: “%(text)s” is not a number.") % {"line": line, "text": text}) from None


class PairsField(forms.CharField):
    """A list of [a, b] number pairs, written one pair per line (“0.9 1.0”)."""

    widget = forms.Textarea(attrs={"rows": 5, "class": "code"})

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(" ".join(f"{x:g}" if isinstance(x, int | float) else str(x) for x in pair) for pair in value)
        return value

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        pairs = []
        for number, raw in enumerate(value.splitlines(), start=1):
            parts = raw.replace(";", " ").replace("→", " ").split()
            if not parts:
                continue
            if len(parts) != 2:
                raise forms.ValidationError(
                    gettext("Line %(line)s: two numbers are expected, separated by a space.") % {"line": number})
            first, second = (_number(p, line=number) for p in parts)
            pairs.append([int(first) if first.is_integer() and "." not in parts[0] else first, second])
        return pairs


class LinesField(forms.CharField):
    """A list of strings, one per line."""

    widget = forms.Textarea(attrs={"rows": 4})

    def prepare_value(self, value):
        return "\n".join(map(str, value)) if isinstance(value, list) else value

    def to_python(self, value):
        value = super().to_python(value)
        lines = [line.strip() for line in (value or "").splitlines() if line.strip()]
        return lines or None


def schema_error_message(error, *, labels: dict[str, str]) -> str:
    """A JSON-schema error as a sentence that names the field (its label) and the place in it."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        # "not valid under any of the given schemas": say what the closest alternative lacks.
        error = best_match(error.context)
    path = list(error.absolute_path)
    field = labels.get(path[0], path[0]) if path else gettext("Parameters")
    inside = "".join(f"[{p + 1}]" if isinstance(p, int) else f".{p}" for p in path[1:])
    where = f"{field}{inside}"
    v = error.validator
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        text = gettext("« %(name)s » is required.") % {"name": labels.get(missing, missing)}
    elif v == "type":
        kinds = {"array": gettext("a list"), "object": gettext("an object"), "string": gettext("a text"),
                 "number": gettext("a number"), "integer": gettext("a whole number"), "boolean": gettext("true or false")}
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        text = gettext("%(kind)s is expected.") % {"kind": " / ".join(kinds.get(k, k) for k in wanted if k != "null")}
    elif v in ("minimum", "exclusiveMinimum"):
        text = gettext("at least %(n)s.") % {"n": error.validator_value}
    elif v in ("maximum", "exclusiveMaximum"):
        text = gettext("at most %(n)s.") % {"n": error.validator_value}
    elif v == "minItems":
        text = gettext("at least %(n)s items.") % {"n": error.validator_value}
    elif v == "maxItems":
        text = gettext("at most %(n)s items.") % {"n": error.validator_value}
    elif v == "enum":
        text = gettext("one of %(values)s.") % {"values": ", ".join(map(str, error.validator_value))}
    elif v == "additionalProperties":
        text = gettext("unknown key: %(detail)s") % {"detail": error.message}
    else:
        text = error.message
    return f"{where} : {text}" if where else text


def _param_field(name: str, prop: dict, *, required: bool) -> forms.Field:
    label = PARAM_LABELS.get(name, name.replace("_", " ").capitalize())
    help_text = PARAM_HELP.get(name) or (gettext(prop["description"]) if prop.get("description") else "")
    kind = prop.get("type")
    items = prop.get("items") or {}
    common = {"label": label, "help_text": help_text}
    if "enum" in prop:
        return forms.TypedChoiceField(choices=[(v, v) for v in prop["enum"]], required=required, coerce=lambda v: v, **common)
    if kind == "boolean":
        return forms.BooleanField(required=False, **common)
    if kind == "integer":
        return forms.IntegerField(required=required, min_value=prop.get("minimum"), max_value=prop.get("maximum"), **common)
    if kind == "number":
        return forms.FloatField(required=required, min_value=prop.get("minimum"), max_value=prop.get("maximum"), **common)
    if kind == "string":
        return forms.CharField(required=required, **common)
    if kind == "array" and items.get("type") == "string":
        return LinesField(required=required, **common)
    if kind == "array" and items.get("type") == "array" and items.get("minItems") == items.get("maxItems") == 2:
        return PairsField(required=required, **common)
    # Other lists and objects (layer templates, choices...): JSON, checked against the schema in clean().
    return FriendlyJSONField(required=required, widget=forms.Textarea(attrs={"rows": 8, "class": "code"}),
                             **{**common, "help_text": help_text or _("JSON")})
