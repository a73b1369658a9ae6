"""The LMS registrations in Django's admin: django-lti's page, with Stride's default course and
the tool's URLs to paste into the LMS."""
from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _
from lti_tool.admin import LtiRegistrationAdmin
from lti_tool.models import LtiRegistration

from . import services
from .models import CourseContext, PlatformCourse, ScoreSync


class PlatformCourseInline(admin.StackedInline):
    model = PlatformCourse
    can_delete = False
    max_num = 1


class StrideRegistrationAdmin(LtiRegistrationAdmin):
    inlines = [*LtiRegistrationAdmin.inlines, PlatformCourseInline]
    readonly_fields = ["tool_urls"]

    def get_fieldsets(self, request, obj=None):
        return [*super().get_fieldsets(request, obj), (_("Paste into the LMS"), {"fields": ["tool_urls"]})]

    @admin.display(description=_("Stride's URLs"))
    def tool_urls(self, obj):
        urls = services.tool_urls()
        return format_html_join("", "<div>{}: <code>{}</code></div>", ((k, v) for k, v in urls.items()))

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.tool_key_ensure()


admin.site.unregister(LtiRegistration)
admin.site.register(LtiRegistration, StrideRegistrationAdmin)


@admin.register(CourseContext)
class CourseContextAdmin(admin.ModelAdmin):
    list_display = ["context", "course", "grain", "roster_synced_at"]


@admin.register(ScoreSync)
class ScoreSyncAdmin(admin.ModelAdmin):
    list_display = ["user", "target", "status", "sent_score", "sent_at"]
    list_filter = ["status"]
