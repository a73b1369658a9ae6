"""What a student sees, in Debian's chromium: the 14 points of issue 14, each checked where a
student meets it (the page, the keyboard, a phone's width, the notebook's API calls).

Each test builds the permissions suite's world (the built-in course, a student ``owner`` with a
graded model submission and a generation, a classmate, a teacher) and logs in once.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from courses.services import enrollment_set_pseudonym
from exercises.engine.selectors import exercise_rows_for_user
from exercises.engine.services import attempt_submit
from exercises.models import Attempt, Exercise, Generation, Submission
from gradebook.models import GradeOverride
from gradebook.selectors import gradebook_rows
from tests.browser.conftest import login
from tests.factories import PASSWORD, right_answer
from tests.test_permissions import build_world

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(live_server, settings, tmp_path):
    return build_world(settings, tmp_path)


@pytest.fixture
def student_page(page, live_server, world):
    login(page, live_server.url, "owner", PASSWORD)
    return page


def _wrong(exercise, user) -> dict:
    answer = right_answer(exercise, user)
    if "shape" in answer:
        return {"shape": [answer["shape"][0] + 1, *answer["shape"][1:]]}
    if "value" in answer:
        return {"value": answer["value"] + 1}
    if "choices" in answer:
        from exercises.engine.variants import variant_generate

        variant = variant_generate(exercise=exercise, user_id=user.pk)
        return {"choices": [next(c["id"] for c in variant["choices"] if c["id"] not in answer["choices"])]}
    raise AssertionError(answer)


def _answer(page) -> None:
    with page.expect_response(lambda r: "/answer/" in r.url):
        page.click("#submit-btn")
    page.wait_for_selector("#feedback, #answer-error")


def _api(browser, world):
    """A notebook's HTTP client: the Bearer token, no cookie."""
    context = browser.new_context()
    context.set_extra_http_headers({"Authorization": f"Bearer {world.raw_token}"})
    return context


# 1, 2, 3, 14: feedback without the answer, in a live region; one attempt per click; format errors free.
def test_a_wrong_answer_teaches_without_the_answer_and_double_clicks_and_format_errors_cost_nothing(
        student_page, live_server, world, browser):
    page, owner = student_page, world.users["owner"]
    exercise = Exercise.objects.get(slug="output-size-224-chain")  # its output is not its input's shape
    exercise.max_attempts, exercise.retry_penalty = 5, 0.1
    exercise.save()
    h, w, c = right_answer(exercise, owner)["shape"]
    page.goto(f"{live_server.url}/exercises/{exercise.pk}/")

    # 1. A wrong answer with attempts left: a diagnosis, never the shape, no worked solution.
    page.fill("input[name=h]", str(h + 1)), page.fill("input[name=w]", str(w)), page.fill("input[name=c]", str(c))
    _answer(page)
    feedback = page.inner_text("#feedback")
    assert f"({h}, {w}, {c})" not in feedback and "Pas tout à fait" in feedback
    assert page.locator("#explanation").count() == 0 and page.locator("#solution-later").is_visible()
    # 14. ... announced: the feedback is swapped into a polite live region.
    assert page.locator("#result[aria-live=polite] #feedback").count() == 1

    # 2. A double click records one attempt (the form's token; the button is also disabled in flight).
    page.fill("input[name=h]", str(h + 2))
    before = Attempt.objects.filter(exercise=exercise, user=owner).count()
    with page.expect_response(lambda r: "/answer/" in r.url):
        page.dblclick("#submit-btn")
    page.wait_for_timeout(500)  # a second request, if any, would be answered by now
    assert Attempt.objects.filter(exercise=exercise, user=owner).count() == before + 1
    # The same form token replayed (a resent POST) records nothing either.
    token = Attempt.objects.filter(exercise=exercise, user=owner).latest("pk").idempotency_key
    replay = page.request.post(f"{live_server.url}/exercises/{exercise.pk}/answer/", form={
        "answer_token": token, "h": str(h + 3), "w": str(w), "c": str(c),
        "csrfmiddlewaretoken": page.locator("input[name=csrfmiddlewaretoken]").first.input_value()})
    assert replay.ok
    assert Attempt.objects.filter(exercise=exercise, user=owner).count() == before + 1

    # 3. A format error through the page (a missing dimension) is explained and costs nothing ...
    left = page.locator("#attempts-left").inner_text()
    page.fill("input[name=h]", "abc")
    _answer(page)
    assert page.locator("#answer-error").is_visible() and "aucune tentative" in page.inner_text("#answer-error").lower()
    assert page.locator("#attempts-left").inner_text() == left
    # ... and so is a shape of the wrong rank through the API, resent with an Idempotency-Key.
    api = _api(browser, world)
    try:
        url = f"{live_server.url}/api/v1/exercises/{exercise.pk}/attempts"
        bad = api.request.post(url, data={"answer": {"shape": [1, 2]}})
        assert bad.status in (400, 422) and "3" in bad.json()["detail"], bad.text()
        assert Attempt.objects.filter(exercise=exercise, user=owner).count() == before + 1
        first = api.request.post(url, data={"answer": {"shape": [h, w, c]}}, headers={"Idempotency-Key": "nb-1"})
        again = api.request.post(url, data={"answer": {"shape": [h, w, c]}}, headers={"Idempotency-Key": "nb-1"})
        assert first.json()["attempt_id"] == again.json()["attempt_id"] and first.json()["correct"]
        assert Attempt.objects.filter(exercise=exercise, user=owner).count() == before + 2
    finally:
        api.close()
    # Right: now the worked solution (with the student's own numbers) is shown.
    page.reload()
    assert page.locator("#explanation").is_visible()


# 7, 8, 10: honest progress with the numbers, the override and its comment, totals, words not internals.
def test_progress_overrides_and_totals_are_honest_and_readable(student_page, live_server, world):
    page, owner, teacher, ex = student_page, world.users["owner"], world.users["teacher"], world.ex
    ex["output_size"].retry_penalty, ex["output_size"].max_attempts = 0.5, 3
    ex["output_size"].save()
    attempt_submit(exercise=ex["output_size"], user=owner, answer=_wrong(ex["output_size"], owner))
    attempt_submit(exercise=ex["output_size"], user=owner, answer=right_answer(ex["output_size"], owner))
    ex["param_count"].max_attempts = 1
    ex["param_count"].save()
    attempt_submit(exercise=ex["param_count"], user=owner, answer=_wrong(ex["param_count"], owner))
    attempt_submit(exercise=ex["mcq"], user=owner, answer=_wrong(ex["mcq"], owner))
    GradeOverride.objects.create(exercise=ex["mcq"], student=owner, score=0.75, by=teacher,
                                 comment="Bon raisonnement, **une date** à revoir.")

    page.goto(f"{live_server.url}/courses/{world.course.slug}/")
    rows = {row.exercise.slug: row for row in exercise_rows_for_user(course=world.course, user=owner)}
    solved = sum(row.status == "solved" for row in rows.values())
    assert solved >= 2  # the kernel, and the output size whatever the penalty took
    assert page.inner_text("#course-progress").startswith(f"{solved} exercices résolus sur {len(rows)}")

    def row_text(slug):
        return page.locator(f"tr[data-exercise='{slug}']").inner_text()

    output_row = row_text(ex["output_size"].slug)
    best = rows[ex["output_size"].slug].best_score
    assert best < 1 and f"{round(best * 100)} %" in output_row and "résolu" in output_row  # the number is shown
    assert "plus de tentative" in row_text(ex["param_count"].slug)
    assert "75 %" in row_text(ex["mcq"].slug)  # the teacher's override, not the attempt's 0 %
    main = page.inner_text("main")
    assert "param_count" not in main and "output_size" not in main and "**" not in main

    page.goto(f"{live_server.url}/exercises/{ex['mcq'].pk}/")
    override = page.locator("#override")
    assert "75 %" in override.inner_text() and override.locator("strong", has_text="une date").count() == 1
    assert "**" not in page.inner_text("main")

    page.goto(f"{live_server.url}/me/results/")
    assert "Bon raisonnement" in page.inner_text(f"tr[data-exercise='{ex['mcq'].slug}']")
    _, grade_rows = gradebook_rows(course=world.course)
    (mine,) = [row for row in grade_rows if row.user == owner]
    points = page.inner_text(".total-points").split(" / ")[0].replace(",", ".").replace("\u202f", "")
    assert float(points) == pytest.approx(mine.total_points)
    assert page.inner_text(".total-weighted") == f"{round(mine.weighted * 100)} %"


# 10, 14: kernels read in words, choices grouped, a skip link, answers in words in the history.
def test_kernels_choices_and_history_are_read_in_words(student_page, live_server, world):
    page, owner = student_page, world.users["owner"]
    reconstruct = world.ex["kernel"]
    page.goto(f"{live_server.url}/exercises/{reconstruct.pk}/")
    assert page.get_by_label("ligne 2, colonne 3").count() == 1
    assert page.get_by_role("group", name=re.compile("coefficients")).count() == 1
    # The skip link is the first stop of the keyboard and moves the focus to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    identify = Exercise.objects.get(slug="kernel-identify-laplacian")
    answer = right_answer(identify, owner)
    page.goto(f"{live_server.url}/exercises/{identify.pk}/")
    kernel = page.get_by_role("img", name=re.compile(r"^ligne 1 : "))
    assert kernel.count() == 1 and "[[" not in kernel.get_attribute("aria-label")
    effect = page.locator("#kernel-effect")  # identify mode shows what the kernel does too
    assert effect.evaluate("img => img.naturalWidth") > 0
    group = page.get_by_role("group", name="Que fait ce noyau ?")
    assert group.get_by_role("radio").count() >= 3
    group.locator(f"input[value='{answer['choice']}']").check()
    _answer(page)
    history = page.locator(".answer-text").first.inner_text()
    assert "choice" not in history and "{" not in history and history.strip()

    quiz = world.ex["mcq"]
    page.goto(f"{live_server.url}/exercises/{quiz.pk}/")
    choices = page.get_by_role("group").filter(has=page.locator("input[name=choices]"))
    assert choices.count() == 1 and choices.get_by_role("checkbox").count() + choices.get_by_role("radio").count() >= 2
    assert "**" not in page.inner_text("main")


# 4, 5, 6, 12, 13: the model page's inputs, the lab's slider, prompts, the leaderboard, API pictures.
def test_model_page_lab_leaderboard_and_api_pictures(student_page, live_server, world, browser):
    page, other, model = student_page, world.users["other"], world.ex["model"]
    page.goto(f"{live_server.url}/exercises/{model.pk}/")
    inputs = page.locator("#grader-inputs")
    assert inputs.is_visible() and "0 à 255" in inputs.inner_text() and "float32" in inputs.inner_text()

    # 5. The guidance slider's bounds are numbers the browser reads, in French too.
    page.goto(f"{live_server.url}/courses/{world.course.slug}/lab/")
    assert page.locator("#guidance").get_attribute("max") in ("10", "10.0")
    clamped = page.locator("#guidance").evaluate("el => { el.value = '100'; return el.valueAsNumber; }")
    assert clamped == 10
    # 6. A prompt must name a fruit and a colour: refused on the page, nothing queued.
    generations = Generation.objects.count()
    page.fill("#prompt", "pomme")
    page.click("#generate-btn")
    assert "couleur" in page.locator("#generate-error").inner_text()
    assert Generation.objects.count() == generations

    # 12. The leaderboard: pseudonyms, and the public split only before the due date.
    Submission.objects.create(exercise=model, user=other, original_name="m.keras", status="done", score=0.4,
                              metrics={"public_accuracy": 0.95, "private_accuracy": 0.42}, file="x.keras")
    model.due_at = timezone.now() + timedelta(days=2)
    model.save()
    enrollment_set_pseudonym(course=world.course, user=other, pseudonym="Grenouille")
    page.goto(f"{live_server.url}/exercises/{model.pk}/leaderboard/")
    board = page.inner_text("#leaderboard")
    assert "Grenouille" in board and "other" not in board and "42 %" not in board and "95 %" in board
    page.fill("#pseudonym", "Hérisson")
    page.click("#pseudonym-form button[type=submit]")
    page.wait_for_load_state()
    assert "Hérisson" in page.inner_text("#leaderboard.is-you, #leaderboard .is-you")

    # 13. Every picture of a generation opens with the Bearer token alone (a notebook has no cookie).
    api = _api(browser, world)
    try:
        body = api.request.get(f"{live_server.url}/api/v1/generations/{world.generation.pk}").json()
        for url in [body["image_url"], *body["trajectory_urls"]]:
            response = api.request.get(url if url.startswith("http") else live_server.url + url)
            assert response.status == 200 and response.headers["content-type"] == "image/png", url
            assert response.body()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        api.close()


# 9, 11: a phone's width, pages opened directly.
def test_at_390_px_the_tables_fit_and_direct_pages_are_in_the_layout(page, live_server, world):
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, live_server.url, "owner", PASSWORD)
    for url in (f"/courses/{world.course.slug}/", "/me/results/", f"/exercises/{world.ex['kernel'].pk}/"):
        page.goto(live_server.url + url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, url
    page.goto(f"{live_server.url}/courses/{world.course.slug}/")
    row = page.locator(f"tr[data-exercise='{world.ex['kernel'].slug}']")
    for cell in (row.locator(".best-score"), row.locator(".pill")):
        box = cell.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390 and cell.is_visible()

    for url in (f"/submissions/{world.submission.pk}/", f"/generations/{world.generation.pk}/"):
        page.goto(live_server.url + url)
        assert page.locator("nav.nav").count() == 1 and page.locator("a.skip-link").count() == 1, url
        assert page.evaluate("getComputedStyle(document.body).fontFamily") != "Times New Roman"
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, url


# 10, 11, 9: long pages paginated, pictures readable and enlarged on click, no raw internals,
# the viewer's local time, the one-step trajectory as one frame, the architecture report on a phone.
def test_long_pages_pictures_times_and_numbers_read_as_a_student_expects(browser, live_server, world):
    from zoneinfo import ZoneInfo

    from django.core.files.base import ContentFile

    owner, model = world.users["owner"], world.ex["model"]
    report = [{"name": "conv2d", "class_name": "Conv2D", "output_shape": "(30, 30, 16)", "params": 448,
               "formula": {"fr": "(3 × 3 × 3 + 1) × 16 = 448 paramètres : un biais par filtre, des poids par canal",
                           "en": "(3 × 3 × 3 + 1) × 16 = 448 parameters: one bias per filter, weights per channel"}}]
    for i in range(6):
        sub = Submission(exercise=model, user=owner, original_name=f"m{i}.keras", size=8, status="done", score=0.5,
                         metrics={"public_accuracy": 0.6, "private_accuracy": 0.6, "accuracy": 0.6}, report=report,
                         feedback={"fr": "Précision 60,0 %", "en": "Accuracy 60.0%"})
        sub.file.save(f"m{i}.keras", ContentFile(b"PK\x05\x06" + b"\0" * 4))
    one_step = Generation.objects.get(pk=world.generation.pk)  # a copy, taken with one step
    one_step.pk = None
    one_step.steps, one_step.trajectory_steps, one_step.prompt = 1, [0], "pomme rouge"
    one_step.save()

    context = browser.new_context(locale="fr-FR", timezone_id="Pacific/Auckland", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        login(page, live_server.url, "owner", PASSWORD)
        # Seven submissions: five on the first page, the rest one click away.
        page.goto(f"{live_server.url}/exercises/{model.pk}/")
        assert page.locator(".submission").count() == 5
        pager = page.get_by_role("navigation", name="Mes soumissions")
        assert "Page 1 sur 2" in pager.inner_text()
        pager.get_by_role("link", name=re.compile("Plus anciennes")).click()
        page.wait_for_url(re.compile(r"page=2"))
        assert page.locator(".submission").count() == 2
        # The graded card: its time in the viewer's zone, the confusion matrix at its own size.
        card = page.locator(f"#submission-{world.submission.pk}")
        shown = card.locator("time").inner_text()
        local = world.submission.queued_at.astimezone(ZoneInfo("Pacific/Auckland"))
        assert f"{local:%H:%M}" in shown and card.locator("time").get_attribute("title") == "Pacific/Auckland"
        confusion = card.locator("img.confusion")
        confusion.evaluate("img => img.complete || new Promise(done => img.onload = done)")
        natural, width = confusion.evaluate("img => [img.naturalWidth, img.clientWidth]")
        assert width == pytest.approx(natural, abs=1)  # never squeezed to 320 px with unreadable labels
        confusion.click()
        dialog = page.locator("dialog.zoom-dialog")
        assert dialog.is_visible() and dialog.locator("img").get_attribute("alt") == "Matrice de confusion"
        page.keyboard.press("Escape")
        assert not dialog.is_visible()

        # The architecture report at 390 px: one card per layer, nothing runs off the screen.
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{live_server.url}/exercises/{model.pk}/")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        formula = page.locator(".architecture td.formula").first
        assert formula.bounding_box()["width"] > 250  # not one character wide
        page.set_viewport_size({"width": 1280, "height": 900})

        # The notebook writes the budget as a French reader reads it.
        notebook = page.request.get(f"{live_server.url}/exercises/{model.pk}/starter.ipynb").text()
        assert "500,000" not in notebook and "500\\u202f000" in notebook or "500\u202f000" in notebook

        # A one-step generation shows its single frame, not a stretched strip.
        page.goto(f"{live_server.url}/generations/{one_step.pk}/")
        assert page.locator(".single-frame img").count() == 1 and page.locator(".trajectory-figure").count() == 0
        assert page.locator(".single-frame img").bounding_box()["width"] == pytest.approx(160, abs=2)
        page.goto(f"{live_server.url}/generations/{world.generation.pk}/")
        assert page.locator(".trajectory-figure img.trajectory").count() == 1

        # The fewest-steps exercise: no "≤ 1 étapes", and no threshold that gives the answer away.
        fewest = Exercise.objects.get(slug="diffusion-fewest-steps")
        page.goto(f"{live_server.url}/exercises/{fewest.pk}/")
        text = page.inner_text("main")
        assert "≤" not in text and "1 étapes" not in text and page.locator("#steps-rule").is_visible()

        # Layers are numbered from 1 in the table, as the question and the feedback count them.
        layer_ex = world.ex["param_count"]
        page.goto(f"{live_server.url}/exercises/{layer_ex.pk}/")
        numbers = page.locator("table.layers tbody tr td:first-child").all_inner_texts()
        assert numbers[1] == "1" and "0" not in numbers
    finally:
        context.close()
