"""System checks for settings that must never reach production (run by `check --deploy`)."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def webhook_loopback_check(app_configs, **kwargs):
    if settings.PHOENIX_WEBHOOK_ALLOW_LOOPBACK:
        return [
            checks.Warning(
                "PHOENIX_WEBHOOK_ALLOW_LOOPBACK is on: partner webhooks may target http:// and 127.0.0.0/8.",
                hint="Unset it outside tests and the local stack (docs/notifications.md).",
                id="tracking.W001",
            )
        ]
    return []
