"""Customer e-mail subscriptions: "Notify me" with double opt-in, confirmation, unsubscribe.

A request owes a confirmation e-mail (an outbox row, committed with the request, and a run of
the worker's task). Subscriber addresses are stored sealed (tracking/sealing.py) and logged only
by subscription id. The links in the e-mails are tracking/notify/links.py. See
docs/notifications.md.
"""

import logging
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tracking import milestones, sealing
from tracking.models import (
    EmailNotification,
    OutboxStatus,
    Shipment,
    Subscription,
    SubscriptionRequest,
)
from tracking.notify.links import CONFIRM_MAX_AGE, CONFIRM_SALT, UNSUBSCRIBE_SALT
from tracking.tasks import delivery_enqueue

logger = logging.getLogger(__name__)

EXCEPTION = "exception"
TOPICS = (*milestones.MILESTONES, EXCEPTION)
DEFAULT_TOPICS = (milestones.OUT_FOR_DELIVERY, milestones.DELIVERED, EXCEPTION)
CONFIRMATIONS_MAX = 3
RATE_WINDOW = timedelta(hours=1)
ADDRESS_WINDOW = timedelta(days=1)


class SubscriptionError(Exception):
    """A request that cannot be honoured; ``status`` is the HTTP status the page answers with."""

    def __init__(self, message: str, *, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def email_normalize(email: str) -> str:
    """Return the address as compared for duplicates: trimmed, domain lower-cased."""
    local, _, domain = email.strip().rpartition("@")
    return f"{local}@{domain.lower()}"


def email_mask(email: str) -> str:
    """Return ``f***@example.com``: enough for its owner to recognise, nothing for others."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}"


def subscription_request(
    *, shipment: Shipment, email: str, topics: Sequence[str], language: str, client: str
) -> Subscription:
    """Record a "Notify me" request and owe a confirmation e-mail (double opt-in).

    ``client`` identifies the requester for rate limiting (the view passes the client IP; only
    a keyed hash is stored). Raise SubscriptionError (429) past the hourly limits or past the
    daily cap of confirmation e-mails to one address (across shipments), (400) for a shipment
    that has reached the end of its journey.
    """
    if shipment.is_terminal:
        raise SubscriptionError(
            _("This shipment has already reached its final status; there is nothing left to notify.")
        )
    unknown = set(topics) - set(TOPICS)
    if unknown or not topics:
        raise SubscriptionError(_("Choose at least one of the updates offered."))
    now = timezone.now()
    client_hash = sealing.digest(client, purpose="notify.client")
    normalized = email_normalize(email)
    email_hash = sealing.digest(normalized, purpose="notify.email")
    with transaction.atomic():
        request_count(shipment=shipment, client_hash=client_hash, now=now)
        subscription, created = Subscription.objects.select_for_update().get_or_create(
            shipment=shipment,
            email_hash=email_hash,
            defaults={
                "email_encrypted": sealing.seal(normalized),
                "email_masked": email_mask(normalized),
                "topics": list(topics),
                "language": language,
            },
        )
        if subscription.status == Subscription.Status.ACTIVE:
            # Someone else may be typing this address: do not change an active subscription
            # without its owner, and do not say whether it exists.
            logger.info("notify request for active subscription %s ignored", subscription.pk)
            return subscription
        if subscription.confirmations_sent >= CONFIRMATIONS_MAX and subscription.status == Subscription.Status.PENDING:
            raise SubscriptionError(
                _("We have already sent several confirmation links to this address. Please check your inbox."),
                status=429,
            )
        sent_today = EmailNotification.objects.filter(
            subscription__email_hash=email_hash, key__startswith="confirm:", created_at__gte=now - ADDRESS_WINDOW
        ).count()
        if sent_today >= settings.PHOENIX_NOTIFY_CONFIRMATIONS_PER_ADDRESS_PER_DAY:
            # Someone may be flooding this address through many shipments: nothing is sent.
            logger.info("notify request for subscription %s refused: daily cap of the address", subscription.pk)
            raise SubscriptionError(
                _("Too many confirmation e-mails to this address today. Please try again tomorrow."), status=429
            )
        subscription.status = Subscription.Status.PENDING
        subscription.topics = list(topics)
        subscription.language = language
        subscription.confirmations_sent += 1
        subscription.save(update_fields=["status", "topics", "language", "confirmations_sent"])
        EmailNotification.objects.create(subscription=subscription, key=f"confirm:{subscription.confirmations_sent}")
        delivery_enqueue()
    logger.info("notify subscription %s requested (new=%s)", subscription.pk, created)
    return subscription


def request_count(*, shipment: Shipment, client_hash: str, now) -> None:
    """Count one "Notify me" request (e-mail or phone); raise SubscriptionError (429) past the hourly limits."""
    since = now - RATE_WINDOW
    recent_for_shipment = SubscriptionRequest.objects.filter(shipment=shipment, requested_at__gte=since).count()
    recent_from_client = SubscriptionRequest.objects.filter(client=client_hash, requested_at__gte=since).count()
    if (
        recent_for_shipment >= settings.PHOENIX_NOTIFY_RATE_PER_SHIPMENT
        or recent_from_client >= settings.PHOENIX_NOTIFY_RATE_PER_IP
    ):
        raise SubscriptionError(_("Too many requests for notifications. Please try again in an hour."), status=429)
    # Older requests of this shipment no longer count (index: shipment, requested_at).
    SubscriptionRequest.objects.filter(shipment=shipment, requested_at__lt=since).delete()
    SubscriptionRequest.objects.create(shipment=shipment, client=client_hash, requested_at=now)


def subscription_from_confirm_token(token: str) -> Subscription:
    """Return the subscription a confirmation link names (for the page that asks to confirm).

    Raise SubscriptionError for a bad or expired link, or a cancelled subscription, as
    ``subscription_confirm`` would: the page says so before anyone presses the button.
    """
    subscription = _from_token(token, salt=CONFIRM_SALT, max_age=CONFIRM_MAX_AGE)
    if subscription.status == Subscription.Status.UNSUBSCRIBED:
        raise SubscriptionError(
            _("This subscription was cancelled. Subscribe again from the tracking page."), status=409
        )
    return subscription


def subscription_confirm(*, token: str) -> Subscription:
    """Activate the subscription a confirmation link names; raise SubscriptionError if it cannot.

    Called by the confirmation page's POST only: a GET or HEAD of the link (mail systems' link
    scanners open every link) changes nothing.
    """
    subscription = _from_token(token, salt=CONFIRM_SALT, max_age=CONFIRM_MAX_AGE)
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if subscription.status == Subscription.Status.UNSUBSCRIBED:
            raise SubscriptionError(
                _("This subscription was cancelled. Subscribe again from the tracking page."), status=409
            )
        if subscription.status == Subscription.Status.PENDING:
            subscription.status = Subscription.Status.ACTIVE
            subscription.confirmed_at = timezone.now()
            subscription.save(update_fields=["status", "confirmed_at"])
            logger.info("notify subscription %s confirmed", subscription.pk)
    return subscription


def subscription_unsubscribe(*, token: str) -> Subscription:
    """Cancel the subscription an unsubscribe link names, and whatever it was still owed."""
    subscription = _from_token(token, salt=UNSUBSCRIBE_SALT)
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if subscription.status != Subscription.Status.UNSUBSCRIBED:
            subscription.status = Subscription.Status.UNSUBSCRIBED
            subscription.unsubscribed_at = timezone.now()
            subscription.save(update_fields=["status", "unsubscribed_at"])
            subscription.notifications.filter(status=OutboxStatus.PENDING).update(status=OutboxStatus.CANCELLED)
            logger.info("notify subscription %s unsubscribed", subscription.pk)
    return subscription


def subscription_from_unsubscribe_token(token: str) -> Subscription:
    """Return the subscription an unsubscribe link names (for the page that asks to confirm)."""
    return _from_token(token, salt=UNSUBSCRIBE_SALT)


def _from_token(token: str, *, salt: str, max_age: timedelta | None = None) -> Subscription:
    try:
        pk = signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired:
        raise SubscriptionError(
            _("This confirmation link has expired. Subscribe again from the tracking page."), status=410
        ) from None
    except signing.BadSignature:
        raise SubscriptionError(_("This link is not valid. Please copy the whole link from the e-mail.")) from None
    subscription = Subscription.objects.filter(pk=pk).select_related("shipment").first()
    if subscription is None:
        raise SubscriptionError(_("This subscription no longer exists."), status=404)
    return subscription
