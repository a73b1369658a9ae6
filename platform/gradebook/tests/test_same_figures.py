"""One grade everywhere: a teacher's override and a student's own due date show on every page,
export and API, and the audit log shows dates as the teacher entered them (site time zone)."""
from datetime import timedelta

import pytest
from django.utils import timezone

from exercises.engine.services import attempt_submit
from exercises.models import Exercise, Extension
from gradebook.models import AuditLog
from gradebook.services import ExtensionError, extension_grant, grade_override
from tests.factories import logged_in, student, teacher

pytestmark = pytest.mark.django_db


def test_an_override_is_the_grade_on_every_page_export_and_api(course):
    exercise = Exercise.objects.get(course=course, slug="output-size-224-chain")
    alice, t = student(course, username="alice"), teacher(course)
    attempt_submit(exercise=exercise, user=alice, answer={"shape": [1, 1, 1]})
    grade_override(exercise=exercise, student=alice, score=0.8, comment="Oral exam", actor=t)

    teacher_page = logged_in(t).get(f"/teach/cnn-diffusion/students/{alice.pk}/").content.decode()
    assert 'data-override="1"' in teacher_page and "80" in teacher_page and "Oral exam" in teacher_page
    assert "meilleur 0" not in teacher_page.lower()
    csv = logged_in(t).get("/teach/cnn-diffusion/gradebook.csv").content.decode()
    assert "0.8" in next(line for line in csv.splitlines() if line.startswith("alice"))
    gradebook = logged_in(t).get("/teach/cnn-diffusion/gradebook/").content.decode()
    assert 'data-mark-override="1"' in gradebook

    # The student's own pages and API read the same figure.
    client = logged_in(alice)
    listing = {r["slug"]: r for r in client.get("/api/v1/courses/cnn-diffusion/exercises").json()}
    assert listing["output-size-224-chain"]["best_score"] == pytest.approx(0.8)
    page = client.get(f"/exercises/{exercise.pk}/").content.decode()
    assert "80" in page
    results = client.get("/me/results/").content.decode()
    assert "80" in results


def test_an_override_waits_for_the_release_date_like_any_grade(course):
    exercise = Exercise.objects.get(course=course, slug="output-size-224-chain")
    exercise.grades_visible_at = timezone.now() + timedelta(days=1)
    exercise.save()
    alice, t = student(course, username="alice"), teacher(course)
    grade_override(exercise=exercise, student=alice, score=0.8, comment="Oral exam", actor=t)
    listing = {r["slug"]: r for r in logged_in(alice).get("/api/v1/courses/cnn-diffusion/exercises").json()}
    assert listing["output-size-224-chain"]["best_score"] is None


def test_an_extension_needs_a_due_date_or_an_explicit_personal_one(course):
    exercise = Exercise.objects.get(course=course, slug="output-size-224-chain")
    assert exercise.due_at is None
    alice, t = student(course, username="alice"), teacher(course)
    when = timezone.now() + timedelta(days=3)
    with pytest.raises(ExtensionError):
        extension_grant(exercise=exercise, student=alice, due_at=when, actor=t)
    api = logged_in(t).post(f"/api/v1/exercises/{exercise.pk}/extensions",
                            {"username": "alice", "due_at": when.isoformat()}, content_type="application/json")
    assert api.status_code == 400 and "date limite" in api.json()["detail"].lower()  # French first
    assert not Extension.objects.exists() and not AuditLog.objects.exists()

    ok = logged_in(t).post(f"/api/v1/exercises/{exercise.pk}/extensions",
                           {"username": "alice", "due_at": when.isoformat(), "personal": True}, content_type="application/json")
    assert ok.status_code == 200
    # The student sees their own date; the personal date is judged like any due date.
    page = logged_in(alice).get(f"/exercises/{exercise.pk}/").content.decode()
    assert 'id="personal-due"' in page
    listing = {r["slug"]: r for r in logged_in(alice).get("/api/v1/courses/cnn-diffusion/exercises").json()}
    assert listing["output-size-224-chain"]["due_at"] is not None
    late = attempt_submit(exercise=exercise, user=alice, answer={"shape": [1, 1, 1]}, now=when + timedelta(minutes=1))
    assert late.late
    bob = student(course, username="bob")
    assert not attempt_submit(exercise=exercise, user=bob, answer={"shape": [1, 1, 1]}, now=when + timedelta(minutes=1)).late


def test_the_audit_log_shows_the_date_the_teacher_entered(course, settings):
    settings.TIME_ZONE = "Europe/Paris"
    exercise = Exercise.objects.get(course=course, slug="output-size-224-chain")
    exercise.due_at = timezone.now()
    exercise.save()
    alice, t = student(course, username="alice"), teacher(course)
    client = logged_in(t)
    client.post(f"/teach/cnn-diffusion/students/{alice.pk}/exercises/{exercise.pk}/extension/", {"due_at": "2030-01-15T18:00"})
    audit = client.get("/teach/cnn-diffusion/audit/").content.decode()
    assert "2030-01-15T18:00+01:00" in audit and "17:00" not in audit
    assert Extension.objects.get().due_at.hour == 17  # stored in UTC


def test_section_weights_set_by_the_teacher_drive_the_grade_everywhere():
    from exercises.models import Attempt
    from tests.factories import CourseFactory

    course = CourseFactory(slug="w")
    made = [Exercise.objects.create(course=course, slug=f"e{i}", type="mcq", position=i, title_i18n={"fr": f"E{i}"},
                                    section_i18n={"fr": "Bases" if i < 2 else "Diffusion", "en": "x"}, params={})
            for i in range(3)]
    alice, t = student(course, username="alice"), teacher(course)
    for e, score in zip(made, (1.0, 1.0, 0.0), strict=True):
        Attempt.objects.create(exercise=e, user=alice, number=1, answer={}, raw_score=score, score=score)
    client = logged_in(t)
    row = lambda: next(r for r in client.get("/api/v1/courses/w/gradebook").json()["rows"] if r["username"] == "alice")  # noqa: E731
    assert row()["weighted"] == pytest.approx(2 / 3, abs=1e-4)  # by default, every exercise weighs 1
    page = client.get("/teach/w/gradebook/").content.decode()
    assert 'id="section-weights"' in page
    client.post("/teach/w/section-weights/", {"section": ["Bases", "Diffusion"], "weight": ["1", "3"]})
    assert row()["weighted"] == pytest.approx(0.25)
    assert "5" in client.get("/teach/w/gradebook/").content.decode()  # 0.25 × 20 = 5 on the page
    assert AuditLog.objects.filter(action="weights", course=course).exists()
    client.post("/teach/w/section-weights/", {"section": ["Nope"], "weight": ["1"]})
    client.post("/teach/w/section-weights/", {"section": ["Bases"], "weight": ["-1"]})
    assert row()["weighted"] == pytest.approx(0.25)  # refused, nothing changed
    assert logged_in(alice).post("/teach/w/section-weights/", {"section": ["Bases"], "weight": ["9"]}).status_code == 404
