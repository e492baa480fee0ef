from django.apps import AppConfig
from django.core import checks


class PhoenixDbConfig(AppConfig):
    name = "phoenix.db"
    label = "phoenix_db"
    verbose_name = "Database routing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        checks.register(check_backends, checks.Tags.database)


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
