"""Admin pages: author exercises through forms, preview them as a student, move courses as zips."""
from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.roles import Role, user_role
from config.i18n import localize
from courses.models import Course
from exercises.models import Exercise
from exercises.types import REGISTRY, get_type

from .course_files import CourseFileError, course_export, course_load
from .forms import ExerciseForm

MAX_COURSE_ZIP = 20 * 2**20


def _require_admin(request) -> None:
    if user_role(request.user) != Role.ADMIN:
        raise Http404


@login_required
def author_home(request):
    _require_admin(request)
    from django.db.models import Prefetch

    live = Exercise.objects.filter(deleted_at__isnull=True).order_by("position", "pk")
    return render(request, "exercises/author/home.html", {
        "courses": Course.objects.prefetch_related(Prefetch("exercises", queryset=live, to_attr="live_exercises")),
        "types": list(REGISTRY.values())})


@login_required
def exercise_create(request, slug: str, type_name: str):
    _require_admin(request)
    course = get_object_or_404(Course, slug=slug)
    if type_name not in REGISTRY:
        raise Http404
    form = ExerciseForm(request.POST or None, exercise_type=get_type(type_name), course=course)
    if request.method == "POST" and form.is_valid():
        exercise = form.save()
        messages.success(request, _("Exercise saved. Here is how a student sees it."))
        return redirect("authoring:preview", exercise_id=exercise.pk)
    return render(request, "exercises/author/form.html", {"form": form, "course": course, "type_name": type_name})


@login_required
def exercise_edit(request, exercise_id: int):
    _require_admin(request)
    exercise = get_object_or_404(Exercise.objects.select_related("course"), pk=exercise_id)
    form = ExerciseForm(request.POST or None, exercise_type=get_type(exercise.type), course=exercise.course,
                        instance=exercise, initial=None if request.POST else ExerciseForm.initial_from(exercise))
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Exercise saved. Here is how a student sees it."))
        return redirect("authoring:preview", exercise_id=exercise.pk)
    return render(request, "exercises/author/form.html",
                  {"form": form, "course": exercise.course, "type_name": exercise.type, "exercise": exercise})


@login_required
def exercise_preview(request, exercise_id: int):
    """The exercise as a student sees it, for any seed; the reference answer is shown below."""
    _require_admin(request)
    exercise = get_object_or_404(Exercise.objects.select_related("course"), pk=exercise_id)
    exercise_type = get_type(exercise.type)
    try:
        seed = int(request.GET.get("seed", 0))
    except ValueError:
        seed = 0
    variant = exercise_type.generate(exercise.params, np.random.default_rng(seed))
    solution = None
    if exercise_type.instant:
        solution = exercise_type.solve(variant)
    return render(request, "exercises/author/preview.html", {
        "exercise": exercise, "course": exercise.course, "seed": seed,
        "variant": localize(exercise_type.public_variant(variant)), "type_template": exercise_type.template_name,
        "instant": exercise_type.instant, "solution": solution,
    })


@login_required
def course_export_zip(request, slug: str):
    _require_admin(request)
    course = get_object_or_404(Course, slug=slug)
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory() as folder:
        course_export(course=course, path=Path(folder) / course.slug)
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted((Path(folder) / course.slug).rglob("*.yaml")):
                archive.write(path, path.relative_to(folder))
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{course.slug}.zip"'
    return response


@login_required
@require_POST
def course_import_zip(request):
    """Load a course folder uploaded as a zip: all or nothing, like load_course."""
    _require_admin(request)
    upload = request.FILES.get("course_zip")
    try:
        if upload is None:
            raise CourseFileError(_("Choose a .zip of a course folder."))
        if upload.size > MAX_COURSE_ZIP:
            raise CourseFileError(_("The zip is too large."))
        with tempfile.TemporaryDirectory() as folder, zipfile.ZipFile(upload) as archive:
            root = Path(folder).resolve()
            total = 0
            for member in archive.infolist():
                target = (root / member.filename).resolve()
                total += member.file_size
                if not str(target).startswith(str(root)) or total > 10 * MAX_COURSE_ZIP:
                    raise CourseFileError(_("The zip holds an unsafe or oversized member."))
                if not member.filename.endswith((".yaml", ".yml", "/")):
                    raise CourseFileError(_("Only YAML files may be in a course zip: %(name)s") % {"name": member.filename})
            archive.extractall(root)
            candidates = [p.parent for p in root.rglob("course.yaml")]
            if len(candidates) != 1:
                raise CourseFileError(_("The zip must hold exactly one course.yaml."))
            report = course_load(path=candidates[0])
    except (CourseFileError, zipfile.BadZipFile) as exc:
        messages.error(request, _("Nothing was imported: %(reason)s") % {"reason": exc})
    else:
        messages.success(request, _("course %(slug)s: %(n)s exercises") % {"slug": report.course.slug, "n": report.exercises})
    return redirect("authoring:home")


@login_required
@require_POST
def course_import_gift(request, slug: str):
    """Import a Moodle GIFT quiz file into a course, in two steps: the upload shows what would be
    added, changed or left unchanged (a dry run); the teacher confirms to apply it. All or
    nothing, errors with their lines; new questions arrive hidden."""
    from .gift import GiftError, gift_import

    _require_admin(request)
    course = get_object_or_404(Course, slug=slug)
    confirm = request.POST.get("confirm") == "1"
    if confirm:
        text = request.POST.get("text", "")
    else:
        upload = request.FILES.get("gift")
        if upload is None or upload.size > 2 * 2**20:
            messages.error(request, _("Choose a GIFT file (.gift or .txt, 2 MB at most)."))
            return redirect("authoring:home")
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            messages.error(request, _("The file is not UTF-8 text."))
            return redirect("authoring:home")
    if len(text) > 2 * 2**20 or "\x00" in text:
        messages.error(request, _("Choose a GIFT file (.gift or .txt, 2 MB at most)."))
        return redirect("authoring:home")
    try:
        report = gift_import(course=course, text=text, dry_run=not confirm)
    except GiftError as exc:
        lines = "; ".join(_("line %(line)s: %(message)s") % {"line": line, "message": message} for line, message in exc.errors[:20])
        messages.error(request, _("Nothing was imported: %(errors)s") % {"errors": lines})
        return redirect("authoring:home")
    if not confirm:
        return render(request, "exercises/author/gift_preview.html", {"course": course, "report": report, "text": text})
    messages.success(request, _("course %(slug)s: %(added)s questions added (hidden until you publish them), "
                                "%(changed)s changed, %(unchanged)s unchanged") % {
        "slug": course.slug, "added": len(report.added), "changed": len(report.changed), "unchanged": len(report.unchanged)})
    return redirect("authoring:home")


@login_required
@require_POST
def exercise_manage(request, exercise_id: int):
    """Publish, hide, move up or down, or delete (softly: attempts stay for the audit) an exercise."""
    from .services import exercise_move, exercise_set_published, exercise_soft_delete

    _require_admin(request)
    exercise = get_object_or_404(Exercise, pk=exercise_id, deleted_at__isnull=True)
    action = request.POST.get("action")
    if action in ("publish", "hide"):
        exercise_set_published(exercise=exercise, published=action == "publish")
        messages.success(request, _("“%(title)s” is visible to students.") % {"title": exercise.title} if action == "publish"
                         else _("“%(title)s” is hidden from students.") % {"title": exercise.title})
    elif action in ("up", "down"):
        exercise_move(exercise=exercise, direction=action)
    elif action == "delete" and request.POST.get("confirm") == "1":
        exercise_soft_delete(exercise=exercise)
        messages.success(request, _("“%(title)s” deleted; its attempts are kept for the audit.") % {"title": exercise.title})
    else:
        messages.error(request, _("Tick the confirmation to delete an exercise."))
    return redirect("authoring:home")
