"""The scan-event path records what is owed in the event's own transaction, once."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from tests import factories
from tracking import milestones
from tracking.models import EmailNotification, Shipment, TrackingEvent, WebhookDelivery
from tracking.notify import webhooks
from tracking.notify.outbox import Before, notifications_owed, notifications_owed_many, state_before
from tracking.services import event_record

pytestmark = pytest.mark.django_db


def shipment_with_listeners(settings, topics):
    """Return a partner shipment with an active subscriber and a webhook endpoint."""
    settings.PHOENIX_WEBHOOK_ALLOW_LOOPBACK = True
    partner = factories.partner()
    webhooks.endpoint_create(partner=partner, url="http://127.0.0.1:9/hook", topics=topics)
    shipment = factories.shipment(partner=partner)
    factories.subscription(shipment)
    return shipment


def test_an_event_rolled_back_owes_nothing(settings):
    shipment = shipment_with_listeners(settings, ["scan"])
    tasks_before = DBTaskResult.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        event_record(shipment=shipment, code="out_for_delivery", occurred_at=timezone.now())
        raise RuntimeError("the request failed after the event was recorded")
    assert not TrackingEvent.objects.filter(code="out_for_delivery").exists()
    assert not EmailNotification.objects.exists()
    assert not WebhookDelivery.objects.exists()
    assert DBTaskResult.objects.count() == tasks_before

    event_record(shipment=shipment, code="out_for_delivery", occurred_at=timezone.now())
    assert EmailNotification.objects.count() == 1
    assert WebhookDelivery.objects.count() == 1
    assert DBTaskResult.objects.count() == tasks_before + 1  # the worker is woken in the same commit


def test_recording_the_same_steps_twice_owes_them_once(settings):
    shipment = shipment_with_listeners(settings, ["milestone"])
    before = Before(milestone=shipment.milestone, exception_open=False)
    event = event_record(shipment=shipment, code="out_for_delivery", occurred_at=timezone.now())
    shipment.refresh_from_db()
    # A retried ingest (or a bug) calls the hook again for the same event.
    with transaction.atomic():
        notifications_owed(shipment=shipment, steps=[before.step(event, shipment)])
    assert list(EmailNotification.objects.values_list("key", flat=True)) == ["milestone:out_for_delivery"]
    assert WebhookDelivery.objects.count() == 1


def test_a_pending_subscription_is_owed_nothing():
    shipment = factories.shipment()
    factories.subscription(shipment, status="pending")
    event_record(shipment=shipment, code="out_for_delivery", occurred_at=timezone.now())
    assert not EmailNotification.objects.exists()


def test_bulk_ingest_owes_for_many_shipments_in_a_fixed_number_of_queries(settings, django_assert_max_num_queries):
    shipments = [shipment_with_listeners(settings, ["milestone"]) for _i in range(5)]
    steps = {}
    with transaction.atomic():
        for shipment in shipments:
            locked = Shipment.objects.select_for_update().get(pk=shipment.pk)
            before = state_before(locked)
            event = TrackingEvent.objects.create(
                shipment=locked, code="out_for_delivery", milestone="out_for_delivery", occurred_at=timezone.now()
            )
            milestones.apply_event(locked, event)
            steps[locked] = [before.step(event, locked)]
        # e-mail and phone subscriptions + endpoints + one count per shipment + 2 inserts + the task row
        with django_assert_max_num_queries(3 + len(shipments) + 2 + 2):
            notifications_owed_many(changes=list(steps.items()))
    assert EmailNotification.objects.count() == 5
    assert WebhookDelivery.objects.count() == 5


def test_bulk_ingest_records_what_its_events_owe_once(settings):
    """The API's bulk path (events_ingest) feeds the same outbox as event_record."""
    from tracking.services import events_ingest

    shipment = shipment_with_listeners(settings, ["scan", "milestone"])
    now = timezone.now()
    items = [
        {
            "id": "hub-1",
            "tracking_number": shipment.tracking_number,
            "milestone": "in_transit",
            "occurred_at": now.isoformat(),
        },
        {
            "id": "hub-2",
            "tracking_number": shipment.tracking_number,
            "milestone": "out_for_delivery",
            "occurred_at": (now + timedelta(minutes=5)).isoformat(),
        },
    ]
    results = events_ingest(partner=shipment.partner, items=items)
    assert [r["status"] for r in results] == ["accepted", "accepted"]
    stored = set(TrackingEvent.objects.filter(partner_event_id__in=["hub-1", "hub-2"]).values_list("pk", flat=True))
    assert set(WebhookDelivery.objects.values_list("event_id", flat=True)) == stored
    assert list(EmailNotification.objects.values_list("key", flat=True)) == ["milestone:out_for_delivery"]

    replay = events_ingest(partner=shipment.partner, items=items)
    assert [r["status"] for r in replay] == ["duplicate", "duplicate"]
    assert WebhookDelivery.objects.count() == 2
    assert EmailNotification.objects.count() == 1
