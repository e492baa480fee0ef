"""The outbox: what a recorded scan event owes (e-mails, webhooks), and staff's re-queueing.

Nothing here sends anything. ``notifications_owed`` runs in the transaction that stored the
events, so the outbox rows commit or roll back with them, and enqueues the worker's task in the
same transaction (tracking/tasks.py); the worker (tracking/notify/sender.py) delivers.
"""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from tracking.models import (
    EmailNotification,
    OutboxStatus,
    PhoneMessage,
    PhoneSubscription,
    Shipment,
    Subscription,
    TrackingEvent,
    WebhookDelivery,
    WebhookEndpoint,
)
from tracking.notify.subscriptions import EXCEPTION
from tracking.tasks import delivery_enqueue


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

    For bulk ingest: three queries (active e-mail and phone subscriptions, active endpoints) whatever the number
    of shipments, one count per shipment that has an endpoint (its sequence numbers), one bulk
    insert per kind of row, and one delivery task, all in the caller's transaction, with the
    shipment rows locked. Unique constraints make a repeated call for the same
    (subscription, milestone) or (endpoint, event) a no-op.
    """
    changes = [(shipment, steps) for shipment, steps in changes if steps]
    if not changes:
        return 0
    subscriptions: dict[int, list[Subscription]] = {}
    # A sandbox shipment e-mails nobody; its partner's webhooks still fire (that is what it tests).
    for subscription in Subscription.objects.filter(
        shipment__in=[shipment.pk for shipment, _steps in changes if not shipment.is_test],
        status=Subscription.Status.ACTIVE,
    ):
        subscriptions.setdefault(subscription.shipment_id, []).append(subscription)
    phones: dict[int, list[PhoneSubscription]] = {}
    for phone in PhoneSubscription.objects.filter(
        shipment__in=[shipment.pk for shipment, _steps in changes], status=PhoneSubscription.Status.ACTIVE
    ):
        phones.setdefault(phone.shipment_id, []).append(phone)
    endpoints: dict[int, list[WebhookEndpoint]] = {}
    partners = {shipment.partner_id for shipment, _steps in changes if shipment.partner_id}
    if partners:
        for endpoint in WebhookEndpoint.objects.filter(partner__in=partners, is_active=True):
            endpoints.setdefault(endpoint.partner_id, []).append(endpoint)
    emails, deliveries, messages = [], [], []
    for shipment, steps in changes:
        emails += [
            EmailNotification(subscription=subscription, key=key, event=step.event)
            for step in steps
            for subscription in subscriptions.get(shipment.pk, [])
            for key in _email_keys(step, subscription.topics)
        ]
        messages += [
            PhoneMessage(subscription=phone, key=key, event=step.event, channel=phone.channel)
            for step in steps
            for phone in phones.get(shipment.pk, [])
            for key in _email_keys(step, phone.topics)
        ]
        if shipment.partner_id in endpoints:
            deliveries += _webhook_deliveries(shipment, steps, endpoints[shipment.partner_id])
    if emails:
        EmailNotification.objects.bulk_create(emails, ignore_conflicts=True)
    if deliveries:
        WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    if messages:
        PhoneMessage.objects.bulk_create(messages, ignore_conflicts=True)
    if emails or deliveries or messages:
        delivery_enqueue()
    return len(emails) + len(deliveries) + len(messages)


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


# --- Sending again (staff's decisions) ----------------------------------------------------


def deliveries_replay(*, deliveries, now: datetime | None = None) -> int:
    """Queue ``deliveries`` (failed or sent) to be sent again, with their original event ids."""
    count = (
        WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries], endpoint__is_active=True)
        .exclude(status__in=[OutboxStatus.CLAIMED, OutboxStatus.SENDING])
        .update(status=OutboxStatus.PENDING, next_attempt_at=now or timezone.now(), last_error="")
    )
    if count:
        delivery_enqueue()
    return count


def emails_resend(*, notifications, now: datetime | None = None) -> int:
    """Queue uncertain or failed e-mails of active subscriptions again (staff's decision)."""
    count = EmailNotification.objects.filter(
        pk__in=[n.pk for n in notifications],
        status__in=[OutboxStatus.UNCERTAIN, OutboxStatus.FAILED],
        subscription__status=Subscription.Status.ACTIVE,
    ).update(status=OutboxStatus.PENDING, next_attempt_at=now or timezone.now(), attempts=0, last_error="")
    if count:
        delivery_enqueue()
    return count


def endpoint_enable(*, endpoint: WebhookEndpoint, now: datetime | None = None) -> int:
    """Re-enable a disabled endpoint and queue its failed deliveries again; return how many."""
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=True, disabled_at=None, failing_since=None)
        failed = list(WebhookDelivery.objects.filter(endpoint=endpoint, status=OutboxStatus.FAILED))
        return deliveries_replay(deliveries=failed, now=now)
