from django.apps import AppConfig


class GradebookConfig(AppConfig):
    name = "gradebook"
    default_auto_field = "django.db.models.BigAutoField"
