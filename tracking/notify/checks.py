"""System checks for settings that must never reach production (run by `check --deploy`)."""

import ipaddress
from urllib.parse import urlsplit

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


@checks.register(checks.Tags.security, deploy=True)
def site_url_check(app_configs, **kwargs):
    """Refuse, with DEBUG off, a PHOENIX_SITE_URL that customers cannot follow or that is not HTTPS.

    E-mail links and List-Unsubscribe headers are built from it; the default (loopback, plain
    HTTP) is for `make run` only.
    """
    if settings.DEBUG:
        return []
    url = urlsplit(settings.PHOENIX_SITE_URL)
    host = (url.hostname or "").lower()
    problem = ""
    if url.scheme != "https" or not host:
        problem = "is not an https:// URL"
    elif host == "localhost" or host.endswith(".localhost") or _is_loopback(host):
        problem = "points at this machine (loopback)"
    if not problem:
        return []
    return [
        checks.Error(
            f"PHOENIX_SITE_URL={settings.PHOENIX_SITE_URL!r} {problem}: links in e-mails would not reach the site.",
            hint="Set PHOENIX_SITE_URL to the public address, e.g. https://track.qualitypost.mx "
            "(the application stack writes it to Parameter Store, docs/deploy.md).",
            id="tracking.E001",
        )
    ]


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@checks.register(checks.Tags.security, deploy=True)
def whatsapp_config_check(app_configs, **kwargs):
    """Warn when WhatsApp sends but its webhook cannot be verified: no receipts, no STOP, no fallback."""
    if not (settings.PHOENIX_WHATSAPP_TOKEN and settings.PHOENIX_WHATSAPP_PHONE_NUMBER_ID):
        return []
    missing = [
        name for name in ("PHOENIX_WHATSAPP_APP_SECRET", "PHOENIX_WHATSAPP_VERIFY_TOKEN") if not getattr(settings, name)
    ]
    if not missing:
        return []
    return [
        checks.Warning(
            f"WhatsApp is on but {' and '.join(missing)} is unset: the status webhook answers 403, so "
            "receipts, WhatsApp STOP replies and the late SMS fallback (131026) are lost.",
            hint="Set them in Parameter Store as SecureStrings (docs/deploy.md, section 11).",
            id="tracking.W002",
        )
    ]
