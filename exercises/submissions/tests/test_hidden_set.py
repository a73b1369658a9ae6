"""The hidden test set cannot be rebuilt from the public generator and the course YAML: its
seed, and its split's, are HMACs under a server secret (STRIDE_HIDDEN_SET_KEY)."""
from __future__ import annotations

import numpy as np
import pytest

from exercises.models import Exercise
from exercises.submissions.datasets import hidden_test_set
from grader.datasets import DATASETS, generate
from tests.factories import CourseFactory

pytestmark = pytest.mark.django_db
PARAMS = {"dataset": "shapes32", "test_size": 300, "test_seed": 2_000_003}


@pytest.fixture
def exercise(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return Exercise.objects.create(course=CourseFactory(slug="hidden"), slug="m", type="model",
                                   title_i18n={"fr": "M", "en": "M"}, params=PARAMS)


def test_rebuilding_the_hidden_set_from_the_course_yaml_fails(exercise, settings):
    settings.STRIDE_HIDDEN_SET_KEY = ""  # the default: derived from SECRET_KEY
    x, y, _public = hidden_test_set(exercise=exercise)
    # What an attacker can compute: the public generator with the YAML's seed and size.
    rebuilt_x, rebuilt_y = generate(PARAMS["dataset"], n=PARAMS["test_size"], seed=PARAMS["test_seed"])
    assert x.shape == rebuilt_x.shape and y.shape == rebuilt_y.shape
    assert not np.array_equal(x, rebuilt_x)
    chance = 1 / len(DATASETS[PARAMS["dataset"]].class_names)
    # Labels guessed from the rebuilt set agree with the hidden ones no better than chance.
    assert (rebuilt_y == y).mean() < chance + 0.1, (rebuilt_y == y).mean()
    # The cached file's name does not carry the seed either.
    assert not list((settings.VAR_DIR / "hidden").glob(f"*{PARAMS['test_seed']}*"))


def test_the_set_and_its_split_follow_the_key_and_are_stable_under_it(exercise, settings):
    settings.STRIDE_HIDDEN_SET_KEY = "key-one"
    x1, y1, public1 = hidden_test_set(exercise=exercise)
    again_x, again_y, again_public = hidden_test_set(exercise=exercise)
    assert np.array_equal(x1, again_x) and np.array_equal(y1, again_y) and np.array_equal(public1, again_public)
    settings.STRIDE_HIDDEN_SET_KEY = "key-two"
    x2, y2, public2 = hidden_test_set(exercise=exercise)
    assert not np.array_equal(x1, x2) and not np.array_equal(public1, public2)
    assert public1.sum() == public2.sum() == PARAMS["test_size"] // 2


def test_the_default_key_follows_the_secret_key(exercise, settings):
    settings.STRIDE_HIDDEN_SET_KEY = ""
    settings.SECRET_KEY = "a" * 50
    _x, y1, _ = hidden_test_set(exercise=exercise)
    settings.SECRET_KEY = "b" * 50
    _x, y2, _ = hidden_test_set(exercise=exercise)
    assert not np.array_equal(y1, y2)
