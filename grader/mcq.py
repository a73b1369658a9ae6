"""Grading of multiple-choice questions."""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from grader.result import GradeResult, I18nText, i18n
from grader.text import join_lines


def grade_mcq(*, correct_ids: Collection[str], chosen_ids: Sequence[str], multiple: bool,
              feedback_by_id: Mapping[str, I18nText],
              text_by_id: Mapping[str, I18nText] | None = None,
              weight_by_id: Mapping[str, float] | None = None) -> GradeResult:
    """Single answer: 1 or 0. Several: max(0, (right picks - wrong picks) / number right).

    With weights (Moodle's partial credit, GIFT ``~%50%``), a choice is worth its weight in
    [-1, 1]: a single answer scores the weight of the pick, several the sum of the picks'
    weights, clipped to [0, 1].

    The feedback quotes the teacher's comment on each ticked choice; it never names the
    right choices the student missed, so a wrong answer does not hand over the key.
    """
    correct, chosen = set(correct_ids), list(chosen_ids)
    right = [choice for choice in chosen if choice in correct]
    wrong = [choice for choice in chosen if choice not in correct]
    missed = len(correct) - len(right)
    if weight_by_id:
        picked = [weight_by_id.get(choice, 1.0 if choice in correct else 0.0) for choice in chosen]
        total = sum(picked) if multiple else (picked[0] if len(picked) == 1 else 0.0)
        score = min(1.0, max(0.0, total))
    elif multiple:
        score = max(0.0, (len(right) - len(wrong)) / len(correct))
    else:
        score = 1.0 if len(chosen) == 1 and not wrong else 0.0
    is_correct = set(chosen) == correct or (bool(weight_by_id) and score >= 0.999)
    headline = _headline(is_correct=is_correct, multiple=multiple, right=len(right),
                         wrong=len(wrong), missed=missed)
    lines = [headline]
    for choice in chosen:
        comment = feedback_by_id.get(choice)
        if comment is None:
            continue
        if text_by_id and choice in text_by_id:
            text = text_by_id[choice]
            lines.append(i18n(f"« {text['fr']} » : {comment['fr']}",
                              f"“{text['en']}”: {comment['en']}"))
        else:
            lines.append(comment)
    # The teacher's comments on the ticked choices are the diagnosis: they speak of what the
    # student chose, never of the choices missed.
    return GradeResult(score=score, correct=is_correct, feedback=join_lines(lines),
                       details={"right": len(right), "wrong": len(wrong), "missed": missed,
                                "hint": join_lines(lines)})


def _headline(*, is_correct: bool, multiple: bool, right: int, wrong: int,
              missed: int) -> I18nText:
    if is_correct:
        return i18n("Bonne réponse.", "Correct.")
    if not multiple:
        return i18n("Ce n'est pas la bonne réponse.", "That is not the right answer.")
    parts_fr, parts_en = [], []
    for count, words_fr, words_en in (
            (right, "bonne réponse cochée", "right answer{} ticked"),
            (wrong, "réponse fausse cochée", "wrong answer{} ticked"),
            (missed, "bonne réponse oubliée", "right answer{} missed")):
        if count:
            plural = "s" if count > 1 else ""
            parts_fr.append(f"{count} " + " ".join(word + plural for word in words_fr.split()))
            parts_en.append(f"{count} " + words_en.format(plural))
    return i18n("Pas tout à fait : " + ", ".join(parts_fr) + ".",
                "Not quite: " + ", ".join(parts_en) + ".")
