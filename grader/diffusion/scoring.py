"""How a diffusion exercise scores a generation, from what the judging classifier saw.

Pure functions (no Keras): the worker runs the classifier, these turn its reading into a grade.

- ``target``: the image must show the target fruit in the target colour. Both right: 1; one
  of the two: ½; neither: 0.
- ``fewest_steps``: the image must be recognised as the target, and the fewer sampling steps
  it took the better: the grade is the one of the first ``[max_steps, grade]`` threshold the
  number of steps fits under. Not recognised: 0, whatever the steps. The thresholds put full
  marks at the *knee* of the measured recognition curve (``knee_steps``: the fewest steps
  recognised for practically every seed, see docs/diffusion.md); fewer steps than the knee
  may still be recognised for a lucky seed, and score less. The feedback never names the
  knee: finding it is the exercise.
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
    knee = knee_steps(steps_thresholds)
    fr = f"Reconnue en {steps} étape{'s' if steps > 1 else ''} : {seen_fr}"
    en = f"Recognised in {steps} step{'s' if steps > 1 else ''}: {seen_en}"
    if knee is not None and steps < knee:
        fr += (" Mais à si peu d'étapes, le modèle ne dessine qu'une forme moyenne, reconnue pour une "
               "partie des graines seulement : cette image tient de la chance. Essayez d'autres graines, "
               "puis cherchez le nombre d'étapes qui marche à coup sûr.")
        en += (" But at so few steps the model only draws an average shape, recognised for some seeds "
               "only: this picture is luck. Try other seeds, then look for the number of steps that "
               "works every time.")
    elif score < 1:
        fr += " Moins d'étapes donneraient une meilleure note : essayez d'en retirer."
        en += " Fewer steps would score more: try removing some."
    return GradeResult(score=score, correct=score >= 0.999, feedback=i18n(fr, en), details=details)


def knee_steps(steps_thresholds: Sequence[Sequence[float]]) -> int | None:
    """The fewest steps that get the best grade of the thresholds (the knee they encode)."""
    if not steps_thresholds:
        return None
    best = max(float(grade) for _, grade in steps_thresholds)
    return int(min(float(steps) for steps, grade in steps_thresholds if float(grade) == best))


def describe(recognition: Mapping[str, Any]) -> dict:
    """The classifier's reading alone (the free lab has nothing to grade)."""
    return i18n(*_seen(recognition))
