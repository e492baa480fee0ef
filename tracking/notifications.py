"""Customer e-mail subscriptions and the outbox the scan-event path fills (docs/notifications.md).

Nothing here sends anything: services record what is owed, in the caller's transaction, and
the background worker (tracking/delivery.py, run by tracking/tasks.py) delivers it.
Subscriber addresses are stored sealed (tracking/sealing.py); logs carry the subscription id.
"""

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from tracking import milestones, sealing
from tracking.models import (
    EmailNotification,
    Milestone,
    OutboxStatus,
    Shipment,
    Subscription,
    SubscriptionRequest,
    TrackingEvent,
    WebhookDelivery,
    WebhookEndpoint,
)

logger = logging.getLogger(__name__)

EXCEPTION = "exception"
TOPICS = (*milestones.MILESTONES, EXCEPTION)
DEFAULT_TOPICS = (milestones.OUT_FOR_DELIVERY, milestones.DELIVERED, EXCEPTION)
CONFIRM_MAX_AGE = timedelta(days=7)
CONFIRMATIONS_MAX = 3
RATE_WINDOW = timedelta(hours=1)

_CONFIRM_SALT = "tracking.notify.confirm"
_UNSUBSCRIBE_SALT = "tracking.notify.unsubscribe"


class SubscriptionError(Exception):
    """A request that cannot be honoured; ``status`` is the HTTP status the page answers with."""

    def __init__(self, message: str, *, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


# --- The scan-event hook ---------------------------------------------------------------------


@dataclass(frozen=True)
class Before:
    """A shipment's public state before an event was applied (see ``state_before``)."""

    milestone: str
    exception_open: bool

    def step(self, event: TrackingEvent, shipment: Shipment) -> "Step":
        """Return what ``event`` changed, given ``shipment`` after ``apply_event``."""
        return Step(
            event=event,
            milestone_before=self.milestone,
            milestone_after=shipment.milestone,
            exception_before=self.exception_open,
            exception_after=shipment.exception_open,
        )


@dataclass(frozen=True)
class Step:
    """One recorded event and the change it made to its shipment."""

    event: TrackingEvent
    milestone_before: str
    milestone_after: str
    exception_before: bool
    exception_after: bool

    @property
    def milestone_reached(self) -> str | None:
        return self.milestone_after if self.milestone_after != self.milestone_before else None

    @property
    def exception_opened(self) -> bool:
        return self.exception_after and bool(self.event.reason)

    @property
    def exception_closed(self) -> bool:
        return self.exception_before and not self.exception_after

    @property
    def webhook_type(self) -> str:
        if self.milestone_reached:
            return "tracking.milestone_changed"
        if self.exception_opened:
            return "tracking.exception_opened"
        if self.exception_closed:
            return "tracking.exception_closed"
        return "tracking.scan_recorded"

    def webhook_topics(self) -> set[str]:
        topics = {WebhookEndpoint.Topic.SCAN}
        if self.milestone_reached:
            topics.add(WebhookEndpoint.Topic.MILESTONE)
        if self.exception_opened or self.exception_closed:
            topics.add(WebhookEndpoint.Topic.EXCEPTION)
        return topics


def state_before(shipment: Shipment) -> Before:
    """Return the part of ``shipment``'s state that notifications compare against."""
    return Before(milestone=shipment.milestone, exception_open=shipment.exception_open)


def notifications_owed(*, shipment: Shipment, steps: Sequence[Step]) -> int:
    """Record the e-mails and webhooks owed for ``steps`` of one shipment; return rows offered.

    Call it inside the transaction that stored the events, with the shipment row locked, so
    the outbox rows commit or roll back with the events. See ``notifications_owed_many``.
    """
    return notifications_owed_many(changes=[(shipment, steps)])


def notifications_owed_many(*, changes: Sequence[tuple[Shipment, Sequence[Step]]]) -> int:
    """Record what ``changes`` (shipment, its steps) owe, for any number of shipments at once.

    For bulk ingest: two queries (active subscriptions, active endpoints) whatever the number
    of shipments, one count per shipment that has an endpoint (its sequence numbers), one bulk
    insert per kind of row, and one delivery task, all in the caller's transaction, with the
    shipment rows locked. Unique constraints make a repeated call for the same
    (subscription, milestone) or (endpoint, event) a no-op.
    """
    changes = [(shipment, steps) for shipment, steps in changes if steps]
    if not changes:
        return 0
    subscriptions: dict[int, list[Subscription]] = {}
    for subscription in Subscription.objects.filter(
        shipment__in=[shipment.pk for shipment, _steps in changes], status=Subscription.Status.ACTIVE
    ):
        subscriptions.setdefault(subscription.shipment_id, []).append(subscription)
    endpoints: dict[int, list[WebhookEndpoint]] = {}
    partners = {shipment.partner_id for shipment, _steps in changes if shipment.partner_id}
    if partners:
        for endpoint in WebhookEndpoint.objects.filter(partner__in=partners, is_active=True):
            endpoints.setdefault(endpoint.partner_id, []).append(endpoint)
    emails, deliveries = [], []
    for shipment, steps in changes:
        emails += [
            EmailNotification(subscription=subscription, key=key, event=step.event)
            for step in steps
            for subscription in subscriptions.get(shipment.pk, [])
            for key in _email_keys(step, subscription.topics)
        ]
        if shipment.partner_id in endpoints:
            deliveries += _webhook_deliveries(shipment, steps, endpoints[shipment.partner_id])
    if emails:
        EmailNotification.objects.bulk_create(emails, ignore_conflicts=True)
    if deliveries:
        WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    if emails or deliveries:
        from tracking.tasks import delivery_enqueue

        delivery_enqueue()
    return len(emails) + len(deliveries)


def _email_keys(step: Step, topics: list[str]) -> list[str]:
    keys = []
    if step.milestone_reached and step.milestone_reached in topics:
        keys.append(f"milestone:{step.milestone_reached}")
    if step.exception_opened and EXCEPTION in topics:
        keys.append(f"exception:{step.event.pk}")
    return keys


def _webhook_deliveries(shipment: Shipment, steps: Sequence[Step], endpoints) -> list[WebhookDelivery]:
    ordered = sorted(steps, key=lambda step: step.event.pk)
    # The shipment row is locked by the caller, so no other event of it is being numbered.
    earlier = TrackingEvent.objects.filter(shipment=shipment, pk__lt=ordered[0].event.pk).count()
    deliveries = []
    for position, step in enumerate(ordered, start=earlier + 1):
        wanted = step.webhook_topics()
        for endpoint in endpoints:
            if not wanted.intersection(endpoint.topics):
                continue
            event_id = uuid.uuid4()
            deliveries.append(
                WebhookDelivery(
                    endpoint=endpoint,
                    event=step.event,
                    uuid=event_id,
                    sequence=position,
                    payload=webhook_payload(shipment, step, event_id=event_id, sequence=position),
                )
            )
    return deliveries


def webhook_payload(shipment: Shipment, step: Step, *, event_id: uuid.UUID, sequence: int) -> str:
    """Return the JSON body of a webhook (stored, so that every retry sends the same bytes)."""
    event = step.event
    body = {
        "id": str(event_id),
        "type": step.webhook_type,
        "sequence": sequence,
        "created_at": timezone.now(),
        "data": {
            "tracking_number": shipment.tracking_number,
            "reference": shipment.reference,
            "milestone": step.milestone_after,
            "previous_milestone": step.milestone_before,
            "exception_open": step.exception_after,
            "exception_reason": shipment.exception_reason if step.exception_after else None,
            "event": {
                "code": event.code,
                "milestone": event.milestone or None,
                "reason": event.reason or None,
                "occurred_at": event.occurred_at,
                "facility": event.facility.code if event.facility_id else None,
                "partner_event_id": event.partner_event_id,
            },
        },
    }
    return json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":"))


# --- Subscriptions ---------------------------------------------------------------------------


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
    a keyed hash is stored). Raise SubscriptionError (429) past the hourly limits, (400) for a
    shipment that has reached the end of its journey.
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
    with transaction.atomic():
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
        subscription, created = Subscription.objects.select_for_update().get_or_create(
            shipment=shipment,
            email_hash=sealing.digest(normalized, purpose="notify.email"),
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
        subscription.status = Subscription.Status.PENDING
        subscription.topics = list(topics)
        subscription.language = language
        subscription.confirmations_sent += 1
        subscription.save(update_fields=["status", "topics", "language", "confirmations_sent"])
        EmailNotification.objects.create(subscription=subscription, key=f"confirm:{subscription.confirmations_sent}")
        from tracking.tasks import delivery_enqueue

        delivery_enqueue()
    logger.info("notify subscription %s requested (new=%s)", subscription.pk, created)
    return subscription


def subscription_confirm(*, token: str) -> Subscription:
    """Activate the subscription a confirmation link names; raise SubscriptionError if it cannot."""
    subscription = _from_token(token, salt=_CONFIRM_SALT, max_age=CONFIRM_MAX_AGE)
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
    subscription = _from_token(token, salt=_UNSUBSCRIBE_SALT)
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
    return _from_token(token, salt=_UNSUBSCRIBE_SALT)


def confirm_token(subscription: Subscription) -> str:
    return signing.dumps(subscription.pk, salt=_CONFIRM_SALT)


def unsubscribe_token(subscription: Subscription) -> str:
    return signing.dumps(subscription.pk, salt=_UNSUBSCRIBE_SALT)


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


# --- Messages ---------------------------------------------------------------------------------


def email_message(notification: EmailNotification, *, address: str) -> EmailMultiAlternatives:
    """Return the e-mail for an outbox row to ``address``, in the subscriber's language.

    Every message carries a one-click unsubscribe link and the RFC 8058 headers.
    """
    subscription = notification.subscription
    shipment = subscription.shipment
    unsubscribe_url = settings.PHOENIX_SITE_URL + reverse("notify:unsubscribe", args=[unsubscribe_token(subscription)])
    kind, _sep, detail = notification.key.partition(":")
    with translation.override(subscription.language):
        context = {
            "shipment": shipment,
            "number": shipment.display_number,
            "tracking_url": settings.PHOENIX_SITE_URL + shipment.get_absolute_url(),
            "unsubscribe_url": unsubscribe_url,
            "event": notification.event,
        }
        if kind == "confirm":
            template = "confirm"
            context["confirm_url"] = settings.PHOENIX_SITE_URL + reverse(
                "notify:confirm", args=[confirm_token(subscription)]
            )
        else:
            template = "update"
            context["is_exception"] = kind == "exception"
            if kind == "exception":
                context["reason_label"] = notification.event.get_reason_display()
            else:
                context["milestone_label"] = Milestone(detail).label
        base = f"tracking/notifications/{template}"
        subject = " ".join(render_to_string(f"{base}_subject.txt", context).split())
        text = render_to_string(f"{base}.txt", context)
        html = render_to_string(f"{base}.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        to=[address],
        headers={
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
            "X-QualityPost-Notification": str(notification.pk),
        },
    )
    message.attach_alternative(html, "text/html")
    return message
