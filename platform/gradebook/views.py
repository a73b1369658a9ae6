from __future__ import annotations

import csv

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render

from accounts.roles import Role, user_role
from courses.models import Course, Enrollment
from courses.selectors import course_get_taught

from .selectors import gradebook_rows


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
    _require_teacher(request.user)
    course = course_get_taught(user=request.user, slug=slug)
    exercises, rows = gradebook_rows(course=course)
    query = (request.GET.get("q") or "").strip().lower()
    if query:
        rows = [r for r in rows if query in r.user.username.lower() or query in r.user.get_full_name().lower()]
    return render(request, "gradebook/course.html", {"course": course, "exercises": exercises, "rows": rows, "q": query})


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
    """POST: re-grade one exercise of a course the user teaches, then back to the gradebook."""
    from django.contrib import messages
    from django.shortcuts import redirect
    from django.utils.translation import gettext as _

    from exercises.models import Exercise
    from exercises.services import exercise_regrade

    _require_teacher(request.user)
    if request.method != "POST":
        raise Http404
    course = course_get_taught(user=request.user, slug=slug)
    exercise = Exercise.objects.filter(course=course, pk=exercise_id).first()
    if exercise is None:
        raise Http404
    report = exercise_regrade(exercise=exercise)
    messages.success(request, _("“%(title)s” re-graded: %(n)s attempts, %(changed)s changed, %(requeued)s models queued again.") % {
        "title": exercise.title, "n": report.attempts, "changed": report.changed, "requeued": report.requeued})
    return redirect("gradebook:course", slug=course.slug)
