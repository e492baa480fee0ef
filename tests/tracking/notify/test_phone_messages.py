"""WhatsApp and SMS updates through the whole path: a scan event in, a message out, the rules.

The WhatsApp side is the Graph API stand-in (tests/tracking/notify/whatsapp.py), which checks
every request against the documented shape; SMS goes to moto's SNS in server mode. ``now`` is
the worker's clock, set to a day time or a night time in Mexico City (UTC-6) for the rules.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests import factories
from tests.tracking.api.support import ApiClient
from tracking import numbers
from tracking.models import OutboxStatus, PhoneMessage
from tracking.notify import sender, texts
from tracking.services import event_record

pytestmark = pytest.mark.django_db

MOBILE = "+52 55 1234 5678"
WA_ID = "525512345678"
TOMORROW = (timezone.now() + timedelta(days=1)).date()
NOON = datetime(TOMORROW.year, TOMORROW.month, TOMORROW.day, 18, 0, tzinfo=UTC)  # 12:00 in Mexico City
NIGHT = datetime(TOMORROW.year, TOMORROW.month, TOMORROW.day, 4, 0, tzinfo=UTC)  # 22:00 the evening before
MORNING = NIGHT + timedelta(hours=10)  # 08:00 in Mexico City


def run(at: datetime = NOON) -> sender.Summary:
    return sender.deliveries_run(worker="test-worker", now=lambda: at)


def scan(shipment, code: str, **fields):
    return event_record(shipment=shipment, code=code, occurred_at=timezone.now(), **fields)


def test_a_partners_scan_event_sends_the_whatsapp_template_with_the_page_button(whatsapp, sns):
    partner, key = factories.partner_token()
    shipment = factories.shipment(partner=partner)
    factories.phone_subscription(shipment, phone=MOBILE, first_name="Fernanda Ruiz")
    event = {"id": "scan-1", "tracking_number": shipment.tracking_number, "milestone": "out_for_delivery"}
    response = ApiClient(key).post("/api/v1/events", {"events": [{**event, "occurred_at": timezone.now().isoformat()}]})
    assert response.json()["results"][0]["status"] == "accepted"
    assert run().sent == 1
    [request] = whatsapp.requests
    assert request["to"] == WA_ID
    assert (request["template"], request["language"]) == ("qp_out_for_delivery", "es_MX")
    assert request["body"] == ["Fernanda", numbers.display(shipment.tracking_number)]  # the first name only
    assert request["button"] == shipment.tracking_number
    message = PhoneMessage.objects.get()
    assert (message.status, message.channel, message.delivery) == ("sent", "whatsapp", "accepted")
    assert message.provider_id == request["id"]
    assert not sns.sms_messages
    assert run().sent == 0  # nothing twice


def test_each_of_the_five_updates_has_its_template_in_english(whatsapp, sns):
    shipment = factories.shipment()
    factories.phone_subscription(shipment, phone=MOBILE, language="en")
    scan(shipment, "picked_up")
    scan(shipment, "exception", reason="weather_delay")
    scan(shipment, "at_destination")  # owes nothing: not one of the five
    scan(shipment, "available_for_pickup")
    scan(shipment, "delivered")
    assert run().sent == 4
    assert [(r["template"], r["language"]) for r in whatsapp.requests] == [
        ("qp_picked_up", "en_US"),
        ("qp_exception_opened", "en_US"),
        ("qp_ready_for_pickup", "en_US"),
        ("qp_delivered", "en_US"),
    ]


def test_a_number_without_whatsapp_gets_the_sms_instead(whatsapp, sns):
    whatsapp.not_on_whatsapp.add(WA_ID)
    shipment = factories.shipment()
    factories.phone_subscription(shipment, phone=MOBILE, first_name="Ángel Pérez")
    scan(shipment, "out_for_delivery")
    assert run().sent == 1
    assert not whatsapp.requests
    [(phone, text)] = sns.sms_messages.values()
    assert phone == "+525512345678"
    assert f"https://tracking.qualitypost.test/track/{shipment.tracking_number}/" in text
    assert "Pérez" not in text and "Perez" not in text  # no personal data beyond the first name
    # "Á" is not in GSM-7: the name loses its accent so that the SMS stays one 160-character segment.
    assert texts.segment_fits(text) and texts.encoding(text) == "GSM-7"
    assert "Hola Angel," in text
    message = PhoneMessage.objects.get()
    assert (message.status, message.channel, message.fell_back) == ("sent", "sms", True)
    assert message.provider_id in sns.sms_messages


def test_a_late_131026_in_the_status_webhook_sends_the_sms_once(whatsapp, sns):
    shipment = factories.shipment()
    factories.phone_subscription(shipment, phone=MOBILE)
    scan(shipment, "delivered")
    assert run().sent == 1
    [request] = whatsapp.requests
    body, signature = whatsapp.status_webhook(request["id"], "failed", to=WA_ID, error_code=131026)
    for _twice in range(2):  # Meta retries: the second call changes nothing
        response = Client().post(
            "/notify/whatsapp/webhook/", body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=signature
        )
        assert response.status_code == 200
    assert run().sent == 1
    assert len(sns.sms_messages) == 1
    message = PhoneMessage.objects.get()
    assert (message.status, message.channel, message.fell_back) == ("sent", "sms", True)
    assert message.receipts.get().delivery == "failed"


def test_an_sms_only_subscription_gets_one_segment_with_the_link(whatsapp, sns):
    shipment = factories.shipment()
    factories.phone_subscription(shipment, phone="+1 415 555 2671", channel="sms", language="en", first_name="Ann Lee")
    scan(shipment, "at_destination")
    scan(shipment, "available_for_pickup")
    assert run().sent == 1
    [(phone, text)] = sns.sms_messages.values()
    assert phone == "+14155552671"
    assert text.startswith("QualityPost: Hi Ann, your parcel")
    assert "Lee" not in text
    assert len(text) <= 160 and texts.encoding(text) == "GSM-7"
    assert not whatsapp.requests


def test_without_whatsapp_configured_every_message_goes_by_sms(settings, sns):
    settings.PHOENIX_WHATSAPP_TOKEN = ""
    shipment = factories.shipment()
    factories.phone_subscription(shipment, phone=MOBILE)
    scan(shipment, "out_for_delivery")
    assert run().sent == 1
    assert len(sns.sms_messages) == 1
    assert PhoneMessage.objects.get().channel == "sms"


@pytest.mark.parametrize("word", ["STOP", "baja", "Alto"])
def test_a_stop_by_sms_stops_every_message_to_that_number_at_once(whatsapp, sns, word):
    first, second = factories.shipment(), factories.shipment()
    factories.phone_subscription(first, phone=MOBILE)
    factories.phone_subscription(second, phone="55 1234 5678")  # the same number, another parcel
    scan(first, "picked_up")  # owed, not sent yet
    response = Client().post(
        "/notify/sms/events/test-events-token/", sns_notification(inbound(word)), content_type="text/plain"
    )
    assert response.status_code == 200
    assert PhoneMessage.objects.get().status == OutboxStatus.CANCELLED
    scan(second, "out_for_delivery")
    run()
    assert not whatsapp.requests and not sns.sms_messages
    assert not PhoneMessage.objects.filter(status="sent").exists()


def test_a_stop_on_whatsapp_stops_the_messages_too(whatsapp, sns):
    shipment = factories.shipment()
    factories.phone_subscription(shipment, phone=MOBILE)
    body, signature = whatsapp.inbound_text("stop", sender=WA_ID)
    response = Client().post(
        "/notify/whatsapp/webhook/", body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=signature
    )
    assert response.status_code == 200
    scan(shipment, "out_for_delivery")
    run()
    assert not whatsapp.requests


def test_quiet_hours_hold_the_routine_updates_but_not_out_for_delivery_or_exceptions(whatsapp, sns):
    shipment = factories.shipment()
    factories.phone_subscription(shipment, phone=MOBILE)
    scan(shipment, "picked_up")
    scan(shipment, "exception", reason="address_issue")
    scan(shipment, "out_for_delivery")
    assert run(NIGHT).sent == 2  # 22:00 in Mexico City
    assert [r["template"] for r in whatsapp.requests] == ["qp_exception_opened", "qp_out_for_delivery"]
    held = PhoneMessage.objects.get(key="milestone:picked_up")
    assert held.status == "pending" and held.next_attempt_at == MORNING
    assert run(MORNING - timedelta(minutes=1)).sent == 0
    assert run(MORNING).sent == 1
    assert whatsapp.requests[-1]["template"] == "qp_picked_up"


def test_the_cap_stops_routine_updates_past_the_limit_for_one_shipment(settings, whatsapp, sns):
    settings.PHOENIX_PHONE_MESSAGES_PER_SHIPMENT = 2
    shipment = factories.shipment()
    factories.phone_subscription(shipment, phone=MOBILE)
    scan(shipment, "picked_up")
    scan(shipment, "at_destination")
    scan(shipment, "available_for_pickup")
    scan(shipment, "delivered")
    assert run().sent == 2
    capped = PhoneMessage.objects.get(key="milestone:delivered")
    assert (capped.status, capped.last_error) == ("cancelled", "the shipment's message cap")
    assert len(whatsapp.requests) == 2


def test_a_template_the_platform_rejects_is_a_recorded_failure_not_a_retry(whatsapp, sns, monkeypatch):
    monkeypatch.setitem(texts.WHATSAPP_TEMPLATES, "delivered", "qp_not_approved")
    shipment = factories.shipment()
    factories.phone_subscription(shipment, phone=MOBILE)
    scan(shipment, "delivered")
    summary = run()
    assert (summary.sent, summary.failed) == (0, 1)
    message = PhoneMessage.objects.get()
    assert message.status == "failed" and "132001" in message.last_error
    assert not sns.sms_messages


def inbound(word: str) -> dict:
    """An AWS End User Messaging inbound SMS, as its SNS topic carries it."""
    return {
        "originationNumber": "+525512345678",
        "destinationNumber": "+15550100",
        "messageKeyword": "KEYWORD_QUALITYPOST",
        "messageBody": word,
        "inboundMessageId": "cae173d2-66b9-564c-8309-21f858e9fb84",
        "previousPublishedMessageId": "wJ0e6u5vVrl9RkvJ8tLQ",
    }


def sns_notification(message: dict, *, at: datetime | None = None, message_id: str = "22b80b92-fdea-4c2c-8f9d") -> str:
    """A signed SNS HTTP notification around ``message`` (the ``sns`` fixture's signer)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns import sns_backends

    signer = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].signer
    return signer.envelope(message, at=at or timezone.now(), message_id=message_id)
