from django.contrib import admin

from .models import Course, Enrollment


class EnrollmentInline(admin.TabularInline):
    model = Enrollment
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ("slug", "title", "language", "join_code", "device_seconds_per_day")
    search_fields = ("slug",)
    inlines = [EnrollmentInline]
