"""Deterministic personal variants: the seed comes from (course, exercise, student, variant no).

Slugs rather than primary keys go into the seed, so a course reloaded from its YAML folder,
or moved to another database, gives every student the same numbers again.
"""
from __future__ import annotations

import hashlib

import numpy as np

from exercises.types import get_type


def variant_seed(*, course_slug: str, exercise_slug: str, user_id: int, variant_no: int = 0) -> int:
    key = f"{course_slug}/{exercise_slug}/{user_id}/{variant_no}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")


def variant_generate(*, exercise, user_id: int, variant_no: int = 0) -> dict:
    """The full variant (private keys included) of one student."""
    seed = variant_seed(
        course_slug=exercise.course.slug, exercise_slug=exercise.slug, user_id=user_id, variant_no=variant_no
    )
    return get_type(exercise.type).generate(exercise.params, np.random.default_rng(seed))
