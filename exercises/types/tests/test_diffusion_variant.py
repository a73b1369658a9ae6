"""The fewest-steps exercise's thresholds are the answer to find: never in what a student sees."""
from __future__ import annotations

import numpy as np

from exercises.types import get_type


def test_the_steps_thresholds_stay_private_but_still_grade():
    diffusion = get_type("diffusion")
    params = {"mode": "fewest_steps", "targets": ["pomme rouge"],
              "steps_thresholds": [[1, 0.5], [2, 1.0], [5, 0.8], [100, 0.4]]}
    variant = diffusion.generate(params, np.random.default_rng(0))
    public = diffusion.public_variant(variant)
    assert "steps_thresholds" not in repr(public) and "_steps_thresholds" not in public
    seen = {"fruit": variant["target"]["fruit"], "colour": variant["target"]["colour"],
            "caption": variant["target"]["caption"], "fruit_confidence": 0.99, "colour_confidence": 0.98}
    assert diffusion.grade_generation(variant, recognition=seen, steps=2).score == 1.0
    assert diffusion.grade_generation(variant, recognition=seen, steps=1).score == 0.5
