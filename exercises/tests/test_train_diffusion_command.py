"""``manage.py train_diffusion`` trains for real: a tiny run, stopped, resumed and exported."""
from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.keras


def _run(tmp_path, **extra) -> str:
    out = io.StringIO()
    call_command("train_diffusion", out=tmp_path / "run", steps=3, batch=4, images=64, warmup=1,
                 checkpoint_every=1, no_progress=True, stdout=out, **extra)
    return out.getvalue()


def test_train_stop_resume_export(tmp_path):
    import numpy as np

    from grader.diffusion.model import build_unet

    first = _run(tmp_path, max_seconds=0)  # stops cleanly after its first step
    assert "stopped at step 1" in first and "trained 1 of 3 steps" in first
    state = json.loads((tmp_path / "run" / "checkpoint" / "state.json").read_text())
    assert state["step"] == 1

    second = _run(tmp_path, export=tmp_path / "weights")
    assert "resumed from step 1" in second and "trained 3 of 3 steps" in second
    card = json.loads((tmp_path / "weights" / "unet.json").read_text())
    assert card["steps_done"] == 3 and card["config"]["seed"] == 0

    model = build_unet()
    model.load_weights(tmp_path / "weights" / "unet.weights.h5")
    v = model.predict_on_batch([np.zeros((1, 32, 32, 3), "float32"), np.ones((1, 1), "float32"),
                                np.array([[3, 9, 0, 0]], "int32")])
    assert np.isfinite(np.asarray(v)).all()

    with pytest.raises(SystemExit, match="other settings"):
        call_command("train_diffusion", out=tmp_path / "run", steps=5, batch=4, images=64, warmup=1,
                     checkpoint_every=1, no_progress=True, stdout=io.StringIO())
