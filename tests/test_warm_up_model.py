"""The sandbox's spare warms up on the starter notebook's own layers (TensorFlow builds its
kernels for exact shapes, and most submissions keep the notebook's): the two must not drift."""
from __future__ import annotations

import json

import pytest
from django.core.management import call_command

keras = pytest.importorskip("keras")

from exercises.models import Exercise  # noqa: E402
from exercises.submissions.notebooks import starter_notebook_json  # noqa: E402
from grader.datasets import DATASETS  # noqa: E402
from workers.sandbox_child import warm_up_model  # noqa: E402

pytestmark = pytest.mark.django_db


def _summary(model) -> list[tuple]:
    return [(type(layer).__name__, getattr(layer, "filters", None), getattr(layer, "units", None),
             tuple(layer.output.shape[1:])) for layer in model.layers]


def test_the_spare_warms_up_on_the_starter_notebooks_layers():
    call_command("load_course", verbosity=0)
    exercise = Exercise.objects.get(slug="model-shapes-classifier")
    cells = json.loads(starter_notebook_json(exercise=exercise, base_url="http://stride.test"))["cells"]
    code = next("".join(cell["source"]) for cell in cells
                if "model = keras.Sequential" in "".join(cell["source"]))
    namespace = {"keras": keras}
    exec(code.split("model.compile")[0], namespace)  # the notebook's model, as a student runs it
    spec = DATASETS[exercise.params["dataset"]]
    spare = warm_up_model(tuple(spec.input_shape), len(spec.class_names))
    assert _summary(spare) == _summary(namespace["model"])
    assert _summary(spare)[1][:2] == ("Conv2D", 16)  # not an empty comparison
