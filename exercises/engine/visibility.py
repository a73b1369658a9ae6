"""THE rule of what a viewer may see of graded work: one function, asked by every page, API
payload, export and picture.

From the viewer's role *in the exercise's course* (never their role elsewhere: a teacher of
course A who joined course B as a student is a student in B):

- the course's teachers and the site's admins see everything, always;
- anyone else (the student who owns the work, a classmate on a leaderboard) sees the **grade**
  (score, correct or not, the grader's feedback, a best score) only from the exercise's
  release date (``grades_visible_at``) on;
- and the **private split** of a model exercise (the accuracy on the whole hidden test set, its
  confusion matrix and picture, the number of test examples, and the grade computed from it)
  only once the grade is released and the due date has passed: Kaggle-style, the public split
  (its accuracy, its own confusion matrix and picture, its size) is all a student sees while
  the competition runs;
- and the **worked solution** (the grader's full feedback, which names the expected answer, and
  the exercise's explanation) under the exercise's feedback policy: at once for a practice
  exercise ("solution at once"), otherwise only once the student has it right, has no attempt
  left, or the due date has passed. Until then a wrong answer shows the grader's diagnosis (the
  rule that was broken), never the answer.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.http import Http404
from django.utils import timezone

from courses.models import Enrollment
from courses.selectors import course_role
from exercises.models import Exercise
from exercises.types import get_type

# What the private split holds in a model submission's metrics. The public split's own
# ("public_accuracy", "public_confusion", "n_public") is what a student sees before the due date.
PRIVATE_METRICS = ("accuracy", "private_accuracy", "confusion", "n_test")


@dataclass(frozen=True)
class Visibility:
    released: bool  # the grader's feedback and whether the work was right
    score: bool  # the score, a best score, a grade (for a model: computed on the whole hidden set)
    private: bool  # a model exercise's private split and whatever is computed from it
    release_at: datetime | None  # when the grade becomes visible, if it is not yet
    solution: bool = False  # the worked solution: full feedback, the explanation

    @property
    def everything(self) -> bool:
        return self.released and self.score and self.private


EVERYTHING = Visibility(released=True, score=True, private=True, release_at=None, solution=True)


@dataclass(frozen=True)
class Progress:
    """Where the student stands on the exercise, which the feedback policy reads."""

    solved: bool  # one of their attempts was right
    attempts_left: int | None  # None: unlimited
    due_at: datetime | None  # their own due date (an extension first)


def visibility_for(*, viewer, exercise: Exercise, role: str | None = None, now: datetime | None = None,
                   progress: Progress | None = None) -> Visibility:
    """What ``viewer`` may see of work on ``exercise``. ``role`` is the viewer's role in the
    exercise's course when the caller already has it (``course_role``); it is looked up otherwise.
    ``progress`` is the viewer's own progress, which the worked solution waits for; without it
    a student is shown no solution (unless the feedback policy gives it at once)."""
    if role is None:
        try:
            role = course_role(user=viewer, course=exercise.course)  # an admin is a teacher of every course
        except Http404:
            role = None  # not in the course: the least that anyone sees
    if role == Enrollment.Role.TEACHER:
        return EVERYTHING
    now = now or timezone.now()
    release = exercise.grades_visible_at
    released = release is None or now >= release
    private = released and (exercise.due_at is None or now > exercise.due_at)
    # A model's grade is computed on the whole hidden set: it waits for the private split.
    score = private if get_type(exercise.type).private_split else released
    solution = released and _solution_open(exercise=exercise, progress=progress, now=now)
    return Visibility(released=released, score=score, private=private, release_at=None if released else release,
                      solution=solution)


def _solution_open(*, exercise: Exercise, progress: Progress | None, now: datetime) -> bool:
    if exercise.feedback_policy == Exercise.FeedbackPolicy.AT_ONCE:
        return True
    due = exercise.due_at if progress is None else progress.due_at
    if due is not None and now > due:
        return True
    return progress is not None and (progress.solved or progress.attempts_left == 0)


GENERIC_WRONG = {"fr": "Ce n'est pas encore la bonne réponse.", "en": "That is not the right answer yet."}


def attempt_feedback(attempt, visibility: Visibility) -> dict[str, str]:
    """The feedback of one attempt as the viewer may read it: the grader's full feedback (the
    worked solution) when the solution is open or the attempt is right, else its diagnosis
    (``details["hint"]``, which every grader fills without the expected answer)."""
    if visibility.solution or attempt.correct:
        return attempt.feedback
    hint = (attempt.details or {}).get("hint")
    return hint if isinstance(hint, dict) and hint else GENERIC_WRONG


def release_sentence(visibility: Visibility) -> dict[str, str]:
    """What a student reads in place of a grade that is not released yet."""
    when = timezone.localtime(visibility.release_at).strftime("%Y-%m-%d %H:%M") if visibility.release_at else ""
    return {"fr": f"Réponse enregistrée. Les résultats seront publiés le {when}.",
            "en": f"Answer recorded. Results will be released on {when}."}


def metrics_for(metrics: dict, visibility: Visibility) -> dict:
    """A model submission's metrics as the viewer may see them."""
    if not visibility.released:
        return {}
    if visibility.private:
        return dict(metrics)
    return {key: value for key, value in metrics.items() if key not in PRIVATE_METRICS}
