from datetime import timedelta

import pytest
from django.utils import timezone

from tests import factories
from tracking.models import TrackingEvent
from tracking.services import event_record

pytestmark = pytest.mark.django_db


def test_it_moves_the_milestone_and_stores_the_event():
    shipment = factories.shipment()
    event_record(shipment=shipment, code="picked_up", occurred_at=timezone.now())
    shipment.refresh_from_db()
    assert shipment.milestone == "picked_up"
    assert list(shipment.events.order_by("occurred_at").values_list("code", flat=True)) == [
        "label_created",
        "picked_up",
    ]


def test_a_late_event_joins_the_timeline_without_moving_the_milestone_back():
    t0 = timezone.now() - timedelta(days=2)
    shipment = factories.shipment(occurred_at=t0)
    event_record(shipment=shipment, code="picked_up", occurred_at=t0 + timedelta(hours=1))
    event_record(shipment=shipment, code="out_for_delivery", occurred_at=t0 + timedelta(hours=30))
    event_record(shipment=shipment, code="delivered", occurred_at=t0 + timedelta(hours=33))
    # A hub scanner uploads its in-transit scan from the day before, after delivery.
    event_record(shipment=shipment, code="arrived_at_facility", occurred_at=t0 + timedelta(hours=12))
    shipment.refresh_from_db()
    assert shipment.milestone == "delivered"
    assert shipment.delivered_at == t0 + timedelta(hours=33)
    timeline = list(shipment.events.order_by("-occurred_at").values_list("code", flat=True))
    assert timeline == ["delivered", "out_for_delivery", "arrived_at_facility", "picked_up", "label_created"]


def test_an_exception_is_a_flag_beside_the_milestone():
    shipment = factories.shipment()
    now = timezone.now()
    event_record(shipment=shipment, code="out_for_delivery", occurred_at=now)
    event_record(
        shipment=shipment, code="delivery_attempted", reason="recipient_not_home", occurred_at=now + timedelta(hours=2)
    )
    shipment.refresh_from_db()
    assert (shipment.milestone, shipment.exception_open, shipment.exception_reason) == (
        "delivery_attempted",
        True,
        "recipient_not_home",
    )
    event_record(
        shipment=shipment, code="exception_cleared", close_exception=True, occurred_at=now + timedelta(hours=20)
    )
    shipment.refresh_from_db()
    assert shipment.milestone == "delivery_attempted"
    assert shipment.exception_open is False


def test_a_late_exception_does_not_reopen_a_closed_one():
    shipment = factories.shipment()
    now = timezone.now()
    event_record(shipment=shipment, code="exception_cleared", close_exception=True, occurred_at=now)
    event_record(shipment=shipment, code="exception", reason="weather_delay", occurred_at=now - timedelta(hours=5))
    shipment.refresh_from_db()
    assert shipment.exception_open is False


def test_events_are_immutable():
    shipment = factories.shipment()
    event = shipment.events.get()
    event.note = "edited"
    with pytest.raises(ValueError, match="immutable"):
        event.save()
    assert TrackingEvent.objects.get(pk=event.pk).note == ""


def test_unknown_event_codes_are_refused():
    shipment = factories.shipment()
    with pytest.raises(ValueError, match="unknown event code"):
        event_record(shipment=shipment, code="teleported", occurred_at=timezone.now())
    assert shipment.events.count() == 1
