"""The integrity report on real trained models: among 30 honest submissions, a copy with its
layers renamed and a model fine-tuned for one epoch from another are flagged, and no honest
pair is."""
from __future__ import annotations

import numpy as np
import pytest

from grader.datasets import generate
from grader.integrity import (
    architecture_fingerprint,
    error_agreement,
    fingerprint_keras_file,
    generation_pairs,
    integrity_pairs,
    robust_z,
)

pytestmark = pytest.mark.keras

HONEST = 30


def _model(keras, seed: int, *, names: str = ""):
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    return keras.Sequential([
        keras.Input(shape=(32, 32, 3)),
        layers.Rescaling(1 / 255, name=f"{names}scale" if names else None),
        layers.Conv2D(8, 3, strides=2, activation="relu", name=f"{names}conv" if names else None),
        layers.MaxPooling2D(2, name=f"{names}pool" if names else None),
        layers.Flatten(name=f"{names}flat" if names else None),
        layers.Dense(6, activation="softmax", name=f"{names}out" if names else None),
    ])


def _fit(model, x, y, *, epochs: int, seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    return model


@pytest.fixture(scope="module")
def submissions(tmp_path_factory):
    """30 honest models (own seed, own share of the data), a renamed copy of #0 and #1 fine-tuned
    for one epoch, each saved as a .keras file and run on one hidden set."""
    import keras

    folder = tmp_path_factory.mktemp("integrity")
    x, y = generate("shapes32", n=2400, seed=1)
    x_test, y_test = generate("shapes32", n=600, seed=2)
    x, x_test = x.astype("float32"), x_test.astype("float32")
    models = {}
    for k in range(HONEST):
        rng = np.random.default_rng(100 + k)
        part = rng.choice(len(x), 1200, replace=False)
        models[k] = _fit(_model(keras, 100 + k), x[part], y[part], epochs=2, seed=100 + k)
    # A copy of #0 whose every layer has another name (weights set, not trained).
    renamed = _model(keras, 999, names="my_")
    renamed.set_weights(models[0].get_weights())
    models[HONEST] = renamed
    # #1 trained one more epoch on the copier's own data.
    tuned = keras.models.clone_model(models[1])
    tuned.set_weights(models[1].get_weights())
    rng = np.random.default_rng(7)
    part = rng.choice(len(x), 1200, replace=False)
    models[HONEST + 1] = _fit(tuned, x[part], y[part], epochs=1, seed=7)
    predictions, fingerprints = {}, {}
    for key, model in models.items():
        path = folder / f"{key}.keras"
        model.save(path)
        predictions[key] = model.predict(x_test, verbose=0).argmax(axis=1)
        fingerprints[key] = fingerprint_keras_file(path)
    return predictions, fingerprints, y_test


def test_the_planted_pairs_are_flagged_and_no_honest_pair_is(submissions):
    predictions, fingerprints, labels = submissions
    pairs = integrity_pairs(predictions=predictions, labels=labels, fingerprints=fingerprints)
    assert len(pairs) == (HONEST + 2) * (HONEST + 1) // 2
    flagged = {(p.a, p.b): p for p in pairs if p.flagged}
    assert set(flagged) == {(0, HONEST), (1, HONEST + 1)}, [(p.a, p.b, p.reasons) for p in pairs[:5]]
    renamed, tuned = flagged[(0, HONEST)], flagged[(1, HONEST + 1)]
    assert renamed.same_weights and renamed.same_architecture and "same_weights" in renamed.reasons
    assert not tuned.same_weights and "similar_weights" in tuned.reasons and tuned.z_similarity > 6
    honest = [p for p in pairs if p.a < HONEST and p.b < HONEST]
    assert max(abs(p.similarity) for p in honest) < 0.5
    # The z-scores are against the class: the planted pairs stand far above every honest one.
    assert tuned.z_similarity > 3 * max(p.z_similarity for p in honest)


def test_architecture_fingerprint_ignores_names_but_not_settings():
    def config(name, filters):
        return {"config": {"layers": [{"class_name": "Conv2D", "config": {"name": name, "filters": filters}}]}}

    assert architecture_fingerprint(config("a", 8)) == architecture_fingerprint(config("b", 8))
    assert architecture_fingerprint(config("a", 8)) != architecture_fingerprint(config("a", 16))


def test_error_agreement_counts_only_identical_mistakes():
    labels = np.array([0, 1, 2, 3])
    assert error_agreement(np.array([1, 1, 0, 3]), np.array([1, 1, 0, 3]), labels) == (1.0, 2)
    assert error_agreement(np.array([1, 1, 0, 3]), np.array([2, 1, 1, 3]), labels) == (0.0, 0)
    assert error_agreement(labels, labels, labels) == (1.0, 0)


def test_robust_z_is_not_inflated_by_the_outliers_it_finds():
    values = [0.1, 0.12, 0.11, 0.09, 0.1, 0.13, 0.95, 0.97]
    z = robust_z(values)
    assert z[-1] > 20 and abs(z[0]) < 2


def test_generations_with_the_same_prompt_and_seed_by_two_students():
    rows = [(1, 10, "banane verte", 42, 20), (2, 11, "Banane  verte", 42, 20), (3, 12, "banane verte", 43, 20),
            (4, 10, "banane verte", 42, 20)]
    found = generation_pairs(rows)
    assert found == [{"prompt": "banane verte", "seed": 42, "steps": 20, "generations": [1, 2], "users": [10, 11]}]
