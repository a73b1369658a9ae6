from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from .roles import roles_ensure_groups

        # Groups need the permissions of every app, which exist only after migrate.
        post_migrate.connect(lambda **kw: roles_ensure_groups(), weak=False, dispatch_uid="stride-roles")
