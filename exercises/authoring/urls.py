from django.urls import path

from . import views

app_name = "authoring"
urlpatterns = [
    path("", views.author_home, name="home"),
    path("import/", views.course_import_zip, name="import"),
    path("<slug:slug>/export.zip", views.course_export_zip, name="export"),
    path("<slug:slug>/gift/", views.course_import_gift, name="gift"),
    path("<slug:slug>/new/<str:type_name>/", views.exercise_create, name="create"),
    path("exercises/<int:exercise_id>/edit/", views.exercise_edit, name="edit"),
    path("exercises/<int:exercise_id>/preview/", views.exercise_preview, name="preview"),
    path("exercises/<int:exercise_id>/manage/", views.exercise_manage, name="manage"),
]
