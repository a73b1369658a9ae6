from django.urls import path

from . import views

app_name = "gradebook"
urlpatterns = [
    path("", views.home, name="home"),
    path("<slug:slug>/gradebook/", views.course_gradebook, name="course"),
    path("<slug:slug>/gradebook.csv", views.course_gradebook_csv, name="course_csv"),
    path("<slug:slug>/exercises/<int:exercise_id>/regrade/", views.exercise_regrade_view, name="regrade"),
]
