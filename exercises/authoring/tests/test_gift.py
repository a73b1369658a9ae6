import pytest
from django.core.management import CommandError, call_command

from exercises.authoring.gift import GiftError, gift_import, parse_gift
from exercises.engine.services import attempt_submit
from exercises.engine.variants import variant_generate
from exercises.models import Exercise
from exercises.types import get_type
from tests.factories import CourseFactory, student

pytestmark = pytest.mark.django_db

VALID = r"""// A quiz about everything
$CATEGORY: demo

::Capital::[markdown]What is the **capital** of France? {
  =Paris#Yes!
  ~Lyon#No, that is Lyon.
  ~%-50%Nice
}

::Primes::Which numbers are prime? {~%50%2 ~%50%3 ~%-100%4#4 \= 2 × 2}

// true/false with feedback for a wrong then a right answer
1+1\=2 \{really\}\: sure? {T#Look again.#Indeed.}

::Cold::Ice is hot. {FALSE}

::Pi::[html]<p>Value of <b>pi</b>?</p> {#3.14:0.01}

::Range::A number between 1 and 5 {#1..5}

::Weighted::Three, roughly {#=3:0.1#exact =%50%3:1#close}

::Cat::Cat in French? {=chat =%50%minou#cute}

The sun {~sets =rises} in the east.
"""

RIGHT_ANSWERS = {
    "capital": None, "primes": None, "1-1-2-really-sure": None, "cold": None,
    "pi": {"value": "3,14"}, "range": {"value": 4.5}, "weighted": {"value": 3.05},
    "cat": {"text": " CHAT "}, "the-sun-in-the-east": None,
}


def test_parse_every_supported_kind():
    questions = {q.slug: q.data for q in parse_gift(VALID)}
    assert list(questions) == list(RIGHT_ANSWERS)
    capital = questions["capital"]
    assert capital["type"] == "mcq" and capital["title"] == {"fr": "Capital", "en": "Capital"}
    assert capital["statement"]["fr"] == "What is the **capital** of France?"
    assert capital["statement"]["fr"] == capital["statement"]["en"]
    assert [c["correct"] for c in capital["params"]["choices"]] == [True, False, False]
    assert capital["params"]["multiple"] is False
    assert capital["params"]["choices"][1]["feedback"]["en"] == "No, that is Lyon."
    primes = questions["primes"]["params"]
    assert primes["multiple"] is True
    assert [c["correct"] for c in primes["choices"]] == [True, True, False]
    assert primes["choices"][2]["feedback"]["fr"] == "4 = 2 × 2"
    true_false = questions["1-1-2-really-sure"]
    assert true_false["statement"]["fr"] == "1+1=2 {really}: sure?"
    choices = {c["id"]: c for c in true_false["params"]["choices"]}
    assert choices["true"]["correct"] and choices["true"]["feedback"]["en"] == "Indeed."
    assert choices["false"]["feedback"]["en"] == "Look again."
    assert choices["false"]["text"] == {"fr": "Faux", "en": "False"}
    assert [c["correct"] for c in questions["cold"]["params"]["choices"]] == [False, True]
    assert questions["pi"]["statement"]["fr"] == "Value of pi?"
    assert questions["pi"]["params"]["answers"] == [{"value": 3.14, "tolerance": 0.01, "weight": 1.0}]
    assert questions["range"]["params"]["answers"] == [{"value": 3.0, "tolerance": 2.0, "weight": 1.0}]
    assert [a["weight"] for a in questions["weighted"]["params"]["answers"]] == [1.0, 0.5]
    cat = questions["cat"]
    assert cat["type"] == "short_answer"
    assert cat["params"]["answers"][1] == {"text": "minou", "weight": 0.5,
                                           "feedback": {"fr": "cute", "en": "cute"}}
    assert questions["the-sun-in-the-east"]["statement"]["fr"] == "The sun _____ in the east."
    assert all(set(q["policy"]) >= {"max_attempts", "late_policy"} for q in questions.values())


def test_import_then_right_answers_score_one():
    course = CourseFactory()
    Exercise.objects.create(course=course, slug="cat", type="short_answer", position=7,
                            title_i18n={"fr": "x"}, params={"answers": [{"text": "x"}]})
    user = student(course)
    created = gift_import(course=course, text=VALID).exercises
    assert len(created) == 9
    assert [e.position for e in created] == list(range(8, 17))
    slugs = [e.slug for e in created]
    assert "cat-2" in slugs and len(set(slugs)) == 9
    for exercise in created:
        exercise_type = get_type(exercise.type)
        answer = exercise_type.solve(variant_generate(exercise=exercise, user_id=user.pk))
        attempt = attempt_submit(exercise=exercise, user=user, answer=answer)
        assert attempt.raw_score == 1.0 and attempt.correct, exercise.slug
    by_slug = {e.slug: e for e in created}
    for slug, answer in RIGHT_ANSWERS.items():
        if answer is not None:
            slug = "cat-2" if slug == "cat" else slug
            attempt = attempt_submit(exercise=by_slug[slug], user=user, answer=answer)
            assert attempt.raw_score == 1.0, slug
    partial = attempt_submit(exercise=by_slug["weighted"], user=user, answer={"value": 3.8})
    assert partial.raw_score == 0.5 and "close" in partial.feedback["en"]


MALFORMED = """::Fine:: A good one {=a ~b}

::Open:: Unclosed {=a ~b

::NaN:: Not a number {#abc}

::Match:: Pairs {=a -> 1 =b -> 2}

::NoRight:: Nothing right
{~a ~b}

A description without braces

Essay {}
"""


def test_malformed_file_lists_every_line_and_imports_nothing():
    course = CourseFactory()
    before = Exercise.objects.count()
    with pytest.raises(GiftError) as caught:
        gift_import(course=course, text=MALFORMED)
    lines = [line for line, _message in caught.value.errors]
    assert lines == [3, 5, 7, 10, 12, 14]
    messages = dict(caught.value.errors)
    assert "unclosed" in messages[3]
    assert "not a number" in messages[5]
    assert "matching" in messages[7] and "not supported" in messages[7]
    assert "no right answer" in messages[10]
    assert "not supported" in messages[12] and "not supported" in messages[14]
    assert "line 3:" in str(caught.value)
    assert Exercise.objects.count() == before


def test_invalid_params_are_reported_by_line_and_import_nothing():
    course = CourseFactory()
    text = "::Ok:: fine {=a ~b}\n\n::Big:: too many {" + " ".join(
        ["=x"] + [f"~c{i}" for i in range(30)]) + "}\n"
    with pytest.raises(GiftError) as caught:
        gift_import(course=course, text=text)
    assert [line for line, _ in caught.value.errors] == [3]
    assert Exercise.objects.filter(course=course).count() == 0


def test_command_success_and_failure(tmp_path, capsys):
    course = CourseFactory(slug="gift-course")
    good = tmp_path / "quiz.gift"
    good.write_text(VALID, encoding="utf-8")
    call_command("import_gift", "gift-course", str(good))
    assert "course gift-course: 9 questions imported" in capsys.readouterr().out
    assert course.exercises.count() == 9

    bad = tmp_path / "bad.gift"
    bad.write_text(MALFORMED, encoding="utf-8")
    with pytest.raises(CommandError) as caught:
        call_command("import_gift", "gift-course", str(bad))
    for line in (3, 5, 7, 10, 12, 14):
        assert f"line {line}: " in str(caught.value)
    assert course.exercises.count() == 9

    with pytest.raises(CommandError, match="no course"):
        call_command("import_gift", "nope", str(good))
