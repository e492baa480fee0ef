"""Fixtures for the notification tests: a real SMTP server on loopback (see support.py); the webhook
receiver fixture is in tests/tracking/conftest.py (the API's webhook tests use it too)."""

import pytest

from tests.tracking.notify.support import WAIT_SECONDS, SMTPReceiver


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
