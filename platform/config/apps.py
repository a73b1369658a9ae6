from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """Holds the project-wide templatetags and the Django glue of the Celery app."""

    name = "config"
    label = "stride_config"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        # Make Stride's Celery app the current one, so web-side .delay() uses its broker.
        import workers  # noqa: F401

        connection_created.connect(sqlite_file_private, dispatch_uid="stride-sqlite-private")


def sqlite_file_private(sender, connection, **kwargs) -> None:
    """The SQLite database (sessions, password hashes, grades) and its WAL files are 0600, even
    when an older Stride created them 0644 or a process started with a wider umask."""
    import os
    import stat

    if connection.vendor != "sqlite" or connection.is_in_memory_db():
        return
    name = str(connection.settings_dict["NAME"])
    for path in (name, f"{name}-wal", f"{name}-shm"):
        try:
            if stat.S_IMODE(os.stat(path).st_mode) & 0o077:
                os.chmod(path, 0o600)
        except FileNotFoundError:
            continue
