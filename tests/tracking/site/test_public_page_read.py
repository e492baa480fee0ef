"""The tracking page's one-query read (fixed SQL) shows exactly what the ORM's view of a shipment does."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests import factories
from tracking.services import event_record
from tracking.site import lookup

pytestmark = pytest.mark.django_db


def _orm_view(number):
    shipment = lookup.shipment_find(number)
    return lookup.shipment_public(shipment, lookup.timeline(shipment))


def test_the_one_query_read_matches_the_orm_for_every_kind_of_timeline():
    now = timezone.now()
    hub = factories.facility("HUB01", city="Monterrey", time_zone="America/Monterrey")
    plain = factories.shipment(occurred_at=now - timedelta(days=2))
    scanned = factories.shipment(occurred_at=now - timedelta(days=3))
    event_record(shipment=scanned, code="picked_up", occurred_at=now - timedelta(days=2), facility=hub)
    # Same instant twice (the id breaks the tie), a scan without a facility, an open exception.
    event_record(shipment=scanned, code="arrived_at_facility", occurred_at=now - timedelta(days=1), facility=hub)
    event_record(shipment=scanned, code="departed_facility", occurred_at=now - timedelta(days=1), facility=hub)
    event_record(shipment=scanned, code="exception", occurred_at=now - timedelta(hours=3), reason="weather_delay")
    # A late scan that happened earlier than the newest: stored, shown in its place.
    event_record(shipment=scanned, code="customs_cleared", occurred_at=now - timedelta(days=1, hours=5))
    for shipment in (plain, scanned):
        assert lookup.public_page(shipment.tracking_number) == _orm_view(shipment.tracking_number)
    public, events = lookup.public_page(scanned.tracking_number)
    assert public.exception_reason == "weather_delay" and public.last_event.code == "exception"
    assert [e.code for e in events][:3] == ["exception", "departed_facility", "arrived_at_facility"]
    assert events[0].time_zone == public.time_zone  # no facility: the destination's zone
    assert all(e.occurred_at.tzinfo is not None for e in events)


def test_an_unknown_number_is_none():
    assert lookup.public_page("QP000000000000") is None
