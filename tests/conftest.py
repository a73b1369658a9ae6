import os

import pytest


def redis_url() -> str | None:
    """The Redis the test command found; required in CI."""
    url = os.environ.get("STRIDE_TEST_REDIS_URL")
    if not url and os.environ.get("CI") == "true":
        pytest.fail("CI=true but no Redis URL: run the tests through bin/test or .ci/run")
    return url


@pytest.fixture
def redis_broker_url():
    url = redis_url()
    if not url:
        pytest.skip("Redis is not running here; CI runs this test against it")
    return url
