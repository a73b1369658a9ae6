"""What a student sees besides the feedback (issue 14): honest progress with the teacher's
overrides, totals equal to the gradebook's, the leaderboard under pseudonyms, the pictures of
the API opened with the Bearer token, pages in the layout, numbers in HTML attributes, the
diffusion prompt's rules and the model page's inputs."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from exercises.engine.selectors import exercise_rows_for_user
from exercises.engine.services import attempt_submit
from exercises.models import Exercise, Submission
from gradebook.models import GradeOverride
from gradebook.selectors import gradebook_rows
from tests.factories import logged_in, right_answer, student
from tests.test_permissions import World, build_world


@pytest.fixture
def world(db, settings, tmp_path) -> World:
    return build_world(settings, tmp_path)


def wrong_answer(exercise, user) -> dict:
    answer = right_answer(exercise, user)
    if "shape" in answer:
        return {"shape": [answer["shape"][0] + 1, *answer["shape"][1:]]}
    return {"value": answer["value"] + 1}


def test_progress_counts_right_answers_whatever_the_penalties_and_shows_each_state(world):
    owner, ex = world.users["owner"], world.ex
    # Right at the second try with a 50 % retry penalty: solved, with 50 %.
    ex["output_size"].retry_penalty, ex["output_size"].max_attempts = 0.5, 3
    ex["output_size"].save()
    attempt_submit(exercise=ex["output_size"], user=owner, answer=wrong_answer(ex["output_size"], owner))
    attempt_submit(exercise=ex["output_size"], user=owner, answer=right_answer(ex["output_size"], owner))
    # Wrong with no attempt left: "no attempts left", not "started".
    ex["param_count"].max_attempts = 1
    ex["param_count"].save()
    attempt_submit(exercise=ex["param_count"], user=owner, answer=wrong_answer(ex["param_count"], owner))

    page = logged_in(owner).get("/courses/cnn-diffusion/").content.decode()
    rows = {row.exercise.slug: row for row in exercise_rows_for_user(course=world.course, user=owner)}
    best = rows[ex["output_size"].slug].best_score
    assert rows[ex["output_size"].slug].status == "solved" and best < 1  # the penalty took its share
    assert rows[ex["param_count"].slug].status == "exhausted"
    solved = sum(row.status == "solved" for row in rows.values())
    assert solved == 2  # the kernel answered right by build_world, and the output size
    assert f"{solved} exercices résolus sur {len(rows)}" in page

    def row_html(slug):
        return re.search(rf'<tr data-exercise="{slug}">(.*?)</tr>', page, re.S).group(1)

    output_row = row_html(ex["output_size"].slug)
    assert f"{round(best * 100)} %" in output_row and "résolu" in output_row  # the number is shown, not only a bar
    assert "plus de tentative" in row_html(ex["param_count"].slug)
    assert "Taille de sortie" in output_row and "output_size" not in output_row.split('data-label="Type"')[1][:80]


def test_an_override_reaches_the_student_with_its_comment_and_totals_equal_the_gradebook(world):
    owner, teacher, ex = world.users["owner"], world.users["teacher"], world.ex
    attempt_submit(exercise=ex["param_count"], user=owner, answer=wrong_answer(ex["param_count"], owner))
    GradeOverride.objects.create(exercise=ex["param_count"], student=owner, score=0.75, by=teacher,
                                 comment="Raisonnement juste, **erreur de calcul** à la fin.")
    client = logged_in(owner)

    page = client.get(f"/exercises/{ex['param_count'].pk}/").content.decode()
    assert 'id="override"' in page and "75 %" in page and "<strong>erreur de calcul</strong>" in page
    course = client.get("/courses/cnn-diffusion/").content.decode()
    assert "75 %" in re.search(rf'<tr data-exercise="{ex["param_count"].slug}">(.*?)</tr>', course, re.S).group(1)

    results = client.get("/me/results/").content.decode()
    assert "Raisonnement juste" in results
    exercises, rows = gradebook_rows(course=world.course)
    (mine,) = [row for row in rows if row.user == owner]
    points = re.search(r'class="total-points">([^<]+)<', results).group(1)
    assert points.split(" / ")[0].replace(",", ".") == f"{mine.total_points:g}"
    weighted = re.search(r'class="total-weighted">([^<]+)<', results).group(1)
    assert weighted == f"{round(mine.weighted * 100)} %"


def test_the_leaderboard_shows_pseudonyms_to_students_and_usernames_to_teachers(world):
    owner, other, teacher = world.users["owner"], world.users["other"], world.users["teacher"]
    model = world.ex["model"]
    Submission.objects.create(exercise=model, user=other, original_name="m.keras", status="done",
                              metrics={"public_accuracy": 0.95, "private_accuracy": 0.5}, file="x.keras")
    model.due_at = timezone.now() + timedelta(days=3)
    model.save()
    response = logged_in(other).post(f"/exercises/{model.pk}/leaderboard/", {"pseudonym": "Grenouille"})
    assert response.status_code == 302
    taken = logged_in(owner).post(f"/exercises/{model.pk}/leaderboard/", {"pseudonym": "grenouille"}, follow=True)
    assert "déjà pris" in taken.content.decode()

    as_owner = logged_in(owner).get(f"/exercises/{model.pk}/leaderboard/").content.decode()
    assert "Grenouille" in as_owner and "(other)" not in as_owner and ">other<" not in as_owner
    assert "50 %" not in as_owner  # the private split waits for the due date
    board = logged_in(owner).get(f"/api/v1/exercises/{model.pk}/leaderboard").json()
    assert all(row["username"] in (None, "owner") for row in board) and {"Grenouille"} <= {r["name"] for r in board}
    as_teacher = logged_in(teacher).get(f"/exercises/{model.pk}/leaderboard/").content.decode()
    assert "Grenouille" in as_teacher and "(other)" in as_teacher


def test_every_picture_url_of_the_api_opens_with_the_bearer_token(world):
    api = Client(HTTP_AUTHORIZATION=f"Bearer {world.raw_token}")
    body = api.get(f"/api/v1/generations/{world.generation.pk}").json()
    urls = [body["image_url"], *body["trajectory_urls"]]
    assert len(urls) > 1
    for url in urls:
        response = api.get(url)
        assert response.status_code == 200 and response["Content-Type"] == "image/png", url
    wrong = Client(HTTP_AUTHORIZATION="Bearer nope").get(urls[0])
    assert wrong.status_code == 401 and wrong.json()["detail"]
    stranger = Client(HTTP_AUTHORIZATION=f"Bearer {world.raw_token}")
    assert stranger.get(f"/generations/{world.generation.pk + 999}/image.png").status_code == 404
    schema = Client().get("/api/v1/openapi.json").content.decode()
    assert "Bearer &lt;token&gt;" in schema or "Bearer <token>" in schema


def test_submission_and_generation_pages_opened_directly_are_in_the_layout(world):
    client = logged_in(world.users["owner"])
    for url in (f"/submissions/{world.submission.pk}/", f"/generations/{world.generation.pk}/"):
        page = client.get(url).content.decode()
        assert "<nav" in page and 'class="skip-link"' in page and "stride.css" in page, url
        partial = client.get(url, HTTP_HX_REQUEST="true").content.decode()
        assert "<nav" not in partial


def test_numbers_in_html_attributes_are_never_localised(world):
    page = logged_in(world.users["owner"]).get("/courses/cnn-diffusion/lab/").content.decode()
    guidance = re.search(r'<input id="guidance"[^>]*>', page).group(0)
    assert re.search(r'max="10(\.0)?"', guidance) and 'value="3"' in guidance, guidance
    assert not re.search(r'(?:min|max|value|step)="\d+,\d+"', page)


def test_a_prompt_must_name_a_fruit_and_a_colour(world):
    client = logged_in(world.users["owner"])
    # French, the site's language (the switcher's cookie changes it, not Accept-Language).
    for prompt, missing in (("pomme", "il manque une couleur"), ("rouge", "il manque un fruit")):
        response = client.post("/api/v1/courses/cnn-diffusion/generations",
                               {"prompt": prompt, "steps": 5, "seed": 1, "guidance": 3},
                               content_type="application/json")
        assert response.status_code == 422 and missing in response.json()["detail"], response.content


def test_the_model_page_says_what_the_grader_feeds_the_model(world):
    page = logged_in(world.users["owner"]).get(f"/exercises/{world.ex['model'].pk}/").content.decode()
    box = page.split('id="grader-inputs"')[1][:900]
    assert "0 à 255" in box and "float32" in box and "Rescaling" in box


def test_kernel_inputs_and_pictures_are_labelled_for_screen_readers(world):
    client = logged_in(world.users["owner"])
    reconstruct = Exercise.objects.get(slug="kernel-reconstruct-blur")
    page = client.get(f"/exercises/{reconstruct.pk}/").content.decode()
    assert 'aria-label="ligne 1, colonne 2"' in page and 'aria-label="k1"' not in page
    identify = Exercise.objects.get(slug="kernel-identify-laplacian")
    page = client.get(f"/exercises/{identify.pk}/").content.decode()
    assert "<fieldset" in page and "<legend>" in page
    assert re.search(r'role="img" aria-label="ligne 1 : [^"]+; ligne 2', page)
    assert 'id="kernel-effect"' in page and "data:image/png;base64," in page
    assert 'class="skip-link"' in page and 'aria-live="polite"' in page


def test_the_history_shows_answers_in_words(world):
    owner = world.users["owner"]
    identify = Exercise.objects.get(slug="kernel-identify-laplacian")
    answer = right_answer(identify, owner)
    attempt_submit(exercise=identify, user=owner, answer=answer)
    page = logged_in(owner).get(f"/exercises/{identify.pk}/").content.decode()
    history = page.split('class="answer-text">')[1][:200]
    assert '{"choice"' not in page and "&quot;choice&quot;" not in page
    assert "laplacien" in history.lower(), history


def test_a_new_student_sees_not_started(db):
    from django.core.management import call_command

    from courses.models import Course

    call_command("load_course", verbosity=0)
    newcomer = student(Course.objects.get(slug="cnn-diffusion"), username="newcomer")
    page = logged_in(newcomer).get("/courses/cnn-diffusion/").content.decode()
    assert "pas commencé" in page and "0 exercices résolus sur" in page
