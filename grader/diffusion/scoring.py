"""How a diffusion exercise scores a generation, from what the judging classifier saw.

Pure functions (no Keras): the worker runs the classifier, these turn its reading into a grade.

- ``target``: the image must show the target fruit in the target colour. Both right: 1; one
  of the two: ½; neither: 0.
- ``fewest_steps``: the image must be recognised as the target, and the fewer sampling steps
  it took the better: the grade is the one of the first ``[max_steps, grade]`` threshold the
  number of steps fits under. Not recognised: 0, whatever the steps.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from grader.diffusion.vocab import caption
from grader.result import GradeResult, i18n


def _seen(recognition: Mapping[str, Any]) -> tuple[str, str]:
    seen = caption(int(recognition["fruit"]), int(recognition["colour"]))
    confidence = (f"{float(recognition['fruit_confidence']):.0%}",
                  f"{float(recognition['colour_confidence']):.0%}")
    fr = f"Le classifieur voit « {seen} » (fruit à {confidence[0]}, couleur à {confidence[1]})."
    en = f"The classifier sees “{seen}” (fruit {confidence[0]}, colour {confidence[1]} sure)."
    return fr, en


def score_generation(*, mode: str, target: tuple[int, int], recognition: Mapping[str, Any],
                     steps: int, steps_thresholds: Sequence[Sequence[float]] = ()) -> GradeResult:
    fruit_ok = int(recognition["fruit"]) == target[0]
    colour_ok = int(recognition["colour"]) == target[1]
    wanted = caption(*target)
    seen_fr, seen_en = _seen(recognition)
    details = {"fruit_ok": fruit_ok, "colour_ok": colour_ok, "steps": steps}
    if mode == "target":
        score = (fruit_ok + colour_ok) / 2
        if score == 1:
            fr, en = f"Réussi : {seen_fr}", f"Success: {seen_en}"
        else:
            fr = f"{seen_fr} La cible était « {wanted} »."
            en = f"{seen_en} The target was “{wanted}”."
        return GradeResult(score=score, correct=score == 1, feedback=i18n(fr, en), details=details)
    if mode != "fewest_steps":
        raise ValueError(f"unknown diffusion mode {mode!r}")
    if not (fruit_ok and colour_ok):
        return GradeResult(score=0.0, correct=False, details=details, feedback=i18n(
            f"{seen_fr} Ce n'est pas une « {wanted} » reconnaissable : essayez plus d'étapes.",
            f"{seen_en} That is not a recognisable “{wanted}”: try more steps."))
    score = 0.0
    for max_steps, grade in sorted(steps_thresholds):
        if steps <= max_steps:
            score = float(grade)
            break
    best = min((float(t[0]) for t in steps_thresholds), default=steps)
    fr = f"Reconnue en {steps} étape{'s' if steps > 1 else ''} : {seen_fr}"
    en = f"Recognised in {steps} step{'s' if steps > 1 else ''}: {seen_en}"
    if score < 1:
        fr += f" Pour la note maximale, il faut au plus {best:.0f} étape{'s' if best > 1 else ''}."
        en += f" Full marks need at most {best:.0f} step{'s' if best > 1 else ''}."
    return GradeResult(score=score, correct=score >= 0.999, feedback=i18n(fr, en), details=details)


def describe(recognition: Mapping[str, Any]) -> dict:
    """The classifier's reading alone (the free lab has nothing to grade)."""
    return i18n(*_seen(recognition))
