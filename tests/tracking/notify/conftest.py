"""Fixtures for the notification tests: real receivers on loopback (see support.py)."""

import pytest

from tests.tracking.notify.support import WAIT_SECONDS, SMTPReceiver, WebhookReceiver


@pytest.fixture
def smtp_server(settings):
    server = SMTPReceiver()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = WAIT_SECONDS
    settings.PHOENIX_SITE_URL = "https://tracking.qualitypost.test"
    yield server
    server.close()


@pytest.fixture
def receiver(settings):
    server = WebhookReceiver()
    settings.PHOENIX_WEBHOOK_ALLOW_LOOPBACK = True
    yield server
    server.close()
