"""``config.prepared``: a queryset compiled once per connection gives what the ORM gives, for
every new parameter, and refuses what it cannot substitute safely."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from config.prepared import PreparedQuery
from courses.models import Course, Enrollment
from exercises.models import Exercise, Extension
from tests.factories import CourseFactory, student

pytestmark = pytest.mark.django_db


def _exercise(course: Course, slug: str) -> Exercise:
    return Exercise.objects.create(course=course, slug=slug, title_i18n={"fr": slug}, type="mcq",
                                   params={"choices": [slug]})


def _with_extension(*, exercise_id: int, user_id: int):
    return (Exercise.objects.select_related("course").filter(pk=exercise_id)
            .annotate(due=Subquery(Extension.objects.filter(exercise_id=OuterRef("pk"), user_id=user_id)
                                   .values("due_at")[:1]),
                      enrolled=Count("course__enrollments"))
            .order_by())


@pytest.fixture
def two_students():
    course = CourseFactory(slug="prepared")
    return course, student(course, username="ada"), student(course, username="bob")


def test_each_call_gives_what_the_orm_gives_for_its_own_parameters(two_students):
    course, ada, bob = two_students
    first, second = _exercise(course, "one"), _exercise(course, "two")
    due = timezone.now().replace(microsecond=0) + timedelta(days=3)
    Extension.objects.create(exercise=second, user=bob, due_at=due)
    calls = []

    def build(**ids):
        calls.append(ids)
        return _with_extension(**ids)

    query = PreparedQuery(build)
    for exercise, user in [(first, ada), (second, ada), (second, bob), (first, bob)]:
        got = query.first(exercise_id=exercise.pk, user_id=user.pk)
        expected = _with_extension(exercise_id=exercise.pk, user_id=user.pk).get()
        assert (got.pk, got.slug, got.params, got.course.slug, got.due, got.enrolled) == (
            expected.pk, expected.slug, expected.params, expected.course.slug, expected.due, expected.enrolled)
        assert got._state.adding is False and got._state.db == "default"
    assert query.first(exercise_id=second.pk, user_id=bob.pk).due == due  # the backend's converter ran
    assert query.first(exercise_id=10**9, user_id=ada.pk) is None
    assert len(calls) == 1  # built and compiled once on this connection


def test_values_rows_and_counted_queries(two_students, django_assert_num_queries):
    course, ada, bob = two_students
    query = PreparedQuery(lambda *, course_id, username: Enrollment.objects.filter(
        course_id=course_id, user__username=username).order_by().values_list("user__username", "role"))
    assert query.all(course_id=course.pk, username="ada") == [("ada", "student")]
    with django_assert_num_queries(1):  # it goes through the connection's cursor: tests count it
        assert query.all(course_id=course.pk, username="bob") == [("bob", "student")]
    assert query.all(course_id=course.pk, username="nobody") == []


def test_an_id_beyond_64_bits_matches_nothing_on_every_backend(two_students):
    # An id typed in a URL: SQLite cannot bind it (OverflowError, a 500); the ORM answers
    # instead, whose integer lookups know that it matches nothing.
    course, ada, _ = two_students
    query = PreparedQuery(lambda *, pk: Course.objects.filter(pk=pk).order_by())
    assert [c.pk for c in query.all(pk=course.pk)] == [course.pk]
    assert query.all(pk=2**70) == [] and query.all(pk=-(2**64)) == []


def test_what_cannot_be_substituted_is_refused_at_the_first_call(two_students):
    course, ada, _ = two_students
    wrapped = PreparedQuery(lambda *, name: Course.objects.filter(slug__icontains=name))
    with pytest.raises(ValueError, match="do not reach the SQL unchanged"):
        wrapped.all(name="prep")
    for value in (None, True, 1.5):
        with pytest.raises(TypeError, match="only int and str"):
            PreparedQuery(lambda *, x: Course.objects.filter(pk=x)).all(x=value)


@pytest.mark.django_db(transaction=True)
def test_a_lock_outside_a_transaction_is_refused_compiled_or_not():
    course = CourseFactory(slug="locked")
    locking = PreparedQuery(lambda *, pk: Course.objects.select_for_update().filter(pk=pk))
    with transaction.atomic():
        assert [c.pk for c in locking.all(pk=course.pk)] == [course.pk]
    # In autocommit the lock would end with its own statement: the ORM refuses it, and so does this.
    with pytest.raises(TransactionManagementError):
        locking.all(pk=course.pk)
