import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from exercises.engine.services import attempt_submit
from exercises.models import Attempt, Exercise
from gradebook.selectors import gradebook_rows
from tests.factories import CourseFactory, logged_in, right_answer, student, teacher

pytestmark = pytest.mark.django_db


def test_gradebook_json_and_csv_for_the_teacher_only(course):
    exercise = Exercise.objects.get(course=course, slug="output-size-224-chain")
    alice = student(course, username="alice")
    attempt_submit(exercise=exercise, user=alice, answer=right_answer(exercise, alice))
    t = logged_in(teacher(course))
    body = t.get("/api/v1/courses/cnn-diffusion/gradebook").json()
    row = next(r for r in body["rows"] if r["username"] == "alice")
    assert row["scores"]["output-size-224-chain"] == 1.0
    csv = t.get("/api/v1/courses/cnn-diffusion/gradebook.csv")
    assert csv["Content-Type"].startswith("text/csv")
    assert "alice" in csv.content.decode()
    assert logged_in(alice).get("/api/v1/courses/cnn-diffusion/gradebook").status_code == 404
    other = CourseFactory(slug="other")
    assert logged_in(teacher(other)).get("/api/v1/courses/cnn-diffusion/gradebook").status_code == 404


def test_gradebook_costs_a_constant_number_of_queries(course):
    def queries(n_students):
        for i in range(n_students):
            user = student(course, username=f"q{n_students}-{i}")
            for exercise in Exercise.objects.filter(course=course, type="mcq")[:3]:
                attempt_submit(exercise=exercise, user=user, answer={"choices": [right_answer(exercise, user)["choices"][0]]})
        with CaptureQueriesContext(connection) as ctx:
            _exercises, rows = gradebook_rows(course=course)
            assert len(rows) >= n_students
        return len(ctx.captured_queries)

    assert queries(2) == queries(12)


def test_regrade_applies_a_fixed_key_and_keeps_penalties(course):
    exercise = Exercise.objects.get(course=course, slug="output-size-224-chain")
    bob = student(course, username="bob")
    wrong = attempt_submit(exercise=exercise, user=bob, answer={"shape": [1, 1, 1]})
    right = attempt_submit(exercise=exercise, user=bob, answer=right_answer(exercise, bob))
    # Simulate a buggy key that had marked the right answer wrong.
    Attempt.objects.filter(pk=right.pk).update(raw_score=0, score=0, correct=False)
    t = logged_in(teacher(course))
    report = t.post(f"/api/v1/exercises/{exercise.pk}/regrade").json()
    assert report == {"attempts": 2, "changed": 1, "requeued": 0}
    right.refresh_from_db()
    wrong.refresh_from_db()
    assert right.correct and right.score == pytest.approx(0.9)  # the retry penalty still applies
    assert wrong.score < 1
    assert logged_in(bob).post(f"/api/v1/exercises/{exercise.pk}/regrade").status_code == 404


def test_regrade_button_on_the_gradebook_page(course):
    exercise = Exercise.objects.get(course=course, slug="output-size-224-chain")
    t = logged_in(teacher(course))
    page = t.get("/teach/cnn-diffusion/gradebook/").content.decode()
    url = f"/teach/cnn-diffusion/exercises/{exercise.pk}/regrade/"
    assert url in page
    assert t.post(url).url.endswith(url)  # no confirmation: back to the preview, nothing done
    response = t.post(url, {"confirm": "1"}, follow=True)
    assert response.status_code == 200
    assert "msg-success" in response.content.decode()  # the report of the regrade is shown
    assert logged_in(student(course)).post(url).status_code == 404


def test_a_gradebook_of_300_students_by_40_exercises_renders_with_a_constant_number_of_queries():
    from django.contrib.auth import get_user_model

    from courses.models import Enrollment
    from exercises.models import Extension
    from gradebook.models import GradeOverride

    course = CourseFactory(slug="big")
    exercises = Exercise.objects.bulk_create([
        Exercise(course=course, slug=f"e{i}", type="mcq", position=i, section_i18n={"fr": f"S{i // 10}"},
                 title_i18n={"fr": f"Exercice {i}"}, params={}) for i in range(40)])
    t = teacher(course)
    users = get_user_model().objects.bulk_create([get_user_model()(username=f"u{i:03}") for i in range(300)])
    Enrollment.objects.bulk_create([Enrollment(course=course, user=u, role=Enrollment.Role.STUDENT) for u in users])

    def page_queries(n: int) -> int:
        shown = users[:n]
        Attempt.objects.filter(exercise__course=course).delete()
        Attempt.objects.bulk_create([
            Attempt(exercise=e, user=u, number=1, answer={"choices": ["a"]}, raw_score=0.5, score=0.5, late=(i % 7 == 0))
            for i, u in enumerate(shown) for e in exercises])
        GradeOverride.objects.bulk_create([GradeOverride(exercise=exercises[0], student=u, score=1, comment="x")
                                           for u in shown[:n // 10] if not GradeOverride.objects.filter(student=u).exists()])
        Extension.objects.get_or_create(exercise=exercises[1], user=shown[0], defaults={"due_at": "2030-01-01T00:00Z"})
        client = logged_in(t)
        Enrollment.objects.filter(course=course, role=Enrollment.Role.STUDENT).exclude(user__in=shown).delete()
        with CaptureQueriesContext(connection) as ctx:
            response = client.get("/teach/big/gradebook/")
        assert response.status_code == 200 and response.content.decode().count('class="student-link"') == n
        return len(ctx.captured_queries)

    large = page_queries(300)
    small = page_queries(30)
    assert large == small
