"""The attempt policy of ``attempt_submit``, with an explicit time of receipt (``now``).

The exercise is a single-answer quiz whose right answer is known ("b"), so each score is
exact: 1 for the right answer, 0 for a wrong one, before penalties.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import translation

from exercises.engine.policy import AttemptRefused, policy_state, score_after_penalties
from exercises.engine.selectors import exercise_rows_for_user
from exercises.engine.services import attempt_submit
from exercises.models import Attempt, Exercise
from grader.result import AnswerError
from tests.factories import CourseFactory, student

pytestmark = pytest.mark.django_db

DUE = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
RIGHT = {"choices": ["b"]}
WRONG = {"choices": ["a"]}
QUIZ = {
    "multiple": False,
    "choices": [
        {"id": "a", "text": {"fr": "Non", "en": "No"}, "correct": False},
        {"id": "b", "text": {"fr": "Oui", "en": "Yes"}, "correct": True},
        {"id": "c", "text": {"fr": "Peut-être", "en": "Maybe"}, "correct": False},
    ],
}


@pytest.fixture
def course():
    return CourseFactory(slug="policy-course")


@pytest.fixture
def user(course):
    return student(course, username="policy-student")


def make_exercise(course, slug="quiz", **policy) -> Exercise:
    return Exercise.objects.create(course=course, slug=slug, type="mcq", title_i18n={"fr": slug, "en": slug},
                                   params=QUIZ, **policy)


def submit(exercise, user, answer, now=DUE - timedelta(days=1)) -> Attempt:
    return attempt_submit(exercise=exercise, user=user, answer=answer, now=now)


def attempts(exercise, user) -> list[Attempt]:
    return list(Attempt.objects.filter(exercise=exercise, user=user).order_by("number"))


# --- max attempts ------------------------------------------------------------------------------
def test_max_attempts_refuses_the_next_one_and_records_nothing(course, user):
    exercise = make_exercise(course, max_attempts=2)
    assert [submit(exercise, user, WRONG).number, submit(exercise, user, RIGHT).number] == [1, 2]

    with translation.override("en"), pytest.raises(AttemptRefused) as refused:
        submit(exercise, user, RIGHT)
    assert refused.value.status == 403
    assert refused.value.message == "You have used all your attempts for this exercise."
    with translation.override("fr"), pytest.raises(AttemptRefused) as refused_fr:
        submit(exercise, user, RIGHT)
    assert refused_fr.value.message != refused.value.message and "tentatives" in refused_fr.value.message

    assert [a.number for a in attempts(exercise, user)] == [1, 2]
    state = policy_state(exercise=exercise, attempts_used=2, now=DUE)
    assert state.attempts_left == 0 and not state.closed


def test_the_limit_is_per_student(course, user):
    exercise = make_exercise(course, max_attempts=1)
    submit(exercise, user, WRONG)
    other = student(course, username="policy-other")
    assert submit(exercise, other, RIGHT).number == 1
    with pytest.raises(AttemptRefused):
        submit(exercise, user, RIGHT)


def test_no_limit_when_max_attempts_is_none(course, user):
    exercise = make_exercise(course, max_attempts=None)
    numbers = [submit(exercise, user, WRONG).number for _ in range(6)]
    assert numbers == [1, 2, 3, 4, 5, 6]


# --- retry penalty -----------------------------------------------------------------------------
def test_retry_penalty_lowers_attempt_n_by_n_minus_1_times_the_penalty(course, user):
    exercise = make_exercise(course, retry_penalty=0.15)
    recorded = [submit(exercise, user, RIGHT) for _ in range(4)]
    assert [a.number for a in recorded] == [1, 2, 3, 4]
    assert all(a.raw_score == 1.0 and a.correct for a in recorded)
    assert [a.score for a in recorded] == pytest.approx([1.0, 0.85, 0.70, 0.55])
    # What is stored is what was returned.
    assert [a.score for a in attempts(exercise, user)] == pytest.approx([1.0, 0.85, 0.70, 0.55])


def test_retry_penalty_never_makes_a_score_negative():
    exercise = Exercise(retry_penalty=0.3, late_penalty=0.5)
    assert score_after_penalties(exercise=exercise, raw_score=1.0, number=5, late=False) == 0.0
    assert score_after_penalties(exercise=exercise, raw_score=1.0, number=2, late=True) == pytest.approx(0.35)
    assert score_after_penalties(exercise=exercise, raw_score=0.5, number=1, late=False) == pytest.approx(0.5)


def test_a_wrong_answer_scores_zero_whatever_the_penalty(course, user):
    exercise = make_exercise(course, retry_penalty=0.1)
    attempt = submit(exercise, user, WRONG)
    assert (attempt.raw_score, attempt.score, attempt.correct) == (0.0, 0.0, False)


# --- late policy -------------------------------------------------------------------------------
def test_late_with_penalty_policy_multiplies_by_one_minus_the_penalty_and_flags_late(course, user):
    exercise = make_exercise(course, due_at=DUE, late_policy=Exercise.LatePolicy.PENALTY, late_penalty=0.25)
    late = submit(exercise, user, RIGHT, now=DUE + timedelta(seconds=1))
    assert late.late is True
    assert late.raw_score == 1.0 and late.score == pytest.approx(0.75)
    assert late.created_at == DUE + timedelta(seconds=1)  # the time of receipt is what is kept


def test_late_and_retry_penalties_multiply(course, user):
    exercise = make_exercise(course, due_at=DUE, retry_penalty=0.1, late_penalty=0.5)
    first = submit(exercise, user, RIGHT, now=DUE - timedelta(hours=1))
    second = submit(exercise, user, RIGHT, now=DUE + timedelta(hours=1))
    assert (first.late, first.score) == (False, 1.0)
    assert second.late is True
    assert second.score == pytest.approx(1.0 * (1 - 0.1) * (1 - 0.5))


def test_the_time_of_receipt_decides_lateness_not_the_clock(course, user):
    # Whatever the real clock says, the receipt time given is the one compared with due_at.
    exercise = make_exercise(course, due_at=DUE, late_policy=Exercise.LatePolicy.CLOSED)
    on_time = submit(exercise, user, RIGHT, now=DUE)  # exactly at the due date: still on time
    assert on_time.late is False and on_time.score == 1.0


def test_late_with_closed_policy_refuses_and_records_nothing(course, user):
    exercise = make_exercise(course, due_at=DUE, late_policy=Exercise.LatePolicy.CLOSED, late_penalty=0.2)
    submit(exercise, user, WRONG, now=DUE - timedelta(minutes=1))
    with translation.override("en"), pytest.raises(AttemptRefused) as refused:
        submit(exercise, user, RIGHT, now=DUE + timedelta(seconds=1))
    assert refused.value.status == 403
    assert "due date" in refused.value.message and "closed" in refused.value.message
    assert [a.number for a in attempts(exercise, user)] == [1]
    state = policy_state(exercise=exercise, attempts_used=1, now=DUE + timedelta(seconds=1))
    assert state.late and state.closed


def test_no_due_date_is_never_late(course, user):
    exercise = make_exercise(course, due_at=None, late_policy=Exercise.LatePolicy.CLOSED, late_penalty=0.9)
    attempt = submit(exercise, user, RIGHT, now=datetime(2100, 1, 1, tzinfo=UTC))
    assert attempt.late is False and attempt.score == 1.0


# --- best score --------------------------------------------------------------------------------
def test_the_best_score_counts(course, user):
    exercise = make_exercise(course, retry_penalty=0.25, max_attempts=4)
    untouched = make_exercise(course, slug="untouched")
    scores = [submit(exercise, user, answer).score for answer in (WRONG, RIGHT, WRONG, RIGHT)]
    assert scores == pytest.approx([0.0, 0.75, 0.0, 0.25])

    rows = {row.exercise.slug: row for row in exercise_rows_for_user(course=course, user=user, now=DUE)}
    assert rows["quiz"].best_score == pytest.approx(0.75)  # the max, not the last nor the first
    assert rows["quiz"].state.attempts_used == 4 and rows["quiz"].state.attempts_left == 0
    assert rows["quiz"].status == "solved"  # a right answer solves it, whatever the penalties took
    assert rows["quiz"].solved
    assert rows["untouched"].best_score is None and rows["untouched"].status == "todo"
    # Another student's attempts do not leak into mine.
    other = student(course, username="policy-other")
    submit(untouched, other, RIGHT)
    rows = {row.exercise.slug: row for row in exercise_rows_for_user(course=course, user=user, now=DUE)}
    assert rows["untouched"].best_score is None


def test_a_full_score_marks_the_exercise_done(course, user):
    exercise = make_exercise(course)
    submit(exercise, user, RIGHT)
    (row,) = exercise_rows_for_user(course=course, user=user, now=DUE)
    assert row.exercise == exercise and row.best_score == 1.0 and row.status == "solved"


# --- malformed answers -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "answer",
    [{}, {"choices": ["zzz"]}, {"choices": []}, {"choices": 3}, ["b"], "b", None, {"choices": ["b"], "extra": 1}],
    ids=["empty", "unknown-id", "none-chosen", "number", "list", "string", "null", "extra-field"],
)
def test_a_malformed_answer_raises_answer_error_and_records_nothing(course, user, answer):
    exercise = make_exercise(course, max_attempts=1)
    with pytest.raises(AnswerError) as error:
        submit(exercise, user, answer)
    assert set(error.value.message) == {"fr", "en"} and all(error.value.message.values())
    assert attempts(exercise, user) == []
    # The allowance is intact: the one attempt is still there to spend.
    assert submit(exercise, user, RIGHT).number == 1
