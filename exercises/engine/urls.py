from django.urls import path

from . import views

urlpatterns = [
    path("exercises/<int:exercise_id>/answer/", views.exercise_answer, name="answer"),
    path("me/results/", views.my_results, name="my_results"),
]
