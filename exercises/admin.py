from django.contrib import admin

from .models import Attempt, Exercise


@admin.register(Exercise)
class ExerciseAdmin(admin.ModelAdmin):
    list_display = ("slug", "course", "type", "position", "max_attempts", "due_at", "published")
    list_filter = ("course", "type", "published")
    search_fields = ("slug",)


@admin.register(Attempt)
class AttemptAdmin(admin.ModelAdmin):
    list_display = ("exercise", "user", "number", "score", "correct", "late", "created_at")
    list_filter = ("exercise__course", "correct", "late")
    readonly_fields = [f.name for f in Attempt._meta.fields]
