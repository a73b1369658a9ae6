"""factory-boy factories shared by the app tests and the integration tests."""
from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from accounts.roles import Role, roles_ensure_groups
from courses.models import Course, Enrollment

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def with_role(obj, create, extracted, **kwargs):
        role = Role(extracted or Role.STUDENT)
        roles_ensure_groups()
        obj.groups.set([Group.objects.get(name=role.value)])
        obj.is_staff = obj.is_superuser = role == Role.ADMIN
        obj.save()


class CourseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Course
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"course-{n}")
    title_i18n = factory.LazyAttribute(lambda o: {"fr": f"Cours {o.slug}", "en": f"Course {o.slug}"})
    language = "fr"


class EnrollmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Enrollment

    course = factory.SubFactory(CourseFactory)
    user = factory.SubFactory(UserFactory)
    role = Enrollment.Role.STUDENT


def student(course: Course | None = None, **kwargs):
    user = UserFactory(with_role=Role.STUDENT, **kwargs)
    if course is not None:
        EnrollmentFactory(course=course, user=user, role=Enrollment.Role.STUDENT)
    return user


def teacher(course: Course | None = None, **kwargs):
    user = UserFactory(with_role=Role.TEACHER, **kwargs)
    if course is not None:
        EnrollmentFactory(course=course, user=user, role=Enrollment.Role.TEACHER)
    return user


def admin(**kwargs):
    return UserFactory(with_role=Role.ADMIN, **kwargs)


def logged_in(user):
    """A test client with a session for ``user``."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def right_answer(exercise, user) -> dict:
    """The reference answer of this student's own variant."""
    from exercises.engine.variants import variant_generate
    from exercises.types import get_type

    return get_type(exercise.type).solve(variant_generate(exercise=exercise, user_id=user.pk))
