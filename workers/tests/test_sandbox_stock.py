"""The stock of warm sandbox children a worker keeps while submissions queue (issue #17).

Real children from the real forkserver, real Keras models: the stock is filled, jobs run back
to back take ready children from it and predict what the model predicts, the surplus is
retired once the queue is gone, and nothing is left behind at shutdown.
"""
import multiprocessing
import os
import time

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

from workers import sandbox  # noqa: E402
from workers import sandbox_child as child  # noqa: E402
from workers.sandbox import run_model_in_sandbox, sandbox_keep_warm, sandbox_shutdown  # noqa: E402

pytestmark = pytest.mark.keras
SHAPE = (16, 16, 1)
CLASSES = 4


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input(SHAPE), keras.layers.Rescaling(1 / 255), keras.layers.Conv2D(4, 3),
                            keras.layers.Flatten(), keras.layers.Dense(CLASSES, activation="softmax")])
    path = tmp_path_factory.mktemp("stock") / "model.keras"
    net.save(path)
    return path, net


def _all_ready(timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sandbox._POOL.lock:
            children = list(sandbox._STOCK) + ([sandbox._POOL.spare] if sandbox._POOL.spare else [])
        if children and all((c.scratch / child.READY_FILE).exists() for c in children):
            return True
        time.sleep(0.05)
    return False


def _settle() -> None:
    for thread in list(sandbox._POOL.threads):
        thread.join(30)


def test_a_queue_gets_ready_children_and_the_surplus_is_retired(model):
    path, net = model
    images = np.random.default_rng(0).uniform(0, 255, (40, *SHAPE)).astype("float32")
    expected = net.predict(images, verbose=0)

    def job():
        result = run_model_in_sandbox(model_path=path, inputs=images, expected_input_shape=SHAPE,
                                      num_classes=CLASSES, max_params=100_000)
        assert result.ok, result.error
        np.testing.assert_allclose(result.predictions, expected, rtol=1e-4, atol=1e-5)

    try:
        job()  # the forkserver and the first spare
        _settle()
        assert sandbox_keep_warm(3) == 3
        assert len(sandbox._STOCK) == 2
        assert _all_ready()
        stocked = {spare.process.pid for spare in sandbox._STOCK}
        for _ in range(3):  # back to back: the main spare forked after a job is not ready yet
            job()
        assert stocked - {spare.process.pid for spare in sandbox._STOCK}, "no job took a stocked child"
        # The queue is gone: one spare, as before; the others are reaped.
        assert sandbox_keep_warm(1) <= 1
        assert sandbox._STOCK == []
        _settle()
        deadline = time.monotonic() + 30
        while len(multiprocessing.active_children()) > 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(multiprocessing.active_children()) <= 1
        job()
    finally:
        sandbox_shutdown()
    assert multiprocessing.active_children() == []
