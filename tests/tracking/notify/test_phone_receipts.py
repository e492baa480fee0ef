"""Delivery receipts: the WhatsApp status webhook (signed) and SMS delivery events (SNS).

Each status is recorded once per message; a forged or replayed callback is refused (403) and
records nothing; the handshake answers only the configured verify token.
"""

import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests import factories
from tests.tracking.notify.test_phone_messages import MOBILE, WA_ID, run, scan, sns_notification
from tracking.models import PhoneMessage, PhoneReceipt

pytestmark = pytest.mark.django_db

WEBHOOK = "/notify/whatsapp/webhook/"


def post_signed(body: bytes, signature: str):
    return Client().post(WEBHOOK, body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=signature)


@pytest.fixture
def sent(whatsapp, sns):
    shipment = factories.shipment()
    factories.phone_subscription(shipment, phone=MOBILE)
    scan(shipment, "out_for_delivery")
    assert run().sent == 1
    return whatsapp.requests[0]["id"]


def test_statuses_are_recorded_per_message_and_only_move_forward(whatsapp, sent):
    for status in ("sent", "read", "delivered"):  # "delivered" arrives late
        assert post_signed(*whatsapp.status_webhook(sent, status, to=WA_ID)).status_code == 200
    message = PhoneMessage.objects.get()
    assert message.delivery == "read"
    assert sorted(message.receipts.values_list("delivery", flat=True)) == ["delivered", "read", "sent"]


def test_a_repeated_status_is_recorded_once(whatsapp, sent):
    body, signature = whatsapp.status_webhook(sent, "delivered", to=WA_ID)
    assert post_signed(body, signature).status_code == 200
    assert post_signed(body, signature).status_code == 200  # the platform retries until it gets a 200
    assert PhoneReceipt.objects.count() == 1


def test_a_forged_callback_is_refused_and_records_nothing(whatsapp, sent):
    body, _signature = whatsapp.status_webhook(sent, "read", to=WA_ID)
    assert post_signed(body, "sha256=" + "0" * 64).status_code == 403
    assert Client().post(WEBHOOK, body, content_type="application/json").status_code == 403
    tampered = body.replace(b'"read"', b'"failed"')
    assert post_signed(tampered, whatsapp.status_webhook(sent, "read", to=WA_ID)[1]).status_code == 403
    assert not PhoneReceipt.objects.exists()
    assert PhoneMessage.objects.get().delivery == "accepted"


def test_a_replayed_old_callback_is_refused(whatsapp, sent):
    old = int(time.time()) - int(timedelta(days=8).total_seconds())
    assert post_signed(*whatsapp.status_webhook(sent, "delivered", to=WA_ID, at=old)).status_code == 403
    assert not PhoneReceipt.objects.exists()


def test_a_malformed_body_with_a_good_signature_is_a_400(whatsapp, settings):
    import hashlib
    import hmac

    body = b'{"entry": "nope"}'
    signature = "sha256=" + hmac.new(settings.PHOENIX_WHATSAPP_APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert post_signed(body, signature).status_code == 400


def test_the_verify_handshake_answers_the_challenge_only_to_the_verify_token(whatsapp):
    query = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
    good = Client().get(WEBHOOK, {**query, "hub.verify_token": "test-verify-token"})
    assert (good.status_code, good.content) == (200, b"1158201444")
    assert Client().get(WEBHOOK, {**query, "hub.verify_token": "guess"}).status_code == 403


def sms_event(message_id: str, event_type: str) -> dict:
    """An AWS End User Messaging SMS event, as its SNS event destination carries it."""
    return {
        "eventType": event_type,
        "eventVersion": "1.0",
        "eventTimestamp": int(time.time() * 1000),
        "messageId": message_id,
        "destinationPhoneNumber": "+525512345678",
        "messageStatus": "DELIVERED",
        "messageStatusDescription": "Message has been accepted by phone",
    }


def test_sms_delivery_events_are_recorded_once_and_a_wrong_token_is_not_found(settings, whatsapp, sns):
    settings.PHOENIX_WHATSAPP_TOKEN = ""  # SMS only
    shipment = factories.shipment()
    factories.phone_subscription(shipment, phone=MOBILE)
    scan(shipment, "out_for_delivery")
    assert run().sent == 1
    [message_id] = sns.sms_messages
    envelope = sns_notification(sms_event(message_id, "TEXT_DELIVERED"))
    url = "/notify/sms/events/test-events-token/"
    assert Client().post(url, envelope, content_type="text/plain").status_code == 200
    assert Client().post(url, envelope, content_type="text/plain").status_code == 200
    assert Client().post("/notify/sms/events/guess/", envelope, content_type="text/plain").status_code == 404
    stale = sns_notification(sms_event(message_id, "TEXT_BLOCKED"), at=timezone.now() - timedelta(days=8))
    assert Client().post(url, stale, content_type="text/plain").status_code == 403
    message = PhoneMessage.objects.get()
    assert message.delivery == "delivered"
    assert list(message.receipts.values_list("delivery", flat=True)) == ["delivered"]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"entry": [{"changes": [{"value": {"statuses": ["x"]}}]}]}',
        b'{"entry": [{"changes": [{"value": {"statuses": [{"id": "wamid.x", "status": "read"}]}}]}]}',
        b'{"entry": [{"changes": [{"value": {"messages": [{"from": "1", "text": "STOP", "timestamp": "1"}]}}]}]}',
    ],
)
def test_malformed_signed_whatsapp_bodies_are_a_400_or_ignored_never_a_500(whatsapp, settings, body):
    import hashlib
    import hmac

    signature = "sha256=" + hmac.new(settings.PHOENIX_WHATSAPP_APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = post_signed(body, signature)
    assert response.status_code in (200, 400, 403)
    assert not PhoneReceipt.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        '{"Type": "Notification"}',
        '{"Type": "Notification", "Timestamp": "2099-01-01T00:00:00Z", "Message": "[1]"}',
        '{"Type": "Notification", "Timestamp": "nope", "Message": "{}"}',
        '{"Type": "SubscriptionConfirmation", "TopicArn": "arn:aws:sns:us-east-1:1:t", "SubscribeURL": "http://x/"}',
    ],
)
def test_malformed_sns_bodies_are_a_4xx_or_ignored_never_a_500(sns, body):
    response = Client().post("/notify/sms/events/test-events-token/", body, content_type="text/plain")
    assert response.status_code in (200, 400, 403)
    assert not PhoneReceipt.objects.exists()


def test_an_sns_message_with_a_forged_signature_or_another_topic_is_refused(sns):
    import json

    from tests.tracking.notify.sns_signing import TOPIC_ARN
    from tests.tracking.notify.test_phone_messages import inbound

    url = "/notify/sms/events/test-events-token/"
    good = json.loads(sns_notification(inbound("STOP")))
    forged = {**good, "Message": good["Message"].replace("STOP", "HOLA")}  # signature no longer matches
    other_topic = sns.signer.envelope(inbound("STOP"), at=timezone.now(), message_id="m2", topic=TOPIC_ARN + "-x")
    foreign_cert = {**good, "SigningCertURL": "https://attacker.example/cert.pem"}
    for body in (json.dumps(forged), other_topic, json.dumps(foreign_cert), json.dumps({**good, "Signature": "!!"})):
        assert Client().post(url, body, content_type="text/plain").status_code == 403
    from tracking.models import PhoneOptOut

    assert not PhoneOptOut.objects.exists()
    assert Client().post(url, json.dumps(good), content_type="text/plain").status_code == 200
    assert PhoneOptOut.objects.count() == 1
