from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from exercises.engine.selectors import course_totals, exercise_rows_for_user

from .models import Enrollment
from .selectors import course_get_for_user, course_list_for_user
from .services import JoinCodeError, course_join


@login_required
def course_list(request):
    return render(request, "courses/list.html", {"courses": course_list_for_user(user=request.user)})


@login_required
@require_POST
def join(request):
    try:
        course = course_join(user=request.user, code=request.POST.get("code", ""))
    except JoinCodeError:
        messages.error(request, _("No course has this join code. Check it with your teacher."))
        return redirect("courses:list")
    messages.success(request, _("You joined the course “%(title)s”.") % {"title": course.title})
    return redirect("courses:detail", slug=course.slug)


@login_required
def course_detail(request, slug: str):
    course, role = course_get_for_user(user=request.user, slug=slug)
    rows = exercise_rows_for_user(course=course, user=request.user)
    totals = course_totals(rows=rows)
    sections: list[tuple[str, list]] = []
    for row in rows:
        if not sections or sections[-1][0] != row.exercise.section:
            sections.append((row.exercise.section, []))
        sections[-1][1].append(row)
    return render(
        request,
        "courses/detail.html",
        {
            "course": course,
            "is_course_teacher": role == Enrollment.Role.TEACHER,
            "sections": sections,
            "totals": totals,
            "done": totals.solved,
            "total": totals.total,
        },
    )
