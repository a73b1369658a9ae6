from django.urls import path

from . import views

app_name = "lti"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("launch/", views.LaunchView.as_view(), name="launch"),
    path("jwks/", views.jwks, name="jwks"),
    path("deep-link/", views.deep_link_choose, name="deep_link_choose"),
    path("courses/<slug:slug>/scores/", views.course_scores, name="scores"),
    path("courses/<slug:slug>/scores/<int:sync_id>/resend/", views.score_resend, name="score_resend"),
    path("courses/<slug:slug>/contexts/<int:link_id>/", views.roster_sync, name="context"),
]
