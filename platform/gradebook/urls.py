from django.urls import path

from . import views

app_name = "gradebook"
urlpatterns = [
    path("", views.home, name="home"),
    path("<slug:slug>/gradebook/", views.course_gradebook, name="course"),
    path("<slug:slug>/gradebook.csv", views.course_gradebook_csv, name="course_csv"),
    path("<slug:slug>/students/<int:user_id>/", views.student_detail, name="student"),
    path("<slug:slug>/exercises/<int:exercise_id>/stats/", views.exercise_stats, name="exercise_stats"),
    path("<slug:slug>/exercises/<int:exercise_id>/regrade/", views.exercise_regrade_view, name="regrade"),
    path("<slug:slug>/students/<int:user_id>/exercises/<int:exercise_id>/override/", views.override_view, name="override"),
    path("<slug:slug>/students/<int:user_id>/exercises/<int:exercise_id>/extension/", views.extension_view, name="extension"),
    path("<slug:slug>/audit/", views.audit_view, name="audit"),
    path("<slug:slug>/section-weights/", views.section_weights_view, name="section_weights"),
    path("<slug:slug>/exercises/<int:exercise_id>/integrity/", views.integrity_view, name="integrity"),
    path("<slug:slug>/exercises/<int:exercise_id>/submissions.zip", views.submissions_zip, name="submissions_zip"),
]
