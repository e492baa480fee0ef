"""The worker's WhatsApp and SMS lane: the rules, then one exchange, then the record.

tracking/notify/sender.py claims ``PhoneMessage`` rows with the e-mails and webhooks and hands
each one to ``message_send`` with its lease helpers (``Lease``), so the three kinds of row share
one claim/lease/retry/record path. Before the exchange: a number that said STOP gets nothing,
quiet hours in the destination's time zone hold what is not urgent, and the per-shipment cap
stops the rest. WhatsApp goes first; a number without WhatsApp (error 131026, at once or later
in the status webhook) gets the SMS. Like an e-mail, a message is sent at most once: a row left
``sending`` by a killed worker becomes ``uncertain`` and is not sent again.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.urls import reverse

from tracking import sealing
from tracking.models import OutboxStatus, PhoneChannel, PhoneMessage, PhoneOptOut, PhoneSubscription
from tracking.notify import texts
from tracking.notify.channels import Outcome, SmsSender, WhatsAppSender

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6


@dataclass(frozen=True)
class Lease:
    """The outbox's lease helpers (tracking/notify/sender.py), handed in to avoid an import cycle."""

    start: Callable[..., bool]
    finish: Callable[..., None]
    set_aside: Callable[..., None]
    retry_delay: Callable[[int], timedelta]


@dataclass
class Senders:
    """The channels' senders for one run (one HTTP session, one SNS client)."""

    whatsapp: WhatsAppSender | None = None
    sms: SmsSender | None = None

    def get(self, channel: str):
        if channel == PhoneChannel.WHATSAPP:
            self.whatsapp = self.whatsapp or WhatsAppSender()
            return self.whatsapp
        self.sms = self.sms or SmsSender()
        return self.sms


def quiet_until(at: datetime, time_zone: str) -> datetime | None:
    """Return when quiet hours end, if ``at`` falls in them in ``time_zone``; else None."""
    local = at.astimezone(ZoneInfo(time_zone))
    start, end = settings.PHOENIX_QUIET_HOURS_START, settings.PHOENIX_QUIET_HOURS_END
    hour = local.hour
    quiet = (hour >= start or hour < end) if start > end else (start <= hour < end)
    if not quiet:
        return None
    day = local.date() if hour < end else local.date() + timedelta(days=1)
    return datetime.combine(day, time(end), tzinfo=local.tzinfo)


def message_send(row: PhoneMessage, *, worker: str, now, summary, lease: Lease, senders: Senders) -> None:
    """Apply the rules to one claimed message, then send it and record the outcome."""
    subscription = row.subscription
    shipment = subscription.shipment
    topic = texts.topic_of(row.key)
    wanted = PhoneSubscription.Status.PENDING if topic == texts.CODE else PhoneSubscription.Status.ACTIVE
    if subscription.status != wanted:
        lease.set_aside(row, worker=worker, status=OutboxStatus.CANCELLED, reason=f"subscription {subscription.status}")
        return
    if PhoneOptOut.objects.filter(phone_hash=subscription.phone_hash).exists():
        lease.set_aside(row, worker=worker, status=OutboxStatus.CANCELLED, reason="the number opted out (STOP)")
        return
    until = None if topic in texts.URGENT else quiet_until(now(), shipment.destination_facility.time_zone)
    if until is not None:
        PhoneMessage.objects.filter(pk=row.pk, status=OutboxStatus.CLAIMED, lease_owner=worker).update(
            status=OutboxStatus.PENDING,
            next_attempt_at=until,
            lease_owner="",
            lease_until=None,
            last_error="held for the quiet hours",
        )
        summary.retried += 1
        return
    if topic != texts.CODE:
        sent = PhoneMessage.objects.filter(
            subscription__shipment=shipment,
            subscription__phone_hash=subscription.phone_hash,
            status__in=[OutboxStatus.SENT, OutboxStatus.SENDING, OutboxStatus.UNCERTAIN],
        ).count()
        if sent >= settings.PHOENIX_PHONE_MESSAGES_PER_SHIPMENT:
            lease.set_aside(row, worker=worker, status=OutboxStatus.CANCELLED, reason="the shipment's message cap")
            return
    try:
        phone = sealing.unseal(subscription.phone_encrypted)
    except ValueError as exc:
        lease.set_aside(row, worker=worker, status=OutboxStatus.FAILED, reason=str(exc))
        summary.failed += 1
        return
    url = settings.PHOENIX_SITE_URL + reverse("tracking:detail", args=[shipment.tracking_number])
    try:
        code = sealing.unseal(row.secret_encrypted) if row.secret_encrypted else ""
    except ValueError:
        code = ""
    message = {"key": row.key, "language": subscription.language, "first_name": subscription.first_name}
    template = texts.whatsapp_template(**message, number=shipment.tracking_number, code=code)
    text = texts.sms_text(**message, number=shipment.tracking_number, url=url, code=code)
    channel = row.channel
    if channel == PhoneChannel.WHATSAPP and not WhatsAppSender.configured():
        channel = PhoneChannel.SMS
    if not lease.start(row, worker=worker, now=now()):
        return
    outcome = senders.get(channel).send(to=phone, country=subscription.country, text=text, template=template)
    fell_back = row.fell_back
    if channel == PhoneChannel.WHATSAPP and outcome.not_on_whatsapp:
        logger.info("notify phone %s: not on WhatsApp (%s); falling back to SMS", row.pk, outcome.error)
        channel, fell_back = PhoneChannel.SMS, True
        outcome = senders.get(channel).send(to=phone, country=subscription.country, text=text, template=template)
    record = {"channel": channel, "fell_back": fell_back, "template": template.name if channel == "whatsapp" else ""}
    if outcome.ok or outcome.permanent:
        record["secret_encrypted"] = ""  # a code is not kept once it has gone out
    _record(row, outcome, phone=phone, worker=worker, now=now, summary=summary, lease=lease, **record)


def _record(
    row: PhoneMessage, outcome: Outcome, *, phone: str, worker: str, now, summary, lease: Lease, **fields
) -> None:
    # Platforms' errors may quote the number; logs and the admin must not show it.
    error = outcome.error.replace(phone, "<recipient>").replace(phone.lstrip("+"), "<recipient>")[:500]
    if outcome.ok:
        lease.finish(
            row,
            worker=worker,
            status=OutboxStatus.SENT,
            sent_at=now(),
            provider_id=outcome.provider_id,
            delivery=PhoneMessage.Delivery.ACCEPTED,
            delivery_at=now(),
            last_error="",
            **fields,
        )
        summary.sent += 1
        logger.info(
            "notify phone %s (%s) sent by %s to subscription %s",
            row.pk,
            row.key,
            fields["channel"],
            row.subscription_id,
        )
        return
    if outcome.permanent or row.attempts >= MAX_ATTEMPTS:
        lease.finish(
            row,
            worker=worker,
            status=OutboxStatus.FAILED,
            delivery=PhoneMessage.Delivery.FAILED,
            last_error=error,
            **fields,
        )
        summary.failed += 1
    else:
        lease.finish(
            row,
            worker=worker,
            status=OutboxStatus.PENDING,
            next_attempt_at=now() + lease.retry_delay(row.attempts),
            last_error=error,
            **fields,
        )
        summary.retried += 1
    logger.warning("notify phone %s attempt %d failed: %s", row.pk, row.attempts, error)
