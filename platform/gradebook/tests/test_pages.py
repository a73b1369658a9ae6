import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from exercises.models import Attempt, Exercise, Submission
from tests.factories import CourseFactory, student, teacher

pytestmark = pytest.mark.django_db


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def _exercise(course, slug, title, position, type="mcq", **kwargs):
    return Exercise.objects.create(course=course, slug=slug, type=type, position=position,
                                   title_i18n={"fr": title, "en": title}, params={}, **kwargs)


def _attempt(exercise, user, number, score, late=False, feedback=None, answer=None):
    return Attempt.objects.create(
        exercise=exercise, user=user, number=number, answer=answer or {"choices": ["a"]}, raw_score=score, score=score,
        correct=score == 1, late=late, feedback=feedback or {"fr": "Bien", "en": "Well done"})


@pytest.fixture
def setup():
    course = CourseFactory(slug="cnn")
    quiz = _exercise(course, "quiz-pooling", "Pooling quiz", 1)
    shape = _exercise(course, "output-shape", "Output shape", 2, type="output_size")
    model = _exercise(course, "train-cnn", "Train a CNN", 3, type="model")
    alice = student(course, username="alice", first_name="Alice", last_name="Anders")
    bob = student(course, username="bob", first_name="Bob", last_name="Brown")
    carol = student(course, username="carol", first_name="Carol", last_name="Clark")
    _attempt(quiz, alice, 1, 0.0)
    _attempt(quiz, alice, 2, 1.0, feedback={"fr": "Exact : 2×2", "en": "Right: 2x2 pooling halves the size"})
    _attempt(quiz, bob, 1, 0.5, late=True)
    _attempt(shape, bob, 1, 1.0)
    _attempt(shape, carol, 1, 0.25)
    sub = Submission.objects.create(
        exercise=model, user=alice, original_name="my-model.keras", file="submissions/1/x.keras", status="done",
        score=0.8, metrics={"public_accuracy": 0.91, "private_accuracy": 0.88},
        feedback={"fr": "Précision publique 91 %", "en": "Public accuracy 91%"}, finished_at=timezone.now())
    t = teacher(course, username="prof")
    return {"course": course, "quiz": quiz, "shape": shape, "model": model, "alice": alice, "bob": bob,
            "carol": carol, "submission": sub, "teacher": t}


def _names(response):
    return re.findall(r'class="student-link" href="[^"]+">([^<]+)</a>', response.content.decode())


def test_gradebook_sorts_by_name_total_and_exercise(setup):
    t = _client(setup["teacher"])
    url = reverse("gradebook:course", args=["cnn"])
    assert _names(t.get(url)) == ["Alice Anders", "Bob Brown", "Carol Clark"]
    assert _names(t.get(url, {"sort": "name", "dir": "desc"})) == ["Carol Clark", "Bob Brown", "Alice Anders"]
    # totals: alice 1.0, bob 1.5, carol 0.25
    assert _names(t.get(url, {"sort": "total", "dir": "desc"})) == ["Bob Brown", "Alice Anders", "Carol Clark"]
    assert _names(t.get(url, {"sort": "total", "dir": "asc"})) == ["Carol Clark", "Alice Anders", "Bob Brown"]
    # by the shape exercise: bob 1.0, carol 0.25, alice never tried (sorts last)
    assert _names(t.get(url, {"sort": str(setup["shape"].pk), "dir": "desc"})) == ["Bob Brown", "Carol Clark", "Alice Anders"]
    body = t.get(url, {"sort": "total", "dir": "desc", "q": "o"}).content.decode()
    # the header links keep the filters and flip the direction of the sorted column
    assert "?q=o&amp;sort=total&amp;dir=asc" in body
    assert f"sort={setup['quiz'].pk}&amp;dir=desc" in body
    # an unknown sort key falls back to names
    assert _names(t.get(url, {"sort": "password"})) == ["Alice Anders", "Bob Brown", "Carol Clark"]


def test_gradebook_filters_students_exercises_and_late_work(setup):
    t = _client(setup["teacher"])
    url = reverse("gradebook:course", args=["cnn"])
    assert _names(t.get(url, {"q": "bro"})) == ["Bob Brown"]
    assert _names(t.get(url, {"q": "carol"})) == ["Carol Clark"]
    assert _names(t.get(url, {"late": "1"})) == ["Bob Brown"]
    # late work only on the quiz: filtering the columns to the shape exercise leaves nobody late
    assert _names(t.get(url, {"late": "1", "exercise": "shape"})) == []
    response = t.get(url, {"exercise": "pooling"})
    columns = [c["exercise"].slug for c in response.context["columns"]]
    assert columns == ["quiz-pooling"]
    body = response.content.decode()
    assert reverse("gradebook:exercise_stats", args=["cnn", setup["quiz"].pk]) in body
    assert f'sort={setup["shape"].pk}&' not in body  # the hidden column has no sort link


def test_gradebook_flags_late_cells_and_links_pages(setup):
    t = _client(setup["teacher"])
    body = t.get(reverse("gradebook:course", args=["cnn"])).content.decode()
    assert body.count('class="pill pill-late"') == 1
    assert 'class="num late"' in body
    assert reverse("gradebook:student", args=["cnn", setup["bob"].pk]) in body
    assert reverse("gradebook:exercise_stats", args=["cnn", setup["shape"].pk]) in body
    assert reverse("gradebook:course_csv", args=["cnn"]) in body
    assert reverse("gradebook:regrade", args=["cnn", setup["quiz"].pk]) in body


def test_student_drill_down_shows_attempts_feedback_and_submissions(setup):
    t = _client(setup["teacher"])
    t.cookies["django_language"] = "en"
    response = t.get(reverse("gradebook:student", args=["cnn", setup["alice"].pk]), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Right: 2x2 pooling halves the size" in body or "Exact : 2×2" in body
    assert "my-model.keras" in body
    assert "91 %" in body and "88 %" in body
    assert reverse("exercises:submission_confusion", args=[setup["submission"].pk]) in body
    assert "Pooling quiz" in body and "Train a CNN" in body
    assert "Output shape" not in body  # no activity there
    assert body.count('id="attempt-') == 2
    bob = t.get(reverse("gradebook:student", args=["cnn", setup["bob"].pk])).content.decode()
    assert 'class="attempt late"' in bob


def test_exercise_stats_page_draws_svg_and_explains_the_indices(setup):
    t = _client(setup["teacher"])
    response = t.get(reverse("gradebook:exercise_stats", args=["cnn", setup["quiz"].pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count("<svg") == 3
    assert 'class="bar"' in body
    # first attempts: alice 0.0, bob 0.5 -> facility 25 %
    assert response.context["facility"] == pytest.approx(25.0)
    assert "Indice de facilité" in body and "Indice de discrimination" in body  # French by default
    assert "30 %" in body and "0,3" in body  # the explanations of the indices, in French
    # model submissions are not quiz items: no item analysis there
    other = t.get(reverse("gradebook:exercise_stats", args=["cnn", setup["model"].pk]))
    assert other.status_code == 200 and "item-analysis" not in other.content.decode()


def test_new_pages_are_404_for_other_teachers_students_and_strangers(setup):
    course = setup["course"]
    other_course = CourseFactory(slug="other")
    outsider_teacher = teacher(other_course, username="other-prof")
    outsider_student = student(other_course, username="other-student")
    urls = [
        reverse("gradebook:course", args=["cnn"]),
        reverse("gradebook:student", args=["cnn", setup["alice"].pk]),
        reverse("gradebook:exercise_stats", args=["cnn", setup["quiz"].pk]),
    ]
    for user in (outsider_teacher, outsider_student, setup["alice"]):
        client = _client(user)
        for url in urls:
            assert client.get(url).status_code == 404, (user, url)
    t = _client(setup["teacher"])
    # a student of another course, the teacher themself, or an exercise of another course
    assert t.get(reverse("gradebook:student", args=["cnn", outsider_student.pk])).status_code == 404
    assert t.get(reverse("gradebook:student", args=["cnn", setup["teacher"].pk])).status_code == 404
    foreign = _exercise(other_course, "x", "X", 1)
    assert t.get(reverse("gradebook:exercise_stats", args=["cnn", foreign.pk])).status_code == 404
    assert course.slug == "cnn"


def _populate(course, exercises, n, prefix):
    users = [student(course, username=f"{prefix}{i}") for i in range(n)]
    Attempt.objects.bulk_create([
        Attempt(exercise=e, user=u, number=k, answer={"choices": ["a"]}, raw_score=0.5, score=0.5 * k, late=k == 2,
                feedback={"fr": "f", "en": "f"})
        for u in users for e in exercises for k in (1, 2)
    ])
    Submission.objects.bulk_create([
        Submission(exercise=exercises[-1], user=u, original_name="m.keras", file="submissions/m.keras", status="done",
                   metrics={"public_accuracy": 0.5}, feedback={"fr": "f", "en": "f"})
        for u in users
    ])
    return users


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_pages_cost_a_constant_number_of_queries():
    def measure(n):
        course = CourseFactory(slug=f"q{n}")
        exercises = [_exercise(course, f"e{i}", f"E{i}", i) for i in range(4)]
        users = _populate(course, exercises, n, f"q{n}-")
        client = _client(teacher(course, username=f"prof{n}"))
        return (
            _count(client, reverse("gradebook:course", args=[course.slug])),
            _count(client, reverse("gradebook:course", args=[course.slug]) + "?sort=total&late=1&q=q"),
            _count(client, reverse("gradebook:student", args=[course.slug, users[0].pk])),
            _count(client, reverse("gradebook:exercise_stats", args=[course.slug, exercises[0].pk])),
        )

    assert measure(3) == measure(30)


def test_a_student_who_left_leaves_the_gradebook_and_export_but_keeps_their_page(setup):
    """The LMS's roster dropped Carol (her enrolment inactive): the gradebook and its CSV list
    the class as it is; her work is kept and her page still opens by name."""
    from courses.models import Enrollment

    Enrollment.objects.filter(course=setup["course"], user=setup["carol"]).update(is_active=False)
    t = _client(setup["teacher"])
    assert _names(t.get(reverse("gradebook:course", args=["cnn"]))) == ["Alice Anders", "Bob Brown"]
    assert "carol" not in t.get(reverse("gradebook:course_csv", args=["cnn"])).content.decode()
    page = t.get(reverse("gradebook:student", args=["cnn", setup["carol"].pk]))
    assert page.status_code == 200 and "Output shape" in page.content.decode()
