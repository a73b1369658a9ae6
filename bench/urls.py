"""The product's URLs plus the benchmarks' own baseline view (``bench.settings`` only)."""
from django.urls import path

from bench.minimal import MINIMAL_URL, minimal_answer
from config.urls import handler500  # noqa: F401 (handler500 is read here)
from config.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    *product_urlpatterns,
    path(MINIMAL_URL.replace("{exercise_id}", "<int:exercise_id>"), minimal_answer, name="bench-minimal-answer"),
]
