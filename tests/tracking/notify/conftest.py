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


@pytest.fixture
def whatsapp(settings):
    """The Graph API stand-in on loopback, with the application pointed at it."""
    from tests.tracking.notify import whatsapp as standin

    server = standin.WhatsAppStandIn()
    settings.PHOENIX_WHATSAPP_API_URL = server.url
    settings.PHOENIX_WHATSAPP_API_VERSION = standin.VERSION
    settings.PHOENIX_WHATSAPP_PHONE_NUMBER_ID = standin.PHONE_NUMBER_ID
    settings.PHOENIX_WHATSAPP_TOKEN = standin.TOKEN
    settings.PHOENIX_WHATSAPP_APP_SECRET = standin.APP_SECRET
    settings.PHOENIX_WHATSAPP_VERIFY_TOKEN = "test-verify-token"
    settings.PHOENIX_SITE_URL = "https://tracking.qualitypost.test"
    yield server
    assert server.problems == []  # every request Phoenix sent had the documented shape
    server.close()


@pytest.fixture
def sns(settings, monkeypatch):
    """moto's SNS in server mode on loopback; yields its backend (the SMS it was asked to send)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.server import ThreadedMotoServer
    from moto.sns import sns_backends

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for name, value in [("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")]:
        monkeypatch.setenv(name, value)
    settings.AWS_SNS_REGION_NAME = "us-east-1"
    settings.AWS_SNS_ENDPOINT_URL = f"http://{host}:{port}"
    settings.PHOENIX_SMS_SENDER_IDS = {"MX": "QPOST", "US": "+15550100"}
    settings.PHOENIX_SMS_EVENTS_TOKEN = "test-events-token"
    settings.PHOENIX_SITE_URL = "https://tracking.qualitypost.test"
    # The events endpoint's SNS messages are signed by the test's own key (sns_signing.py).
    from tests.tracking.notify import sns_signing

    signer = sns_signing.SnsSigner()
    settings.PHOENIX_SMS_EVENTS_TOPIC_ARN = sns_signing.TOPIC_ARN
    settings.PHOENIX_SNS_CERT_URL_PATTERN = sns_signing.CERT_URL_PATTERN
    backend = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    backend.sms_messages.clear()
    backend.signer = signer
    yield backend
    signer.close()
    server.stop()
