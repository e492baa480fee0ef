"""What the platforms tell Phoenix: delivery receipts, inbound STOP, and the SMS fallback.

Two endpoints (tracking/notify/urls.py), neither behind a session or CSRF (the platforms call
them), each authenticated its own way:

- ``/notify/whatsapp/webhook/``: the WhatsApp Business Platform's webhook. GET is the verify
  handshake (``hub.verify_token`` must equal PHOENIX_WHATSAPP_VERIFY_TOKEN); POST must carry
  ``X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body keyed with the app secret>``.
  Statuses (sent, delivered, read, failed) become receipts; a failure with error 131026 (no
  WhatsApp on the number) owes the same message again by SMS; an inbound text STOP / BAJA /
  ALTO opts the number out.
- ``/notify/sms/events/<token>/``: an Amazon SNS HTTP(S) subscription (the secret path token is
  PHOENIX_SMS_EVENTS_TOKEN; every message must also be for PHOENIX_SMS_EVENTS_TOPIC_ARN and carry
  a valid SNS signature, tracking/notify/sns.py) that brings AWS End User Messaging SMS events: delivery events
  (``eventType`` TEXT_DELIVERED...) and inbound two-way SMS (STOP / BAJA / ALTO).

A forged call (bad signature or token) or a stale one (older than ``MAX_AGE``: a replay) is
refused with 403 and records nothing; a repeat of a receipt already recorded is answered 200 and
recorded once (the platforms retry until they get a 200).
"""

import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from tracking import phones, sealing
from tracking.models import OutboxStatus, PhoneChannel, PhoneMessage, PhoneOptOut, PhoneReceipt, PhoneSubscription
from tracking.notify import sns
from tracking.notify.channels import NOT_ON_WHATSAPP
from tracking.tasks import delivery_enqueue

logger = logging.getLogger(__name__)

STOP_WORDS = {"STOP", "BAJA", "ALTO", "UNSUBSCRIBE", "CANCELAR", "PARAR"}
# Lifts an opt-out: the number may subscribe again (from the page, with a code); nothing that
# was unsubscribed comes back by itself.
START_WORDS = {"START", "UNSTOP", "ALTA"}
# Meta retries a webhook for up to 7 days; SNS for about an hour. A callback older than that is a replay.
MAX_AGE = timedelta(days=7)
# Forward only: a late "delivered" does not undo "read". A failure is recorded whatever came before.
_RANK = {"accepted": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}
_SMS_EVENTS = {
    "TEXT_SUCCESSFUL": "sent",
    "TEXT_QUEUED": "sent",
    "TEXT_DELIVERED": "delivered",
    "TEXT_BLOCKED": "failed",
    "TEXT_INVALID": "failed",
    "TEXT_INVALID_MESSAGE": "failed",
    "TEXT_UNREACHABLE": "failed",
    "TEXT_CARRIER_UNREACHABLE": "failed",
    "TEXT_CARRIER_BLOCKED": "failed",
    "TEXT_SPAM": "failed",
    "TEXT_TTL_EXPIRED": "failed",
    "TEXT_UNKNOWN": "failed",
}


class Refused(Exception):
    """A callback that is forged, stale or malformed: answered with ``status``, nothing recorded."""

    def __init__(self, message: str, status: int = 403):
        super().__init__(message)
        self.status = status


def whatsapp_verify(*, mode: str, token: str, challenge: str) -> str:
    """Return the challenge for a valid subscribe handshake; raise Refused otherwise."""
    expected = settings.PHOENIX_WHATSAPP_VERIFY_TOKEN
    if mode != "subscribe" or not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Refused("verify token does not match")
    return challenge


def whatsapp_signature_check(*, body: bytes, header: str) -> None:
    """Raise Refused unless ``header`` is ``sha256=`` + the HMAC of ``body`` with the app secret."""
    secret = settings.PHOENIX_WHATSAPP_APP_SECRET
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest() if secret else ""
    if not secret or not hmac.compare_digest(expected.encode(), header.strip().encode()):
        raise Refused("signature does not match")


def whatsapp_callback(*, body: bytes, now: datetime | None = None) -> int:
    """Record what a signed WhatsApp webhook reports; return the receipts recorded (repeats: 0)."""
    now = now or timezone.now()
    try:
        payload = json.loads(body)
        changes = [change["value"] for entry in payload["entry"] for change in entry.get("changes", [])]
        statuses = [status for value in changes for status in value.get("statuses", [])]
        inbound = [message for value in changes for message in value.get("messages", [])]
        if not all(isinstance(item, dict) for item in statuses + inbound):
            raise TypeError
    except (ValueError, KeyError, TypeError, AttributeError):
        raise Refused("not a WhatsApp webhook body", status=400) from None
    times = [_timestamp(item.get("timestamp")) for item in statuses + inbound]
    if times and max(times) < now - MAX_AGE:
        raise Refused("stale callback (a replay)")
    recorded = 0
    for status in statuses:
        errors = [error for error in status.get("errors") or [] if isinstance(error, dict)]
        detail = "; ".join(f"{e.get('code')} {e.get('title', '')}".strip() for e in errors)[:300]
        recorded += _receipt(
            provider_id=str(status.get("id", "")),
            delivery=status.get("status", ""),
            occurred_at=_timestamp(status.get("timestamp")),
            detail=detail,
            not_on_whatsapp=any(e.get("code") in NOT_ON_WHATSAPP for e in errors),
        )
    for message in inbound:
        # A typed STOP / BAJA / ALTO, or the template's quick-reply opt-out button.
        said = _dict(message.get("text")).get("body", "") or _dict(message.get("button")).get("text", "")
        sender = "+" + str(message.get("from", "")).lstrip("+")
        if _is_stop(said):
            opt_out(phone=sender, channel=PhoneChannel.WHATSAPP, keyword="STOP")
        elif _is_word(said, START_WORDS):
            opt_in(phone=sender)
    return recorded


def sms_events_token_check(token: str) -> None:
    expected = settings.PHOENIX_SMS_EVENTS_TOKEN
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Refused("unknown events endpoint", status=404)


def sms_callback(*, body: bytes, now: datetime | None = None) -> int:
    """Record an SNS notification carrying an SMS event or an inbound SMS; return receipts recorded."""
    now = now or timezone.now()
    try:
        envelope = json.loads(body)
        kind = envelope["Type"]
    except (ValueError, KeyError, TypeError, IndexError):
        raise Refused("not an SNS message", status=400) from None
    try:
        sns.verify(envelope)
    except sns.NotVerified as exc:
        raise Refused(f"not a message from SNS for our topic: {exc}") from None
    if kind == "SubscriptionConfirmation":
        # Confirmed by an operator (docs/notifications.md); the URL is logged, never fetched from here.
        logger.warning("notify sms events: subscription to confirm for topic %s", envelope.get("TopicArn"))
        return 0
    if kind != "Notification":
        return 0
    sent_at = _iso(envelope.get("Timestamp"))
    if sent_at is None or sent_at < now - MAX_AGE:
        raise Refused("stale or undated notification (a replay)")
    try:
        event = json.loads(envelope["Message"])
        if not isinstance(event, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise Refused("the notification carries no SMS event", status=400) from None
    if "messageBody" in event and "originationNumber" in event:
        if _is_word(event["messageBody"], START_WORDS):
            opt_in(phone=str(event["originationNumber"]))
        elif _is_stop(event["messageBody"]):
            opt_out(
                phone=event["originationNumber"], channel=PhoneChannel.SMS, keyword=event["messageBody"].strip()[:20]
            )
        return 0
    delivery = _SMS_EVENTS.get(str(event.get("eventType", "")))
    if not delivery:
        return 0
    return _receipt(
        provider_id=str(event.get("messageId", "")),
        delivery=delivery,
        occurred_at=_millis(event.get("eventTimestamp")) or sent_at,
        detail=str(event.get("messageStatusDescription", event.get("eventType", "")))[:300],
        not_on_whatsapp=False,
    )


def _phone_hash(phone: str) -> tuple[str, str]:
    try:
        e164, _country = phones.phone_normalize(phone)
    except phones.InvalidPhone:
        e164 = phone
    return e164, sealing.digest(e164, purpose="notify.phone")


def opt_in(*, phone: str) -> bool:
    """Lift a number's opt-out (START); return whether there was one."""
    _e164, digest = _phone_hash(phone)
    deleted, _kinds = PhoneOptOut.objects.filter(phone_hash=digest).delete()
    logger.info("notify phone opt-in: opt-out lifted=%s", bool(deleted))
    return bool(deleted)


def opt_out(*, phone: str, channel: str, keyword: str) -> int:
    """Stop every message to ``phone`` at once: unsubscribe, cancel what is owed; return rows cancelled."""
    e164, digest = _phone_hash(phone)
    with transaction.atomic():
        PhoneOptOut.objects.get_or_create(
            phone_hash=digest,
            defaults={"phone_masked": phones.phone_mask(e164), "channel": channel, "keyword": keyword},
        )
        PhoneSubscription.objects.filter(phone_hash=digest).update(status=PhoneSubscription.Status.UNSUBSCRIBED)
        cancelled = PhoneMessage.objects.filter(
            subscription__phone_hash=digest, status__in=[OutboxStatus.PENDING, OutboxStatus.CLAIMED]
        ).update(status=OutboxStatus.CANCELLED, last_error="the number opted out (STOP)")
    logger.info("notify phone opt-out (%s): %d messages cancelled", channel, cancelled)
    return cancelled


def _receipt(*, provider_id: str, delivery: str, occurred_at: datetime, detail: str, not_on_whatsapp: bool) -> int:
    if delivery not in _RANK or delivery == "accepted":
        return 0
    message = PhoneMessage.objects.filter(provider_id=provider_id).first() if provider_id else None
    if message is None:
        logger.info("notify phone receipt for an unknown message id (%s)", delivery)
        return 0
    try:
        with transaction.atomic():
            PhoneReceipt.objects.create(
                message=message, provider_id=provider_id, delivery=delivery, occurred_at=occurred_at, detail=detail
            )
            message = PhoneMessage.objects.select_for_update().get(pk=message.pk)
            if _RANK[delivery] > _RANK.get(message.delivery, -1) or delivery == "failed":
                message.delivery, message.delivery_at = delivery, occurred_at
                message.save(update_fields=["delivery", "delivery_at"])
            if not_on_whatsapp and message.channel == PhoneChannel.WHATSAPP and not message.fell_back:
                # The platform took the message but cannot deliver it: the same message, by SMS.
                PhoneMessage.objects.filter(pk=message.pk).update(
                    channel=PhoneChannel.SMS,
                    fell_back=True,
                    status=OutboxStatus.PENDING,
                    next_attempt_at=timezone.now(),
                    provider_id=None,
                    delivery=PhoneMessage.Delivery.QUEUED,
                    last_error=f"WhatsApp: {detail}"[:500],
                )
                delivery_enqueue()
    except IntegrityError:  # this receipt was recorded before: a retry or a replay
        return 0
    return 1


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _is_word(text, words: set[str]) -> bool:
    return isinstance(text, str) and text.strip().strip(".!").upper() in words


def _is_stop(text) -> bool:
    return _is_word(text, STOP_WORDS)


def _timestamp(value) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        raise Refused("a status without a valid timestamp", status=400) from None


def _millis(value) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _iso(value) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
