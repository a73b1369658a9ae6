from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from exercises.engine.policy import AttemptRefused
from exercises.engine.services import attempt_submit
from exercises.models import Attempt, Exercise, Submission
from gradebook.models import AuditLog
from tests.factories import PASSWORD, logged_in, right_answer, student, teacher

pytestmark = pytest.mark.django_db


def test_an_extension_moves_one_students_due_date_judged_at_receipt(course):
    exercise = Exercise.objects.get(course=course, slug="output-size-224-chain")
    due = timezone.now() - timedelta(hours=1)
    exercise.due_at, exercise.late_policy = due, Exercise.LatePolicy.CLOSED
    exercise.save()
    alice, bob, t = student(course, username="alice"), student(course, username="bob"), teacher(course)
    response = logged_in(t).post(f"/api/v1/exercises/{exercise.pk}/extensions",
                               {"username": "alice", "due_at": (due + timedelta(days=1)).isoformat()}, content_type="application/json")
    assert response.status_code == 200
    attempt = attempt_submit(exercise=exercise, user=alice, answer=right_answer(exercise, alice))
    assert not attempt.late and attempt.score == 1
    with pytest.raises(AttemptRefused):
        attempt_submit(exercise=exercise, user=bob, answer=right_answer(exercise, bob))
    # Received before the personal due date but graded after it: not late.
    late_ex = Exercise.objects.get(course=course, slug="output-size-max-pooling")
    late_ex.due_at, late_ex.late_policy, late_ex.late_penalty = due, Exercise.LatePolicy.PENALTY, 0.5
    late_ex.save()
    logged_in(t).post(f"/api/v1/exercises/{late_ex.pk}/extensions",
                    {"username": "bob", "due_at": (due + timedelta(minutes=30)).isoformat()}, content_type="application/json")
    on_time = attempt_submit(exercise=late_ex, user=bob, answer=right_answer(late_ex, bob), now=due + timedelta(minutes=29))
    late = attempt_submit(exercise=late_ex, user=bob, answer=right_answer(late_ex, bob), now=due + timedelta(minutes=31))
    assert not on_time.late and late.late and late.score == pytest.approx(0.9 * 0.5)
    assert AuditLog.objects.filter(action="extension", student=alice).exists()


def test_grades_stay_hidden_until_their_release_date(course):
    exercise = Exercise.objects.get(course=course, slug="output-size-224-chain")
    exercise.grades_visible_at = timezone.now() + timedelta(days=2)
    exercise.save()
    alice = student(course, username="alice")
    api = Client()
    token = api.post("/api/v1/auth/token", {"username": "alice", "password": PASSWORD}, content_type="application/json").json()["token"]
    api.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    body = api.post(f"/api/v1/exercises/{exercise.pk}/attempts", {"answer": right_answer(exercise, alice)}, content_type="application/json").json()
    assert body["score"] is None and body["correct"] is None and "2" in body["feedback"]
    listing = {r["slug"]: r for r in api.get("/api/v1/courses/cnn-diffusion/exercises").json()}
    assert listing["output-size-224-chain"]["best_score"] is None
    page = logged_in(alice).get(f"/exercises/{exercise.pk}/").content.decode()
    assert 'id="feedback-hidden"' in page and "100 %" not in page
    assert Attempt.objects.get(exercise=exercise, user=alice).score == 1  # recorded, just not shown
    exercise.grades_visible_at = timezone.now() - timedelta(seconds=1)
    exercise.save()
    listing = {r["slug"]: r for r in api.get("/api/v1/courses/cnn-diffusion/exercises").json()}
    assert listing["output-size-224-chain"]["best_score"] == 1


def test_an_override_needs_a_comment_and_is_audited(course):
    exercise = Exercise.objects.get(course=course, slug="output-size-224-chain")
    alice, t = student(course, username="alice"), teacher(course)
    attempt_submit(exercise=exercise, user=alice, answer={"shape": [1, 1, 1]})
    client = logged_in(t)
    url = f"/api/v1/exercises/{exercise.pk}/overrides"
    refused = client.post(url, {"username": "alice", "score": 0.8, "comment": "  "}, content_type="application/json")
    assert refused.status_code == 400 and "comment" in refused.json()["detail"]
    ok = client.post(url, {"username": "alice", "score": 0.8, "comment": "Right method, typo in H."}, content_type="application/json")
    assert ok.status_code == 200
    row = next(r for r in client.get("/api/v1/courses/cnn-diffusion/gradebook").json()["rows"] if r["username"] == "alice")
    assert row["scores"]["output-size-224-chain"] == pytest.approx(0.8)
    log = client.get("/api/v1/courses/cnn-diffusion/audit").json()
    entry = next(e for e in log if e["action"] == "override")
    assert entry["actor"] == t.username and entry["student"] == "alice"
    assert entry["old"]["score"] == 0 and entry["new"]["score"] == 0.8 and entry["comment"].startswith("Right method")
    # A regrade is audited too, with old → new per changed attempt.
    Attempt.objects.filter(exercise=exercise, user=alice).update(score=0.5)
    client.post(f"/api/v1/exercises/{exercise.pk}/regrade")
    regrade = next(e for e in client.get("/api/v1/courses/cnn-diffusion/audit").json() if e["action"] == "regrade")
    assert list(regrade["old"].values()) == [0.5] and list(regrade["new"].values()) == [0.0]
    # Students see no audit log.
    assert logged_in(alice).get("/api/v1/courses/cnn-diffusion/audit").status_code == 404


def test_override_and_extension_from_the_drill_down_page(course):
    exercise = Exercise.objects.get(course=course, slug="output-size-224-chain")
    alice, t = student(course, username="alice"), teacher(course)
    attempt_submit(exercise=exercise, user=alice, answer={"shape": [1, 1, 1]})
    client = logged_in(t)
    page = client.get(f"/teach/cnn-diffusion/students/{alice.pk}/").content.decode()
    override_url = f"/teach/cnn-diffusion/students/{alice.pk}/exercises/{exercise.pk}/override/"
    assert override_url in page
    client.post(override_url, {"percent": "75", "comment": ""})  # no comment: refused
    assert not AuditLog.objects.filter(action="override").exists()
    client.post(override_url, {"percent": "75", "comment": "Oral exam instead"})
    client.post(f"/teach/cnn-diffusion/students/{alice.pk}/exercises/{exercise.pk}/extension/", {"due_at": "2030-01-01T12:00", "personal": "1"})
    audit = client.get("/teach/cnn-diffusion/audit/").content.decode()
    assert "Oral exam instead" in audit and audit.count("<tr>") >= 3
    assert logged_in(alice).post(override_url, {"percent": "100", "comment": "me"}).status_code == 404
    assert logged_in(alice).get("/teach/cnn-diffusion/audit/").status_code == 404


def _done_submission(exercise, user):
    from django.core.files.base import ContentFile

    from exercises.models import Submission

    sub = Submission(exercise=exercise, user=user, original_name="m.keras", status="done", score=0.85,
                     metrics={"public_accuracy": 0.9, "private_accuracy": 0.88, "accuracy": 0.89, "public_grade": 0.85},
                     feedback={"fr": "Précision 90 %", "en": "Accuracy 90 %"})
    sub.file.save("m.keras", ContentFile(b"PK fake model bytes"), save=False)
    sub.save()
    return sub


def test_model_results_are_hidden_before_release_and_teachers_download_all_files(course):
    import io
    import zipfile

    exercise = Exercise.objects.get(course=course, slug="model-shapes-classifier")
    alice, t = student(course, username="alice"), teacher(course)
    sub = _done_submission(exercise, alice)
    exercise.grades_visible_at = timezone.now() + timedelta(days=1)
    exercise.save()
    body = logged_in(alice).get(f"/api/v1/submissions/{sub.pk}").json()
    assert body["status"] == "done" and body["score"] is None and body["metrics"] == {}
    assert 'id="results-hidden"' in logged_in(alice).get(f"/submissions/{sub.pk}/").content.decode()
    assert logged_in(t).get(f"/api/v1/submissions/{sub.pk}").json()["score"] == 0.85
    # A refused upload has no file (it is deleted at intake): it is left out.
    Submission.objects.create(exercise=exercise, user=alice, original_name="bad.h5", status="rejected", file="")
    bob_sub = _done_submission(exercise, student(course, username="bob"))
    response = logged_in(t).get(f"/teach/cnn-diffusion/exercises/{exercise.pk}/submissions.zip")
    assert response.streaming and response["Content-Type"] == "application/zip"  # never built in memory
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.namelist() == [f"alice/{sub.pk}-done.keras", f"bob/{bob_sub.pk}-done.keras"]
    assert archive.read(f"alice/{sub.pk}-done.keras") == b"PK fake model bytes"
    assert archive.testzip() is None
    assert logged_in(alice).get(f"/teach/cnn-diffusion/exercises/{exercise.pk}/submissions.zip").status_code == 404


def test_gift_upload_from_the_authoring_page(course):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.factories import admin

    client = logged_in(admin())
    before = Exercise.objects.filter(course=course).count()
    good = "::Pi::Combien vaut pi ? {#3.14:0.01}\n\n::Chat::Le chat dort. {T}\n"
    preview = client.post("/author/cnn-diffusion/gift/", {"gift": SimpleUploadedFile("q.gift", good.encode())})
    assert 'id="gift-summary"' in preview.content.decode()  # a dry run first
    assert Exercise.objects.filter(course=course).count() == before
    client.post("/author/cnn-diffusion/gift/", {"confirm": "1", "text": good})
    assert Exercise.objects.filter(course=course).count() == before + 2
    bad = "::A::Question {=oui ~non\n\n::B::Autre {#abc}\n"
    page = client.post("/author/cnn-diffusion/gift/", {"gift": SimpleUploadedFile("bad.gift", bad.encode())}, follow=True).content.decode()
    assert "ligne 1" in page and "ligne 3" in page
    assert Exercise.objects.filter(course=course).count() == before + 2
