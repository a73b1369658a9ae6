from django.urls import path

from . import views, views_diffusion

app_name = "exercises"
urlpatterns = [
    path("exercises/<int:exercise_id>/", views.exercise_detail, name="detail"),
    path("exercises/<int:exercise_id>/answer/", views.exercise_answer, name="answer"),
    path("exercises/<int:exercise_id>/submissions/", views.submission_upload, name="submit"),
    path("exercises/<int:exercise_id>/test-set/", views.hidden_test_set_upload_view, name="test_set_upload"),
    path("exercises/<int:exercise_id>/leaderboard/", views.exercise_leaderboard, name="leaderboard"),
    path("exercises/<int:exercise_id>/starter.ipynb", views.starter_notebook, name="starter"),
    path("exercises/<int:exercise_id>/backbone.keras", views.backbone_download, name="backbone"),
    path("submissions/<int:submission_id>/", views.submission_status, name="submission"),
    path("submissions/<int:submission_id>/confusion.png", views.submission_confusion, name="submission_confusion"),
    path("me/results/", views.my_results, name="my_results"),
    path("exercises/<int:exercise_id>/generations/", views_diffusion.exercise_generate, name="generate"),
    path("courses/<slug:slug>/lab/", views_diffusion.lab, name="lab"),
    path("courses/<slug:slug>/lab/generate/", views_diffusion.lab_generate, name="lab_generate"),
    path("courses/<slug:slug>/generations/", views_diffusion.course_generations, name="course_generations"),
    path("generations/<int:generation_id>/", views_diffusion.generation_status, name="generation"),
    path("generations/<int:generation_id>/<str:kind>.png", views_diffusion.generation_picture, name="generation_picture"),
    path("generations/<int:generation_id>/<str:kind>/<int:index>.png", views_diffusion.generation_frame,
         name="generation_frame"),
]
