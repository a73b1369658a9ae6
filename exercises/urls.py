"""The exercise pages (namespace ``exercises``): the subpackages' patterns under one namespace,
so every URL name stays what it was. The authoring pages have their own (``authoring.urls``)."""
from django.urls import path

from . import grading
from .engine.urls import urlpatterns as engine_urls
from .lab.urls import urlpatterns as lab_urls
from .submissions.urls import urlpatterns as submission_urls

app_name = "exercises"
urlpatterns = [
    path("exercises/<int:exercise_id>/", grading.exercise_detail, name="detail"),
    *engine_urls,
    *submission_urls,
    *lab_urls,
]
