"""One visibility rule (issue #11): what a viewer may see of graded work depends on their role
in *that row's course*, never on their role elsewhere.

The case that leaked: a teacher of course A who joins course B with its join code is a student
in B. Before B's release date they must see of their own B work exactly what any student sees:
no score, no private split, no confusion matrix, through the API, the pages, the CSV and the
pictures. B's own teacher sees everything.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone

from courses.models import Course, Enrollment
from courses.services import course_join
from exercises.engine.services import attempt_submit
from exercises.engine.visibility import visibility_for
from exercises.models import Exercise, Generation, Submission
from exercises.submissions.datasets import confusion_png_name
from tests.factories import CourseFactory, logged_in, right_answer, student, teacher

pytestmark = pytest.mark.django_db

METRICS = {"public_accuracy": 0.9, "private_accuracy": 0.176, "accuracy": 0.5, "public_grade": 0.85,
           "confusion": [[3, 1], [2, 4]], "n_test": 10, "param_count": 1234,
           "public_confusion": [[2, 0], [1, 2]], "n_public": 5}
PRIVATE = {"private_accuracy", "accuracy", "confusion", "n_test"}


@pytest.fixture
def course_b():
    """The built-in course, with grades released tomorrow and due the day after."""
    call_command("load_course", verbosity=0)
    course = Course.objects.get(slug="cnn-diffusion")
    Exercise.objects.filter(course=course).update(grades_visible_at=timezone.now() + timedelta(days=1),
                                                  due_at=timezone.now() + timedelta(days=2))
    return course


@pytest.fixture
def teacher_of_a_in_b(course_b):
    """A teacher of another course who joined B with B's join code: a student in B."""
    user = teacher(CourseFactory(slug="course-a"), username="teacher-of-a")
    course_join(user=user, code=course_b.join_code)
    assert Enrollment.objects.get(course=course_b, user=user).role == Enrollment.Role.STUDENT
    return user


def _exercise(course, slug) -> Exercise:
    return Exercise.objects.get(course=course, slug=slug)


def _done_submission(exercise, user) -> Submission:
    submission = Submission(exercise=exercise, user=user, original_name="m.keras", status="done", score=0.5,
                            metrics=METRICS, feedback={"fr": "Précision publique 90 %", "en": "Public accuracy 90 %"})
    submission.file.save("m.keras", ContentFile(b"PK not a real model"), save=False)
    submission.save()
    submission.file.storage.save(confusion_png_name(submission.file.name), ContentFile(b"\x89PNG fake"))
    submission.file.storage.save(confusion_png_name(submission.file.name, split="public"), ContentFile(b"\x89PNG pub"))
    return submission


def _done_generation(exercise, user) -> Generation:
    return Generation.objects.create(
        course=exercise.course, exercise=exercise, user=user, prompt="banane verte", steps=20, seed=1, guidance=3.0,
        status="done", score=0.9, recognition={"caption": "banane verte", "fruit": 1, "colour": 2},
        feedback={"fr": "Le juge voit : banane verte.", "en": "The judge sees: green banana."}, trajectory_steps=[])


def test_the_rule_reads_the_role_in_the_rows_course(course_b, teacher_of_a_in_b):
    exercise = _exercise(course_b, "output-size-7x7-padded")
    seen = visibility_for(viewer=teacher_of_a_in_b, exercise=exercise)
    assert (seen.released, seen.score, seen.private) == (False, False, False)
    assert seen.release_at == exercise.grades_visible_at
    real_teacher = teacher(course_b, username="teacher-of-b")
    assert visibility_for(viewer=real_teacher, exercise=exercise).everything
    # Released but before the due date: a model's grade and private split still wait.
    model = _exercise(course_b, "model-shapes-classifier")
    model.grades_visible_at = timezone.now() - timedelta(minutes=1)
    seen = visibility_for(viewer=teacher_of_a_in_b, exercise=model)
    assert (seen.released, seen.score, seen.private) == (True, False, False)
    instant = _exercise(course_b, "output-size-7x7-padded")
    instant.grades_visible_at = timezone.now() - timedelta(minutes=1)
    assert visibility_for(viewer=teacher_of_a_in_b, exercise=instant).score  # no private split to wait for


def test_an_instant_attempt_hides_its_grade_in_the_api_and_the_pages(course_b, teacher_of_a_in_b):
    exercise = _exercise(course_b, "output-size-7x7-padded")
    client = logged_in(teacher_of_a_in_b)
    body = client.post(f"/api/v1/exercises/{exercise.pk}/attempts",
                       {"answer": right_answer(exercise, teacher_of_a_in_b)}, content_type="application/json").json()
    assert body["score"] is None and body["correct"] is None and "publiés" in body["feedback"]
    rows = {row["slug"]: row for row in client.get("/api/v1/courses/cnn-diffusion/exercises").json()}
    assert rows["output-size-7x7-padded"]["best_score"] is None
    page = client.get(f"/exercises/{exercise.pk}/").content.decode()
    assert 'id="feedback-hidden"' in page and 'id="feedback"' not in page and "100 %" not in page
    results = client.get("/me/results/").content.decode()
    assert "100 %" not in results
    # B's teacher sees the grade, in the gradebook's CSV too.
    real_teacher = teacher(course_b, username="teacher-of-b")
    csv = logged_in(real_teacher).get("/api/v1/courses/cnn-diffusion/gradebook.csv").content.decode()
    assert "teacher-of-a" in csv


def test_a_model_submission_hides_score_and_private_split_api_pages_and_picture(course_b, teacher_of_a_in_b):
    exercise = _exercise(course_b, "model-shapes-classifier")
    submission = _done_submission(exercise, teacher_of_a_in_b)
    client = logged_in(teacher_of_a_in_b)

    body = client.get(f"/api/v1/submissions/{submission.pk}").json()
    assert body["score"] is None and body["metrics"] == {}
    assert 'id="results-hidden"' in client.get(f"/submissions/{submission.pk}/").content.decode()
    assert client.get(f"/submissions/{submission.pk}/confusion.png").status_code == 404
    assert client.get(f"/submissions/{submission.pk}/confusion-public.png").status_code == 404
    assert body["pictures"] == {}
    assert client.get(f"/api/v1/exercises/{exercise.pk}/leaderboard").json()[0]["private_accuracy"] is None

    # Released, due date not passed: the public split only (no confusion matrix, no n_test).
    Exercise.objects.filter(pk=exercise.pk).update(grades_visible_at=timezone.now() - timedelta(minutes=1))
    body = client.get(f"/api/v1/submissions/{submission.pk}").json()
    assert body["score"] is None
    assert body["metrics"]["public_accuracy"] == 0.9 and not PRIVATE & set(body["metrics"])
    # The public split's own confusion matrix and size: the API, the page and the picture.
    assert body["metrics"]["public_confusion"] == [[2, 0], [1, 2]] and body["metrics"]["n_public"] == 5
    assert body["pictures"] == {"public": f"/submissions/{submission.pk}/confusion-public.png"}
    page = client.get(f"/exercises/{exercise.pk}/").content.decode()
    assert "18 %" not in page and "confusion.png" not in page and "confusion-public.png" in page
    assert client.get(f"/submissions/{submission.pk}/confusion.png").status_code == 404
    public_png = client.get(body["pictures"]["public"])
    assert public_png.status_code == 200 and b"".join(public_png.streaming_content) == b"\x89PNG pub"

    # B's teacher sees everything; after the due date, so does the student.
    real_teacher = logged_in(teacher(course_b, username="teacher-of-b"))
    assert real_teacher.get(f"/api/v1/submissions/{submission.pk}").json()["metrics"]["private_accuracy"] == 0.176
    assert real_teacher.get(f"/submissions/{submission.pk}/confusion.png").status_code == 200
    Exercise.objects.filter(pk=exercise.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    body = client.get(f"/api/v1/submissions/{submission.pk}").json()
    assert body["score"] == 0.5 and body["metrics"]["confusion"] == [[3, 1], [2, 4]]
    assert set(body["pictures"]) == {"public", "all"}
    assert client.get(f"/submissions/{submission.pk}/confusion.png").status_code == 200


def test_a_generation_hides_its_score_and_reading_in_the_api_and_the_pages(course_b, teacher_of_a_in_b):
    exercise = _exercise(course_b, "diffusion-generate-target")
    generation = _done_generation(exercise, teacher_of_a_in_b)
    client = logged_in(teacher_of_a_in_b)
    body = client.get(f"/api/v1/generations/{generation.pk}").json()
    assert body["score"] is None and body["recognition"] == {}
    card = client.get(f"/generations/{generation.pk}/").content.decode()
    assert f'id="results-hidden-{generation.pk}"' in card and "90 %" not in card and "banane verte." not in card
    page = client.get(f"/exercises/{exercise.pk}/").content.decode()
    assert "90 %" not in page and "Le juge voit" not in page
    listed = client.get("/api/v1/courses/cnn-diffusion/generations").json()
    assert [row["score"] for row in listed] == [None]
    real_teacher = logged_in(teacher(course_b, username="teacher-of-b"))
    assert real_teacher.get(f"/api/v1/generations/{generation.pk}").json()["score"] == 0.9
    assert "90 %" in real_teacher.get("/courses/cnn-diffusion/generations/").content.decode()


def test_the_teacher_of_a_cannot_export_bs_grades(course_b, teacher_of_a_in_b):
    client = logged_in(teacher_of_a_in_b)
    attempt_submit(exercise=_exercise(course_b, "output-size-7x7-padded"), user=teacher_of_a_in_b,
                   answer=right_answer(_exercise(course_b, "output-size-7x7-padded"), teacher_of_a_in_b))
    assert client.get("/teach/cnn-diffusion/gradebook.csv").status_code == 404
    assert client.get("/api/v1/courses/cnn-diffusion/gradebook.csv").status_code == 404
    assert client.get("/api/v1/courses/cnn-diffusion/gradebook").status_code == 404
    # A plain student of B sees what the teacher of A sees.
    other = student(course_b, username="plain-student")
    exercise = _exercise(course_b, "output-size-7x7-padded")
    assert visibility_for(viewer=other, exercise=exercise) == visibility_for(viewer=teacher_of_a_in_b, exercise=exercise)
