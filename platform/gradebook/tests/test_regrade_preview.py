"""A regrade is previewed (old → new per student) before a teacher confirms it, and the
preview saves nothing."""
import pytest

from exercises.engine.services import attempt_submit
from exercises.models import Attempt, Exercise
from gradebook.models import AuditLog
from gradebook.services import grade_override
from tests.factories import logged_in, right_answer, student, teacher

pytestmark = pytest.mark.django_db


def _buggy_key(course):
    exercise = Exercise.objects.get(course=course, slug="output-size-224-chain")
    alice, bob, carol = (student(course, username=n) for n in ("alice", "bob", "carol"))
    right = attempt_submit(exercise=exercise, user=alice, answer=right_answer(exercise, alice))
    attempt_submit(exercise=exercise, user=bob, answer={"shape": [1, 1, 1]})
    carol_right = attempt_submit(exercise=exercise, user=carol, answer=right_answer(exercise, carol))
    # A buggy key had marked alice's and carol's right answers wrong.
    Attempt.objects.filter(pk__in=[right.pk, carol_right.pk]).update(raw_score=0, score=0, correct=False)
    return exercise, right


def test_the_preview_shows_old_and_new_grades_and_saves_nothing(course):
    exercise, right = _buggy_key(course)
    t = teacher(course)
    grade_override(exercise=exercise, student=exercise.course.enrollments.get(user__username="carol").user,
                   score=0.5, comment="oral", actor=t)
    client = logged_in(t)
    url = f"/teach/cnn-diffusion/exercises/{exercise.pk}/regrade/"
    page = client.get(url).content.decode()
    assert 'id="regrade-preview"' in page and 'id="confirm-regrade"' in page
    preview = {s["username"]: s for s in client.get(f"/api/v1/exercises/{exercise.pk}/regrade/preview").json()["students"]}
    assert preview["alice"]["old"] == 0 and preview["alice"]["new"] == 1 and preview["alice"]["changed"] == 1
    assert preview["bob"]["old"] == preview["bob"]["new"] == 0 and preview["bob"]["changed"] == 0
    assert preview["carol"]["overridden"] and preview["carol"]["new"] == 0.5  # the override stays the grade
    right.refresh_from_db()
    assert right.score == 0 and not AuditLog.objects.filter(action="regrade").exists()  # nothing saved

    # A post without the confirmation does nothing; with it, the regrade is applied and audited.
    client.post(url)
    right.refresh_from_db()
    assert right.score == 0
    client.post(url, {"confirm": "1"})
    right.refresh_from_db()
    assert right.score == 1
    entry = AuditLog.objects.get(action="regrade")
    assert entry.old[str(right.pk)] == 0 and entry.new[str(right.pk)] == 1
