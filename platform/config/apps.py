from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """Holds the project-wide templatetags and the Django glue of the Celery app."""

    name = "config"
    label = "stride_config"

    def ready(self) -> None:
        # Make Stride's Celery app the current one, so web-side .delay() uses its broker.
        import workers  # noqa: F401
