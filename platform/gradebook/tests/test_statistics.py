import math
import xml.etree.ElementTree as ET

import pytest

from gradebook.statistics import (
    attempts_distribution_svg,
    discrimination_index,
    facility_index,
    histogram_counts,
    score_histogram_svg,
)

SVG = "{http://www.w3.org/2000/svg}"


def test_facility_index_is_the_mean_over_the_maximum_in_percent():
    assert facility_index([1, 0, 0.5, 1, 0]) == pytest.approx(50.0)
    assert facility_index([2, 1], max_score=4) == pytest.approx(37.5)
    assert facility_index([]) is None


def test_discrimination_index_by_hand_on_five_students():
    item = [1, 1, 0, 1, 0]
    total = [5, 4, 2, 3, 1]
    # rest of test = total - item = [4, 3, 2, 2, 1]; means: item 0.6, rest 2.4
    # dx = [.4, .4, -.6, .4, -.6]; dy = [1.6, .6, -.4, -.4, -1.4]
    # sxy = .64 + .24 + .24 - .16 + .84 = 1.8; sxx = 1.2; syy = 2.56+.36+.16+.16+1.96 = 5.2
    expected = 1.8 / math.sqrt(1.2 * 5.2)
    assert discrimination_index(item, total) == pytest.approx(expected)
    assert discrimination_index(item, total) == pytest.approx(0.7206, abs=1e-4)


def test_discrimination_index_negative_when_the_weaker_students_succeed():
    assert discrimination_index([0, 0, 1, 1], [9, 8, 2, 1]) < 0


def test_discrimination_index_is_none_when_undefined():
    assert discrimination_index([1, 1, 1], [3, 2, 1]) is None  # constant item
    assert discrimination_index([1, 0, 1], [2, 1, 2]) is None  # constant rest (total - item = 1)
    assert discrimination_index([1], [3]) is None
    assert discrimination_index([], []) is None


def test_histogram_counts_put_one_in_the_last_bin():
    assert histogram_counts([0, 0.05, 0.1, 0.99, 1.0], bins=10) == [2, 1, 0, 0, 0, 0, 0, 0, 0, 2]


@pytest.mark.parametrize("bins", [1, 5, 10])
def test_score_histogram_svg_parses_and_has_one_bar_per_bin(bins):
    svg = score_histogram_svg([0.1, 0.5, 0.5, 1.0], bins=bins, x_label="Score", y_label="Students")
    root = ET.fromstring(svg)
    assert root.tag == SVG + "svg"
    bars = [r for r in root.iter(SVG + "rect") if r.get("class") == "bar"]
    assert len(bars) == bins
    texts = "".join(t.text or "" for t in root.iter(SVG + "text"))
    assert "Score" in texts and "Students" in texts


def test_svg_escapes_its_labels():
    svg = score_histogram_svg([0.3], bins=2, x_label='<script>"x"</script>', y_label="a & b", title="<b>")
    assert "<script>" not in svg and "<b>" not in svg
    root = ET.fromstring(svg)  # still well-formed XML
    assert any(t.text == '<script>"x"</script>' for t in root.iter(SVG + "text"))


def test_attempts_distribution_svg_has_a_bar_per_attempt_count():
    svg = attempts_distribution_svg([1, 1, 2, 4])
    root = ET.fromstring(svg)
    bars = [r for r in root.iter(SVG + "rect") if r.get("class") == "bar"]
    assert len(bars) == 4  # 1, 2, 3, 4 attempts
    assert [b.find(SVG + "title").text for b in bars] == ["1: 2", "2: 1", "3: 0", "4: 1"]
    capped = ET.fromstring(attempts_distribution_svg([1, 30, 12], cap=10))
    titles = [b.find(SVG + "title").text for b in capped.iter(SVG + "rect") if b.get("class") == "bar"]
    assert titles[-1] == "10+: 2"
    ET.fromstring(attempts_distribution_svg([]))  # no student yet: still a valid chart


@pytest.mark.django_db
def test_item_statistics_on_the_first_or_the_best_attempt_and_distractor_counts():
    import pytest as _pytest

    from exercises.models import Attempt, Exercise
    from tests.factories import CourseFactory, logged_in, student, teacher

    course = CourseFactory(slug="stats")
    quiz = Exercise.objects.create(course=course, slug="q", type="mcq", title_i18n={"fr": "Q"}, params={"choices": [
        {"id": "a", "text": {"fr": "Deux", "en": "Two"}, "correct": True},
        {"id": "b", "text": {"fr": "Trois", "en": "Three"}, "correct": False},
        {"id": "c", "text": {"fr": "Quatre", "en": "Four"}, "correct": False}]})
    for name, tries in (("s1", ["b", "a"]), ("s2", ["b", "a"]), ("s3", ["a"]), ("s4", ["c"])):
        user = student(course, username=name)
        for number, choice in enumerate(tries, start=1):
            score = 1.0 if choice == "a" else 0.0
            Attempt.objects.create(exercise=quiz, user=user, number=number, answer={"choices": [choice]},
                                   raw_score=score, score=score, correct=score == 1)
    client = logged_in(teacher(course))
    first = client.get(f"/teach/stats/exercises/{quiz.pk}/stats/")
    best = client.get(f"/teach/stats/exercises/{quiz.pk}/stats/?basis=best")
    assert first.context["facility"] == _pytest.approx(25.0) and best.context["facility"] == _pytest.approx(75.0)
    picked = {c.id: c.picked for c in first.context["choice_counts"]}
    assert picked == {"a": 1, "b": 2, "c": 1}
    assert {c.id: c.picked for c in best.context["choice_counts"]} == {"a": 3, "b": 0, "c": 1}
    assert 'id="distractors"' in first.content.decode() and 'data-choice="b"' in first.content.decode()
