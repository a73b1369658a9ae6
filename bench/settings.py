"""The test settings, with the benchmarks' baseline view mounted (``bench.urls``).

Used by ``bench.instant_answer`` and the gunicorn servers of ``bench.load``; the product's
settings never name ``bench``.
"""
from config.settings.test import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
