from django.apps import AppConfig
from django.core import checks


class PhoenixDbConfig(AppConfig):
    name = "phoenix.db"
    label = "phoenix_db"
    verbose_name = "Database routing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        checks.register(check_backends, checks.Tags.database)
        checks.register(check_writer_only_apps)
        from phoenix.publicget import check_public_get_middleware

        checks.register(check_public_get_middleware)


def check_backends(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Warn when a reader is configured but the writer does not use the Phoenix backend.

    Read-your-writes depends on the backend noticing writes; with Django's own MySQL backend
    reads after a write would silently go to the lagging reader.
    """
    from django.conf import settings

    if "reader" not in settings.DATABASES or "phoenix.db.router.ReadWriteRouter" not in settings.DATABASE_ROUTERS:
        return []
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine == "phoenix.db.backends.mysql":
        return []
    return [
        checks.Warning(
            f"DATABASES['default'] uses {engine}: writes will not pin reads to the writer.",
            hint="Use ENGINE 'phoenix.db.backends.mysql' (phoenix/dburl.py does for mysql:// URLs).",
            id="phoenix_db.W001",
        )
    ]


def check_writer_only_apps(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Refuse a WRITER_ONLY_APPS entry that is not the label of an installed app.

    The router compares a model's app label with these names; a package name or a typo matches
    nothing, and that app's reads silently go to the lagging reader.
    """
    from django.apps import apps

    from phoenix.db.router import WRITER_ONLY_APPS

    labels = {config.label for config in apps.get_app_configs()}
    return [
        checks.Error(
            f"phoenix.db.router.WRITER_ONLY_APPS names {name!r}, which is not the label of an installed app.",
            hint=f"Use app labels (AppConfig.label), one of: {', '.join(sorted(labels))}.",
            id="phoenix_db.E001",
        )
        for name in sorted(WRITER_ONLY_APPS - labels)
    ]
