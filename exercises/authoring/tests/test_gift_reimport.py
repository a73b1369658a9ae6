"""Importing the same GIFT file twice changes nothing; an edited file updates its questions in
place; new questions arrive hidden; partial-credit weights are kept and scored."""
import pytest
from django.core.management import call_command

from exercises.authoring.gift import gift_import
from exercises.engine.services import attempt_submit
from exercises.engine.variants import variant_generate
from exercises.models import Exercise
from tests.factories import CourseFactory, admin, logged_in, student

pytestmark = pytest.mark.django_db

QUIZ = """::Pooling:: What does 2×2 max pooling do to a 32×32 map? {=16×16 ~%50%16×16 with the same channels ~32×32}

::Kernels:: Which kernels detect edges? {~%50%Sobel ~%50%Laplacian ~%-100%Box blur}
"""


def test_reimporting_the_same_file_changes_nothing_and_new_questions_are_hidden():
    course = CourseFactory()
    first = gift_import(course=course, text=QUIZ)
    assert len(first.added) == 2 and not first.changed
    assert Exercise.objects.filter(course=course).count() == 2
    assert not any(e.published for e in first.exercises)  # hidden until published

    dry = gift_import(course=course, text=QUIZ, dry_run=True)
    assert (len(dry.added), len(dry.changed), len(dry.unchanged)) == (0, 0, 2)
    again = gift_import(course=course, text=QUIZ)
    assert not again.added and Exercise.objects.filter(course=course).count() == 2

    # The teacher published one; an edited file updates it in place and keeps it published.
    pooling = Exercise.objects.get(course=course, import_key="gift:pooling")
    pooling.published = True
    pooling.save()
    edited = QUIZ.replace("~32×32", "~32×32 ~8×8") + "\n::New one:: Two plus two? {=4 ~5}\n"
    preview = gift_import(course=course, text=edited, dry_run=True)
    assert (preview.added, preview.changed) == (["New one"], ["Pooling"])
    assert Exercise.objects.filter(course=course).count() == 2  # the dry run saved nothing
    gift_import(course=course, text=edited)
    pooling.refresh_from_db()
    assert pooling.published and len(pooling.params["choices"]) == 4
    assert Exercise.objects.filter(course=course).count() == 3
    assert not Exercise.objects.get(course=course, import_key="gift:new-one").published


def test_partial_credit_weights_are_kept_and_scored():
    course = CourseFactory()
    report = gift_import(course=course, text=QUIZ)
    pooling, kernels = sorted(report.exercises, key=lambda e: e.position)
    assert not pooling.params["multiple"] and [c["weight"] for c in pooling.params["choices"]] == [1.0, 0.5, 0.0]
    assert kernels.params["multiple"] and [c["weight"] for c in kernels.params["choices"]] == [0.5, 0.5, -1.0]
    user = student(course)
    by_text = {c["text"]["en"]: c["id"] for c in pooling.params["choices"]}
    half = attempt_submit(exercise=pooling, user=user, answer={"choices": [by_text["16×16 with the same channels"]]})
    assert half.raw_score == pytest.approx(0.5) and not half.correct
    ids = {c["text"]["en"]: c["id"] for c in kernels.params["choices"]}
    assert attempt_submit(exercise=kernels, user=user, answer={"choices": [ids["Sobel"]]}).raw_score == pytest.approx(0.5)
    both = attempt_submit(exercise=kernels, user=user, answer={"choices": [ids["Sobel"], ids["Laplacian"]]})
    assert both.raw_score == pytest.approx(1.0) and both.correct
    blur = attempt_submit(exercise=kernels, user=user, answer={"choices": [ids["Sobel"], ids["Box blur"]]})
    assert blur.raw_score == 0
    # The weights never reach the student's variant.
    Exercise.objects.filter(pk=kernels.pk).update(published=True)
    assert "_weights" in variant_generate(exercise=kernels, user_id=user.pk)
    page = logged_in(user).get(f"/api/v1/exercises/{kernels.pk}").json()
    assert "weight" not in str(page["variant"])


def test_the_web_import_previews_then_applies_and_the_command_is_idempotent(tmp_path, capsys):
    from django.core.files.uploadedfile import SimpleUploadedFile

    course = CourseFactory(slug="quiz")
    client = logged_in(admin())
    page = client.post("/author/quiz/gift/", {"gift": SimpleUploadedFile("q.gift", QUIZ.encode())})
    body = page.content.decode()
    assert page.status_code == 200 and 'id="gift-summary"' in body and 'id="apply-gift"' in body
    assert Exercise.objects.filter(course=course).count() == 0  # the preview saved nothing
    client.post("/author/quiz/gift/", {"confirm": "1", "text": QUIZ})
    assert Exercise.objects.filter(course=course).count() == 2
    path = tmp_path / "q.gift"
    path.write_text(QUIZ, encoding="utf-8")
    call_command("import_gift", "quiz", str(path))
    assert "0 added" in capsys.readouterr().out and Exercise.objects.filter(course=course).count() == 2


def test_exercises_are_hidden_reordered_and_deleted_softly():
    course = CourseFactory(slug="c")
    report = gift_import(course=course, text=QUIZ)
    pooling, kernels = sorted(report.exercises, key=lambda e: e.position)
    user = student(course)
    Exercise.objects.filter(pk=pooling.pk).update(published=True)
    attempt = attempt_submit(exercise=pooling, user=user, answer={"choices": ["a"]})
    client = logged_in(admin())
    client.post(f"/author/exercises/{kernels.pk}/manage/", {"action": "publish"})
    client.post(f"/author/exercises/{kernels.pk}/manage/", {"action": "up"})
    order = list(Exercise.objects.filter(course=course).order_by("position").values_list("pk", flat=True))
    assert order == [kernels.pk, pooling.pk]
    client.post(f"/author/exercises/{pooling.pk}/manage/", {"action": "delete"})  # unconfirmed: nothing
    assert Exercise.objects.get(pk=pooling.pk).deleted_at is None
    client.post(f"/author/exercises/{pooling.pk}/manage/", {"action": "delete", "confirm": "1"})
    pooling.refresh_from_db()
    assert pooling.deleted_at and not pooling.published
    assert pooling.attempts.filter(pk=attempt.pk).exists()  # kept for the audit
    assert logged_in(user).get(f"/exercises/{pooling.pk}/").status_code == 404
    assert 'data-slug="pooling"' not in client.get("/author/").content.decode()
    client.post(f"/author/exercises/{kernels.pk}/manage/", {"action": "hide"})
    assert not Exercise.objects.get(pk=kernels.pk).published
