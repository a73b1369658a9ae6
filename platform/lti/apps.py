from django.apps import AppConfig


class LtiConfig(AppConfig):
    name = "lti"
    label = "lti"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "LTI 1.3"

    def ready(self) -> None:
        # Every grade change (an attempt, an override, a regrade) asks for a passback.
        from . import signals  # noqa: F401
