"""Authoring in the browser (admins): a form per exercise type generated from its parameter
schema, a preview as a student with a chosen seed, and a course's YAML folder as a zip.

Scalar parameters become typed inputs; structured ones (layer templates, choices) are JSON
fields, prefilled with the built-in course's example of the type. Every save goes through
the JSON schema and then the type's own ``validate_params``, so an impossible configuration
(a kernel larger than the padded input, an MCQ without a right answer) cannot be saved.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from jsonschema import Draft202012Validator

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
    slug = forms.SlugField(max_length=80, help_text=_("Unique in the course, e.g. output-size-conv-3x3"))
    title_fr = forms.CharField(label=_("Title (French)"), max_length=200)
    title_en = forms.CharField(label=_("Title (English)"), max_length=200)
    section_fr = forms.CharField(label=_("Section (French)"), max_length=200, required=False)
    section_en = forms.CharField(label=_("Section (English)"), max_length=200, required=False)
    statement_fr = forms.CharField(label=_("Statement (French, markdown)"), widget=forms.Textarea(attrs={"rows": 5}))
    statement_en = forms.CharField(label=_("Statement (English, markdown)"), widget=forms.Textarea(attrs={"rows": 5}))
    explanation_fr = forms.CharField(label=_("Explanation (French, markdown)"), widget=forms.Textarea(attrs={"rows": 3}), required=False)
    explanation_en = forms.CharField(label=_("Explanation (English, markdown)"), widget=forms.Textarea(attrs={"rows": 3}), required=False)
    position = forms.IntegerField(min_value=0, initial=1000)
    max_score = forms.FloatField(min_value=0, initial=1)
    weight = forms.FloatField(min_value=0, initial=1)
    max_attempts = forms.IntegerField(min_value=1, required=False, help_text=_("Empty: unlimited"))
    retry_penalty = forms.FloatField(min_value=0, max_value=1, initial=0)
    due_at = forms.DateTimeField(required=False, help_text=_("YYYY-MM-DD HH:MM, in the site's time zone"))
    late_policy = forms.ChoiceField(choices=Exercise.LatePolicy.choices, initial=Exercise.LatePolicy.PENALTY)
    late_penalty = forms.FloatField(min_value=0, max_value=1, initial=0)
    feedback_policy = forms.ChoiceField(label=_("Feedback policy"), choices=Exercise.FeedbackPolicy.choices,
                                        initial=Exercise.FeedbackPolicy.AFTER_SOLVED, required=False)

    def clean_feedback_policy(self):
        # Left out (an older form, a script): the default, a diagnosis before the solution.
        return self.cleaned_data.get("feedback_policy") or Exercise.FeedbackPolicy.AFTER_SOLVED
    published = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, exercise_type, course, instance: Exercise | None = None, **kwargs):
        self.exercise_type, self.course, self.instance = exercise_type, course, instance
        super().__init__(*args, **kwargs)
        schema = exercise_type.params_schema
        self.param_names = []
        example = instance.params if instance else example_params(exercise_type.name)
        for name, prop in schema.get("properties", {}).items():
            field = _param_field(prop, required=name in schema.get("required", []))
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
            message = _("%(where)s: %(message)s") % {"where": "/".join(map(str, error.path)) or "params", "message": error.message}
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


def _param_field(prop: dict, *, required: bool) -> forms.Field:
    help_text = prop.get("description", "")
    kind = prop.get("type")
    if "enum" in prop:
        return forms.TypedChoiceField(choices=[(v, v) for v in prop["enum"]], required=required, help_text=help_text,
                                      coerce=lambda v: v)
    if kind == "boolean":
        return forms.BooleanField(required=False, help_text=help_text)
    if kind == "integer":
        return forms.IntegerField(required=required, help_text=help_text, min_value=prop.get("minimum"), max_value=prop.get("maximum"))
    if kind == "number":
        return forms.FloatField(required=required, help_text=help_text)
    if kind == "string":
        return forms.CharField(required=required, help_text=help_text)
    # Lists and objects (layer templates, choices...): JSON, checked against the schema in clean().
    return forms.JSONField(required=required, help_text=help_text or _("JSON"),
                           widget=forms.Textarea(attrs={"rows": 8, "class": "code"}))

