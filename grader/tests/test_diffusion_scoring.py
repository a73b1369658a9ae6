"""The fewest-steps exercise gives full marks at the measured knee, not at one lucky step, and
its feedback never names the knee; the knee rule of ``judge_measure`` on measured-like curves."""
from __future__ import annotations

import re

import pytest

from grader.diffusion.judge_measure import knee, wilson_lower
from grader.diffusion.scoring import knee_steps, score_generation

# The thresholds of the built-in exercise (exercises/seed/.../39-diffusion-fewest-steps.yaml).
THRESHOLDS = [[1, 0.5], [2, 1.0], [5, 0.8], [20, 0.6], [100, 0.4]]
APPLE = (0, 0)  # pomme rouge


def _seen(fruit: int, colour: int) -> dict:
    return {"fruit": fruit, "colour": colour, "fruit_confidence": 0.9, "colour_confidence": 0.99}


def _grade(steps: int, recognition: dict | None = None):
    return score_generation(mode="fewest_steps", target=APPLE, recognition=recognition or _seen(*APPLE),
                            steps=steps, steps_thresholds=THRESHOLDS)


def test_full_marks_only_at_the_knee_not_at_one_lucky_step():
    assert knee_steps(THRESHOLDS) == 2
    one = _grade(1)
    assert one.score == 0.5 and not one.correct
    assert "chance" in one.feedback["fr"] and "luck" in one.feedback["en"]
    two = _grade(2)
    assert two.score == 1.0 and two.correct
    ten = _grade(10)
    assert ten.score == 0.6 and "Moins d'étapes" in ten.feedback["fr"]
    assert _grade(2, _seen(3, 0)).score == 0  # a red lemon is not a red apple, whatever the steps


@pytest.mark.parametrize("steps", [1, 3, 10, 50])
def test_the_feedback_never_names_the_knee(steps):
    feedback = _grade(steps).feedback
    assert not re.search(r"\b2 (étapes|steps)\b", feedback["fr"] + feedback["en"]), feedback


def test_the_knee_needs_a_high_rate_and_enough_samples():
    # The measured « pomme rouge » curve: 50/96 at 1 step, 95/96 at 2, 96/96 from 3 on.
    curve = [{"steps": 1, "recognised": 50 / 96, "recognised_count": 50, "samples": 96},
             {"steps": 2, "recognised": 95 / 96, "recognised_count": 95, "samples": 96},
             {"steps": 3, "recognised": 1.0, "recognised_count": 96, "samples": 96}]
    assert knee(curve) == 2
    # 4 out of 4 is a high rate but proves little: the Wilson bound keeps it from being the knee.
    lucky = [{"steps": 1, "recognised": 1.0, "recognised_count": 4, "samples": 4}, *curve[1:]]
    assert wilson_lower(4, 4) < 0.9 and knee(lucky) == 2
    assert knee(curve[:1]) is None
    assert wilson_lower(96, 96) == pytest.approx(0.9616, abs=1e-3)
