"""Production's e-mail path: django-ses (the SES API, with its auto-throttle) against moto's SES in server mode on loopback."""

import email
import email.policy

import boto3
import pytest
from django.utils import timezone
from moto.core import DEFAULT_ACCOUNT_ID
from moto.server import ThreadedMotoServer
from moto.ses import ses_backends

from tests import factories
from tracking.models import EmailNotification
from tracking.notify import sender
from tracking.services import event_record

pytestmark = pytest.mark.django_db

REGION = "us-east-1"


@pytest.fixture
def ses(settings, monkeypatch):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_SESSION_TOKEN", "testing"),
    ]:
        monkeypatch.setenv(name, value)
    settings.EMAIL_BACKEND = "django_ses.SESBackend"
    settings.AWS_SES_REGION_NAME = REGION
    settings.AWS_SES_REGION_ENDPOINT_URL = endpoint
    # SES only sends from a verified identity, in moto as in AWS.
    boto3.client("ses", region_name=REGION, endpoint_url=endpoint).verify_email_identity(
        EmailAddress="avisos@qualitypost.mx"
    )
    backend = ses_backends[DEFAULT_ACCOUNT_ID][REGION]
    backend.sent_messages.clear()
    yield backend
    server.stop()


def test_updates_go_out_through_ses_with_the_unsubscribe_headers(ses):
    shipment = factories.shipment()
    factories.subscription(shipment, email="luis@example.com", topics=["delivered"], language="en")
    event_record(shipment=shipment, code="delivered", occurred_at=timezone.now())
    summary = sender.deliveries_run(worker="test-worker")
    assert summary.sent == 1
    assert EmailNotification.objects.get().status == "sent"
    [sent] = ses.sent_messages
    message = email.message_from_string(sent.raw_data, policy=email.policy.default)
    assert message["To"] == "luis@example.com"
    assert message["Subject"] == f"Shipment {shipment.display_number}: Delivered"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
