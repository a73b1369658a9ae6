from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from tests.faults.support import FULL, SUMMARY, RedisServer, site_broker, stop_group


def pytest_terminal_summary(terminalreporter):
    if SUMMARY:
        terminalreporter.section(f"faults ({'full' if FULL else 'CI'} mode)")
        for line in SUMMARY:
            terminalreporter.write_line(line)


def _keras_models(folder: Path) -> dict[str, Path]:
    """Untrained models are enough to grade (they score low, and are graded all the same).

    - ``small``: a small CNN, graded in a fraction of a second;
    - ``slow``: the same budget of parameters, but convolutions on a zero-padded 64×64 image:
      its prediction on the hidden test set takes a couple of seconds, long enough to kill the
      worker or the sandbox in the middle of it, every time.
    """
    import keras

    from grader.datasets import DATASETS

    spec = DATASETS["shapes32"]
    classes = len(spec.class_names)
    keras.utils.set_random_seed(0)
    small = keras.Sequential([
        keras.Input(shape=tuple(spec.input_shape)),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(classes, activation="softmax"),
    ])
    slow = keras.Sequential([
        keras.Input(shape=tuple(spec.input_shape)),
        keras.layers.Rescaling(1 / 255),
        keras.layers.ZeroPadding2D(16),
        *[keras.layers.Conv2D(16, 3, padding="same", activation="relu") for _ in range(2)],
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(classes, activation="softmax"),
    ])
    paths = {}
    for name, model in (("small", small), ("slow", slow)):
        paths[name] = folder / f"{name}.keras"
        model.save(paths[name])
    return paths


@pytest.fixture(scope="session")
def model_files(tmp_path_factory) -> dict[str, Path]:
    return _keras_models(tmp_path_factory.mktemp("fault-models"))


@pytest.fixture
def own_redis(tmp_path, settings):
    """A Redis of this test's own (never the shared one: other runs use it), as the broker of
    the workers this test starts and of this process's Celery app."""
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    try:
        with site_broker(settings, redis.url):
            yield redis
    finally:
        redis.stop()


@pytest.fixture
def worker_factory(settings, tmp_path):
    """Start real Celery workers on the test database and media folder; each is stopped at the
    end with whatever its group left behind."""
    from tests.conftest import database_url_of_test_db
    from tests.procs import celery_worker

    stack = contextlib.ExitStack()
    started = []

    def start(broker_url: str, **extra: str):
        log = tmp_path / f"worker-{len(started) + 1}.log"

        @contextlib.contextmanager
        def managed():
            with celery_worker(broker_url=broker_url, var_dir=Path(settings.VAR_DIR),
                               database_url=database_url_of_test_db(), log=log,
                               DJANGO_MEDIA_ROOT=str(settings.MEDIA_ROOT), **extra) as proc:
                try:
                    yield proc
                finally:
                    stop_group(proc)

        proc = stack.enter_context(managed())
        proc.log_path = log
        started.append(proc)
        return proc

    start.started = started
    with stack:
        yield start
