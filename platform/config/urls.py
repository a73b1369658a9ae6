from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from .api import api
from .views import healthz

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="courses:list", permanent=False)),
    path("accounts/", include("accounts.urls")),
    path("courses/", include("courses.urls")),
    path("", include("exercises.urls")),
    path("teach/", include("gradebook.urls")),
    path("author/", include("exercises.authoring.urls")),
    path("lti/", include("lti.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", api.urls),
]

handler500 = "config.views.server_error"

admin.site.site_header = "Stride"
admin.site.site_title = "Stride"

