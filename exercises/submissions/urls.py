from django.urls import path

from . import views

urlpatterns = [
    path("exercises/<int:exercise_id>/submissions/", views.submission_upload, name="submit"),
    path("exercises/<int:exercise_id>/test-set/", views.hidden_test_set_upload_view, name="test_set_upload"),
    path("exercises/<int:exercise_id>/leaderboard/", views.exercise_leaderboard, name="leaderboard"),
    path("exercises/<int:exercise_id>/starter.ipynb", views.starter_notebook, name="starter"),
    path("exercises/<int:exercise_id>/backbone.keras", views.backbone_download, name="backbone"),
    path("submissions/<int:submission_id>/", views.submission_status, name="submission"),
    path("submissions/<int:submission_id>/confusion.png", views.submission_confusion, name="submission_confusion"),
    path("submissions/<int:submission_id>/confusion-public.png", views.submission_confusion, {"split": "public"},
         name="submission_confusion_public"),
]
