from __future__ import annotations

import csv
import logging

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode

from accounts.roles import Role, user_role
from courses.models import Course, Enrollment
from courses.selectors import course_get_taught
from exercises.types import INSTANT, UPLOAD, grading_of

from .selectors import (
    SORT_DIRECTIONS,
    STAT_BASES,
    exercise_get_in_course,
    exercise_statistics,
    gradebook_filter,
    gradebook_rows,
    gradebook_sort,
    mcq_choice_counts,
    section_key,
    section_weights,
    student_activity,
    student_get_in_course,
)

log = logging.getLogger(__name__)


def _require_teacher(user) -> None:
    # Students get a 404, not a 403: teacher pages do not even exist for them.
    if user_role(user) not in (Role.TEACHER, Role.ADMIN):
        raise Http404


@login_required
def home(request):
    _require_teacher(request.user)
    if user_role(request.user) == Role.ADMIN:
        courses = Course.objects.all()
    else:
        courses = Course.objects.filter(enrollments__user=request.user, enrollments__role=Enrollment.Role.TEACHER)
    return render(request, "gradebook/home.html", {"courses": courses})


@login_required
def course_gradebook(request, slug: str):
    """The students × exercises matrix, sortable and filterable through GET parameters."""
    _require_teacher(request.user)
    course = course_get_taught(user=request.user, slug=slug)
    all_exercises, rows = gradebook_rows(course=course)
    q = (request.GET.get("q") or "").strip()
    exercise_q = (request.GET.get("exercise") or "").strip()
    late_only = request.GET.get("late") == "1"
    sort = request.GET.get("sort") or "name"
    if sort not in ("name", "total") and not (sort.isdigit() and any(str(e.pk) == sort for e in all_exercises)):
        sort = "name"
    direction = request.GET.get("dir") if request.GET.get("dir") in SORT_DIRECTIONS else "asc"
    exercises, rows = gradebook_filter(exercises=all_exercises, rows=rows, q=q, exercise_q=exercise_q, late_only=late_only)
    rows = gradebook_sort(rows=rows, sort=sort, direction=direction)

    filters = {k: v for k, v in (("q", q), ("exercise", exercise_q), ("late", "1" if late_only else "")) if v}

    def header(key: str, label: str, **extra) -> dict:
        active = sort == key
        # A click on the sorted column flips it; on another column, names start A→Z, scores high→low.
        next_dir = ("desc" if direction == "asc" else "asc") if active else ("asc" if key == "name" else "desc")
        return {"key": key, "label": label, "active": active, "dir": direction if active else "",
                "href": "?" + urlencode({**filters, "sort": key, "dir": next_dir}), **extra}

    student_url = reverse("gradebook:student", args=[course.slug, 0])[: -len("0/")]
    columns = [
        header(str(e.pk), e.title, exercise=e, number=all_exercises.index(e) + 1,
               stats_url=reverse("gradebook:exercise_stats", args=[course.slug, e.pk]))
        for e in exercises
    ]
    # Columns grouped by section, in the course's order, each group followed by its subtotal.
    sections: list[dict] = []
    for column in columns:
        name = column["exercise"].section
        if not sections or sections[-1]["name"] != name:
            sections.append({"name": name, "columns": [], "max_points": 0.0})
        sections[-1]["columns"].append(column)
        sections[-1]["key"] = section_key(column["exercise"])
        sections[-1]["max_points"] += column["exercise"].max_score
    table = [
        {
            "row": row,
            "url": f"{student_url}{row.user.pk}/",
            "sections": [
                {
                    "cells": [
                        {"best": row.best.get(c["exercise"].pk), "late": c["exercise"].pk in row.late,
                         "override": c["exercise"].pk in row.overridden, "extension": row.extended.get(c["exercise"].pk),
                         "attempts": row.attempts.get(c["exercise"].pk, 0)}
                        for c in section["columns"]
                    ],
                    "points": round(sum((row.best.get(c["exercise"].pk) or 0.0) * c["exercise"].max_score
                                        for c in section["columns"]), 2),
                }
                for section in sections
            ],
        }
        for row in rows
    ]
    return render(request, "gradebook/course.html", {
        "course": course, "exercises": exercises, "all_exercises": all_exercises, "rows": rows, "table": table,
        "columns": columns, "sections": sections, "name_header": header("name", ""), "total_header": header("total", ""),
        "max_points": round(sum(e.max_score for e in all_exercises), 2),
        "weights": _section_weight_rows(course, all_exercises),
        "q": q, "exercise_q": exercise_q, "late_only": late_only, "sort": sort, "dir": direction,
    })


def _section_weight_rows(course, exercises) -> list[dict]:
    chosen = section_weights(course=course)
    rows: dict[str, dict] = {}
    for e in exercises:
        key = section_key(e)
        row = rows.setdefault(key, {"key": key, "name": e.section or key, "default": 0.0})
        row["default"] += e.weight
    for row in rows.values():
        row["weight"] = chosen.get(row["key"], row["default"])
    return list(rows.values())


@login_required
def student_detail(request, slug: str, user_id: int):
    """One student's every attempt and model submission in the course, grouped by exercise."""
    _require_teacher(request.user)
    course = course_get_taught(user=request.user, slug=slug)
    student = student_get_in_course(course=course, user_id=user_id)
    groups = student_activity(course=course, user=student)
    return render(request, "gradebook/student.html", {"course": course, "student": student, "groups": groups})


@login_required
def exercise_stats(request, slug: str, exercise_id: int):
    """Score histogram, attempts distribution and, for quiz items, facility and discrimination."""
    from django.utils.safestring import mark_safe
    from django.utils.translation import gettext as _

    from . import statistics

    _require_teacher(request.user)
    course = course_get_taught(user=request.user, slug=slug)
    exercise = exercise_get_in_course(course=course, exercise_id=exercise_id)
    stats = exercise_statistics(course=course, exercise=exercise)
    # Moodle offers the item statistics on the first or on the best attempt of each student.
    basis = request.GET.get("basis") if request.GET.get("basis") in STAT_BASES else "first"
    scores = stats.first_scores if basis == "first" else stats.best_scores
    item_points = stats.item_points if basis == "best" else [s * exercise.max_score for s in stats.first_scores]
    # Both SVGs are built from numbers and html-escaped labels only (see gradebook.statistics).
    histogram = mark_safe(statistics.score_histogram_svg(
        stats.best_scores, bins=10, x_label=_("Best score (%)"), y_label=_("Students"),
        title=_("Best scores of the students who attempted it")))
    first_histogram = mark_safe(statistics.score_histogram_svg(
        stats.first_scores, bins=10, x_label=_("First-attempt score (%)"), y_label=_("Students"),
        title=_("First-attempt scores")))
    attempts = mark_safe(statistics.attempts_distribution_svg(
        stats.attempt_counts, x_label=_("Attempts"), y_label=_("Students"), title=_("Attempts per student")))
    facility = statistics.facility_index(scores)
    discrimination = statistics.discrimination_index(item_points, stats.total_points)
    n = len(stats.first_scores)
    return render(request, "gradebook/exercise_stats.html", {
        "course": course, "exercise": exercise, "stats": stats, "attempted": n,
        "histogram_svg": histogram, "first_histogram_svg": first_histogram, "attempts_svg": attempts,
        "facility": facility, "discrimination": discrimination,
        "is_quiz": grading_of(exercise) == INSTANT,  # every instant-answer question is a quiz item
        "mean_best": (sum(stats.best_scores) / n) if n else None,
        "mean_attempts": (sum(stats.attempt_counts) / n) if n else None,
        "basis": basis, "choice_counts": mcq_choice_counts(course=course, exercise=exercise, basis=basis),
    })


@login_required
def course_gradebook_csv(request, slug: str):
    _require_teacher(request.user)
    course = course_get_taught(user=request.user, slug=slug)
    return gradebook_csv_response(course=course)


def gradebook_csv_response(*, course) -> HttpResponse:
    exercises, rows = gradebook_rows(course=course)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="gradebook-{course.slug}.csv"'
    writer = csv.writer(response)
    writer.writerow(["username", *[e.slug for e in exercises], "total_points", "weighted"])
    for row in rows:
        writer.writerow(
            [row.user.username, *[_fmt(row.best.get(e.pk)) for e in exercises], row.total_points, row.weighted]
        )
    return response


def _fmt(value):
    return "" if value is None else round(value, 4)


@login_required
def exercise_regrade_view(request, slug: str, exercise_id: int):
    """GET: what a regrade would change (attempts, old → new grade per student), to confirm.
    POST with ``confirm``: re-grade, then back to the gradebook; without it, back to the preview."""
    from django.contrib import messages
    from django.shortcuts import redirect
    from django.utils.translation import gettext as _

    from exercises.models import Exercise

    from .selectors import regrade_preview
    from .services import exercise_regrade_audited

    _require_teacher(request.user)
    course = course_get_taught(user=request.user, slug=slug)
    exercise = Exercise.objects.filter(course=course, pk=exercise_id).first()
    if exercise is None:
        raise Http404
    if request.method == "GET":
        return render(request, "gradebook/regrade.html", {
            "course": course, "exercise": exercise, "preview": regrade_preview(exercise=exercise),
            "is_model": grading_of(exercise) == UPLOAD,
        })
    if request.method != "POST":
        raise Http404
    if request.POST.get("confirm") != "1":
        return redirect("gradebook:regrade", slug=course.slug, exercise_id=exercise.pk)
    report = exercise_regrade_audited(exercise=exercise, actor=request.user)
    messages.success(request, _("“%(title)s” re-graded: %(n)s attempts, %(changed)s changed, %(requeued)s models queued again.") % {
        "title": exercise.title, "n": report.attempts, "changed": report.changed, "requeued": report.requeued})
    return redirect("gradebook:course", slug=course.slug)


def _teacher_student_exercise(request, slug: str, user_id: int, exercise_id: int):
    from courses.selectors import course_students
    from exercises.models import Exercise

    _require_teacher(request.user)
    if request.method != "POST":
        raise Http404
    course = course_get_taught(user=request.user, slug=slug)
    student = course_students(course=course, include_inactive=True).filter(pk=user_id).first()
    exercise = Exercise.objects.filter(course=course, pk=exercise_id).first()
    if student is None or exercise is None:
        raise Http404
    return course, student, exercise


@login_required
def override_view(request, slug: str, user_id: int, exercise_id: int):
    from django.contrib import messages
    from django.shortcuts import redirect
    from django.utils.translation import gettext as _

    from .services import OverrideError, grade_override

    course, student, exercise = _teacher_student_exercise(request, slug, user_id, exercise_id)
    try:
        percent = float(request.POST.get("percent", ""))
        grade_override(exercise=exercise, student=student, score=percent / 100, comment=request.POST.get("comment", ""), actor=request.user)
    except (ValueError, OverrideError):
        messages.error(request, _("Give a grade between 0 and 100 % and a comment: both are required."))
    else:
        messages.success(request, _("Grade overridden; the audit log keeps the old and new grade."))
    return redirect("gradebook:student", slug=course.slug, user_id=student.pk)


@login_required
def extension_view(request, slug: str, user_id: int, exercise_id: int):
    from django.contrib import messages
    from django.shortcuts import redirect
    from django.utils.dateparse import parse_datetime
    from django.utils.timezone import get_current_timezone, is_naive, make_aware
    from django.utils.translation import gettext as _

    from .services import ExtensionError, extension_grant

    course, student, exercise = _teacher_student_exercise(request, slug, user_id, exercise_id)
    try:
        # parse_datetime raises ValueError for a well-formed but impossible date (2030-02-30).
        due = parse_datetime(request.POST.get("due_at", "") or "")
    except ValueError:
        due = None
    if due is None:
        messages.error(request, _("Give a date and a time."))
    else:
        if is_naive(due):
            due = make_aware(due, get_current_timezone())
        try:
            extension_grant(exercise=exercise, student=student, due_at=due, actor=request.user,
                            comment=(request.POST.get("comment") or "").strip(), personal=request.POST.get("personal") == "1")
        except ExtensionError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Due date extended for this student."))
    return redirect("gradebook:student", slug=course.slug, user_id=student.pk)


@login_required
def audit_view(request, slug: str):
    from .models import AuditLog

    _require_teacher(request.user)
    course = course_get_taught(user=request.user, slug=slug)
    entries = AuditLog.objects.filter(course=course).select_related("actor", "student", "exercise")[:500]
    return render(request, "gradebook/audit.html", {"course": course, "entries": entries})


@login_required
def section_weights_view(request, slug: str):
    """POST: the teacher's weights of the course's sections in the grade."""
    from django.contrib import messages
    from django.shortcuts import redirect
    from django.utils.translation import gettext as _

    from .services import SectionWeightError, section_weights_set

    _require_teacher(request.user)
    if request.method != "POST":
        raise Http404
    course = course_get_taught(user=request.user, slug=slug)
    names, values = request.POST.getlist("section"), request.POST.getlist("weight")
    try:
        weights = {name: float(value.replace(",", ".")) for name, value in zip(names, values, strict=True)}
        section_weights_set(course=course, weights=weights, actor=request.user)
    except (ValueError, SectionWeightError) as exc:
        messages.error(request, str(exc) if isinstance(exc, SectionWeightError) else _("A section's weight is a number of 0 or more."))
    else:
        messages.success(request, _("Section weights saved; the grades use them now."))
    return redirect("gradebook:course", slug=course.slug)


@login_required
def integrity_view(request, slug: str, exercise_id: int):
    """The integrity report of a model or diffusion exercise: suspicious pairs side by side."""
    from .selectors import integrity_report_for

    _require_teacher(request.user)
    course = course_get_taught(user=request.user, slug=slug)
    exercise = exercise_get_in_course(course=course, exercise_id=exercise_id)
    return render(request, "gradebook/integrity.html", {
        "course": course, "exercise": exercise, "data": integrity_report_for(exercise=exercise),
        "is_model": grading_of(exercise) == UPLOAD,
    })


@login_required
def submissions_zip(request, slug: str, exercise_id: int):
    """Every model file of one exercise, as a zip named by student (teachers), streamed: a
    class's uploads (up to 20 MB each, 10 a day) are never held in memory. Files are read
    through the storage, chunk by chunk, as the zip is sent."""
    from zipstream import ZIP_STORED, ZipStream

    from exercises.models import Exercise, Submission

    _require_teacher(request.user)
    course = course_get_taught(user=request.user, slug=slug)
    exercise = Exercise.objects.filter(course=course, pk=exercise_id).first()
    if exercise is None or grading_of(exercise) != UPLOAD:
        raise Http404
    archive = ZipStream(compress_type=ZIP_STORED, sized=False)  # .keras files are zips already
    submissions = (Submission.objects.filter(exercise=exercise).exclude(file="").select_related("user")
                   .order_by("user__username", "pk"))
    for sub in submissions.iterator():
        archive.add(_stored_chunks(sub.file), f"{sub.user.username}/{sub.pk}-{sub.status}.keras")
    response = StreamingHttpResponse(archive, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{course.slug}-{exercise.slug}-submissions.zip"'
    return response


def _stored_chunks(field_file, chunk_size: int = 1 << 20):
    """A stored file's bytes, opened only when the zip reaches it; a file gone meanwhile is an
    empty member (logged), not a broken download."""
    try:
        handle = field_file.storage.open(field_file.name, "rb")
    except (FileNotFoundError, OSError):
        log.warning("submission file %s is missing from the zip", field_file.name)
        return
    with handle:
        while chunk := handle.read(chunk_size):
            yield chunk
