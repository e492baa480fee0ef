from django.apps import AppConfig


class PhoenixDbConfig(AppConfig):
    name = "phoenix.db"
    label = "phoenix_db"
    verbose_name = "Database routing"
    default_auto_field = "django.db.models.BigAutoField"
