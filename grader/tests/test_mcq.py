import pytest

from grader.mcq import grade_mcq

FEEDBACK = {
    "a": {"fr": "Oui, a.", "en": "Yes, a."},
    "c": {"fr": "Non, c.", "en": "No, c."},
}
TEXTS = {key: {"fr": f"choix {key}", "en": f"choice {key}"} for key in "abcd"}


def test_single_answer():
    right = grade_mcq(correct_ids=["a"], chosen_ids=["a"], multiple=False, feedback_by_id=FEEDBACK)
    assert right.score == 1.0 and right.correct and "Oui, a." in right.feedback["fr"]
    wrong = grade_mcq(correct_ids=["a"], chosen_ids=["c"], multiple=False, feedback_by_id=FEEDBACK,
                      text_by_id=TEXTS)
    assert wrong.score == 0.0 and not wrong.correct
    assert "« choix c » : Non, c." in wrong.feedback["fr"]
    assert "“choice c”: No, c." in wrong.feedback["en"]
    silent = grade_mcq(correct_ids=["a"], chosen_ids=["b"], multiple=False, feedback_by_id=FEEDBACK)
    assert silent.score == 0.0 and "Oui, a." not in silent.feedback["fr"]


@pytest.mark.parametrize("chosen, score, correct", [
    (["a", "b"], 1.0, True),
    (["b", "a"], 1.0, True),
    (["a"], 0.5, False),
    (["a", "c"], 0.0, False),
    (["a", "b", "c"], 0.5, False),
    (["c", "d"], 0.0, False),
    (["c"], 0.0, False),
])
def test_multiple_answers(chosen, score, correct):
    result = grade_mcq(correct_ids=["a", "b"], chosen_ids=chosen, multiple=True,
                       feedback_by_id=FEEDBACK)
    assert result.score == pytest.approx(score) and result.correct is correct


def test_multiple_feedback_counts_without_naming_missed_answers():
    result = grade_mcq(correct_ids=["a", "b", "d"], chosen_ids=["a", "c"], multiple=True,
                       feedback_by_id=FEEDBACK, text_by_id=TEXTS)
    assert "1 bonne réponse cochée" in result.feedback["fr"]
    assert "1 réponse fausse cochée" in result.feedback["fr"]
    assert "2 bonnes réponses oubliées" in result.feedback["fr"]
    assert "2 right answers missed" in result.feedback["en"]
    assert "choix b" not in result.feedback["fr"] and "choix d" not in result.feedback["fr"]
    assert {key: result.details[key] for key in ("right", "wrong", "missed")} == {
        "right": 1, "wrong": 1, "missed": 2}
    assert result.details["hint"]["fr"].startswith("Pas tout à fait")
