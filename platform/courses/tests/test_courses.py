import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import CourseFactory, admin, student, teacher

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_join_with_a_code():
    course = CourseFactory(slug="cnn", join_code="ABC123")
    user = student()
    client = _client(user)
    assert client.get(reverse("courses:detail", args=["cnn"])).status_code == 404
    response = client.post(reverse("courses:join"), {"code": " abc123 "})
    assert response.status_code == 302
    assert client.get(reverse("courses:detail", args=["cnn"])).status_code == 200
    assert course.enrollments.get(user=user).role == "student"


def test_a_wrong_join_code_says_so():
    client = _client(student())
    response = client.post(reverse("courses:join"), {"code": "NOPE"}, follow=True)
    assert "join code" in response.content.decode().lower() or "code" in response.content.decode()


def test_a_teacher_sees_only_their_courses():
    mine, _other = CourseFactory(slug="mine"), CourseFactory(slug="other")
    t = teacher(mine)
    client = _client(t)
    assert [c["slug"] for c in client.get("/api/v1/courses").json()] == ["mine"]
    assert client.get(reverse("gradebook:course", args=["mine"])).status_code == 200
    assert client.get(reverse("gradebook:course", args=["other"])).status_code == 404
    assert client.get(reverse("courses:detail", args=["other"])).status_code == 404


def test_students_cannot_open_teacher_pages():
    course = CourseFactory(slug="cnn")
    client = _client(student(course))
    for url in (reverse("gradebook:home"), reverse("gradebook:course", args=["cnn"]), reverse("gradebook:course_csv", args=["cnn"])):
        assert client.get(url).status_code == 404, url
    assert client.get("/admin/").status_code == 302  # the admin site sends non-staff to its login


def test_admin_sees_every_course():
    CourseFactory(slug="a"), CourseFactory(slug="b")
    client = _client(admin())
    assert {c["slug"] for c in client.get("/api/v1/courses").json()} >= {"a", "b"}
    assert client.get("/admin/").status_code == 200


def test_anonymous_users_are_sent_to_login():
    response = Client().get(reverse("courses:list"))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


def test_navigation_follows_the_role():
    course = CourseFactory(slug="cnn")
    student_page = _client(student(course)).get(reverse("courses:list")).content.decode()
    teacher_page = _client(teacher(course)).get(reverse("courses:list")).content.decode()
    assert reverse("gradebook:home") not in student_page
    assert reverse("gradebook:home") in teacher_page
    assert reverse("exercises:my_results") in student_page


def test_language_switcher_turns_the_site_english():
    client = _client(student())
    assert "Mes cours" in client.get(reverse("courses:list")).content.decode()
    client.post(reverse("set_language"), {"language": "en", "next": "/courses/"})
    assert "My courses" in client.get(reverse("courses:list")).content.decode()
