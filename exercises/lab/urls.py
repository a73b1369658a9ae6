from django.urls import path

from . import views

urlpatterns = [
    path("exercises/<int:exercise_id>/generations/", views.exercise_generate, name="generate"),
    path("courses/<slug:slug>/lab/", views.lab, name="lab"),
    path("courses/<slug:slug>/lab/generate/", views.lab_generate, name="lab_generate"),
    path("courses/<slug:slug>/generations/", views.course_generations, name="course_generations"),
    path("generations/<int:generation_id>/", views.generation_status, name="generation"),
    path("generations/<int:generation_id>/<str:kind>.png", views.generation_picture, name="generation_picture"),
    path("generations/<int:generation_id>/<str:kind>/<int:index>.png", views.generation_frame,
         name="generation_frame"),
]
