"""WhatsApp/SMS subscriptions from the tracking page, confirmed by a one-time code.

The page stores a *pending* subscription (the number sealed) and owes one message with a
six-digit code: the code is kept as a keyed hash on the subscription (to check) and sealed on
the outbox row (to send; cleared once sent). It is valid for ``CODE_MINUTES`` and allows
``CODE_ATTEMPTS`` wrong tries; typing it activates the subscription, with the page as the
consent's source and that moment as its time. The same hourly limits as e-mail requests apply
(tracking/notify/subscriptions.py), plus at most ``CODES_MAX`` codes per subscription and the
daily cap of codes per number. A number that said STOP gets no code.
"""

import logging
import secrets
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tracking import phones, sealing
from tracking.models import PhoneChannel, PhoneMessage, PhoneOptOut, PhoneSubscription, Shipment
from tracking.notify.subscriptions import ADDRESS_WINDOW, SubscriptionError, request_count
from tracking.notify.texts import TOPICS
from tracking.tasks import delivery_enqueue

logger = logging.getLogger(__name__)

CODE_MINUTES = 10
CODE_ATTEMPTS = 5
CODES_MAX = 3
DEFAULT_TOPICS = TOPICS


def _code_hash(subscription_id: int, code: str) -> str:
    return sealing.digest(f"{subscription_id}:{code}", purpose="notify.phone.code")


def phone_subscription_request(
    *, shipment: Shipment, phone: str, channel: str, topics: Sequence[str], language: str, client: str
) -> PhoneSubscription:
    """Store a pending subscription and owe a message with a one-time code; return it.

    Raise phones.InvalidPhone for a number that cannot get messages, SubscriptionError (400) for
    a finished shipment or no update chosen, (409) for a number that said STOP, (429) past the
    limits. A number already active for this shipment changes nothing and is not revealed.
    """
    if shipment.is_terminal:
        raise SubscriptionError(
            _("This shipment has already reached its final status; there is nothing left to notify.")
        )
    if not topics or set(topics) - set(TOPICS) or channel not in PhoneChannel.values:
        raise SubscriptionError(_("Choose at least one of the updates offered."))
    e164, country = phones.phone_normalize(phone)
    phone_hash = sealing.digest(e164, purpose="notify.phone")
    now = timezone.now()
    if PhoneOptOut.objects.filter(phone_hash=phone_hash).exists():
        raise SubscriptionError(
            _("This number asked us to stop sending messages, so we cannot send it a code."), status=409
        )
    with transaction.atomic():
        request_count(shipment=shipment, client_hash=sealing.digest(client, purpose="notify.client"), now=now)
        subscription, created = PhoneSubscription.objects.select_for_update().get_or_create(
            shipment=shipment,
            phone_hash=phone_hash,
            defaults={
                "phone_encrypted": sealing.seal(e164),
                "phone_masked": phones.phone_mask(e164),
                "country": country,
                "channel": channel,
                "topics": list(topics),
                "language": language,
                "source": PhoneSubscription.Source.PAGE,
                "consent_source": "",
            },
        )
        if subscription.status == PhoneSubscription.Status.ACTIVE:
            logger.info("notify phone request for active subscription %s ignored", subscription.pk)
            return subscription
        codes_sent = subscription.messages.filter(key__startswith="code:").count()
        if codes_sent >= CODES_MAX:
            raise SubscriptionError(
                _("We have already sent several codes to this number. Please check your messages."), status=429
            )
        today = PhoneMessage.objects.filter(
            subscription__phone_hash=phone_hash, key__startswith="code:", created_at__gte=now - ADDRESS_WINDOW
        ).count()
        if today >= settings.PHOENIX_NOTIFY_CONFIRMATIONS_PER_ADDRESS_PER_DAY:
            raise SubscriptionError(_("Too many codes to this number today. Please try again tomorrow."), status=429)
        code = f"{secrets.randbelow(10**6):06d}"
        subscription.status = PhoneSubscription.Status.PENDING
        subscription.channel, subscription.topics, subscription.language = channel, list(topics), language
        subscription.code_hash = _code_hash(subscription.pk, code)
        subscription.code_expires_at = now + timedelta(minutes=CODE_MINUTES)
        subscription.code_attempts = 0
        subscription.save(
            update_fields=["status", "channel", "topics", "language", "code_hash", "code_expires_at", "code_attempts"]
        )
        PhoneMessage.objects.create(
            subscription=subscription,
            key=f"code:{codes_sent + 1}",
            channel=channel,
            secret_encrypted=sealing.seal(code),
        )
        delivery_enqueue()
    logger.info("notify phone subscription %s requested (new=%s)", subscription.pk, created)
    return subscription


def phone_subscription_confirm(*, subscription_id: int, code: str) -> PhoneSubscription:
    """Activate a pending subscription whose code is ``code``; raise SubscriptionError if not.

    (404) no such pending request, (410) the code expired, (429) too many wrong tries, (400) a
    wrong code, saying how many tries are left.
    """
    now = timezone.now()
    wrong = None
    with transaction.atomic():  # a wrong try is counted even though the call raises
        subscription = PhoneSubscription.objects.select_for_update().filter(pk=subscription_id).first()
        if subscription is None or subscription.status == PhoneSubscription.Status.UNSUBSCRIBED:
            raise SubscriptionError(_("We have no code waiting for this number. Ask for a new one."), status=404)
        if subscription.status == PhoneSubscription.Status.ACTIVE:
            return subscription
        if subscription.code_attempts >= CODE_ATTEMPTS:
            raise SubscriptionError(_("Too many wrong codes. Ask for a new one."), status=429)
        if subscription.code_expires_at is None or subscription.code_expires_at < now:
            raise SubscriptionError(_("This code has expired. Ask for a new one."), status=410)
        typed = "".join(ch for ch in code if ch.isdigit())
        if not secrets.compare_digest(_code_hash(subscription.pk, typed), subscription.code_hash):
            subscription.code_attempts += 1
            subscription.save(update_fields=["code_attempts"])
            wrong = CODE_ATTEMPTS - subscription.code_attempts
        else:
            subscription.status = PhoneSubscription.Status.ACTIVE
            subscription.consent_source = "tracking page, one-time code confirmed"
            subscription.consent_at = now
            subscription.code_hash, subscription.code_expires_at = "", None
            subscription.save(update_fields=["status", "consent_source", "consent_at", "code_hash", "code_expires_at"])
    if wrong is not None:
        if wrong <= 0:
            raise SubscriptionError(_("Too many wrong codes. Ask for a new one."), status=429)
        raise SubscriptionError(_("That code is not right. Tries left: %(left)d.") % {"left": wrong})
    logger.info("notify phone subscription %s confirmed", subscription.pk)
    return subscription
