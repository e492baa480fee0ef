"""events_ingest as other callers use it (the admin's CSV import): Python values, any source."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from tests import factories
from tracking.models import TrackingEvent
from tracking.services import events_ingest

pytestmark = pytest.mark.django_db


def test_it_takes_datetimes_and_records_the_source():
    partner = factories.partner()
    shipment = factories.shipment(partner=partner, occurred_at=timezone.now() - timedelta(days=1))
    at = timezone.now() - timedelta(hours=1)
    item = {"id": "row-2", "tracking_number": shipment.tracking_number, "code": "departed_facility", "occurred_at": at}
    results = events_ingest(partner=partner, items=[item], source="import")
    assert results == [{"id": "row-2", "status": "accepted", "errors": {}}]
    event = TrackingEvent.objects.get(partner=partner, partner_event_id="row-2")
    assert (event.source, event.occurred_at, event.milestone) == ("import", at, "in_transit")
    assert events_ingest(partner=partner, items=[item], source="import")[0]["status"] == "duplicate"


def test_a_naive_datetime_is_rejected():
    shipment = factories.shipment()
    item = {"id": "r", "tracking_number": shipment.tracking_number, "milestone": "picked_up"}
    results = events_ingest(partner=factories.partner(), items=[{**item, "occurred_at": datetime(2026, 1, 1)}])
    assert results[0]["status"] == "rejected"
    assert "UTC offset" in results[0]["errors"]["occurred_at"][0]


def test_it_lets_staff_callers_without_a_partner_write_any_shipment():
    owned = factories.shipment(partner=factories.partner())
    item = {"id": "row-1", "tracking_number": owned.tracking_number, "milestone": "picked_up"}
    results = events_ingest(partner=None, items=[{**item, "occurred_at": timezone.now()}], source="import")
    assert results == [{"id": "row-1", "status": "accepted", "errors": {}}]
    owned.refresh_from_db()
    assert owned.milestone == "picked_up"


def test_an_empty_batch_answers_nothing_and_queries_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert events_ingest(partner=None, items=[]) == []


def test_one_batch_moves_many_shipments_each_by_its_own_events():
    """The shipments of a batch are written in one statement: each gets its own values back,
    NULLs and booleans included, and the others are left alone."""
    partner = factories.partner()
    start = timezone.now() - timedelta(days=2)
    delivered, held, reopened, untouched = (factories.shipment(partner=partner, occurred_at=start) for _ in range(4))
    at = timezone.now() - timedelta(hours=2)
    events_ingest(
        partner=partner,
        items=[
            {
                "id": "x0",
                "tracking_number": reopened.tracking_number,
                "code": "exception",
                "occurred_at": at,
                "reason": "weather_delay",
            }
        ],
    )
    items = [
        {"id": "a1", "tracking_number": delivered.tracking_number, "code": "out_for_delivery", "occurred_at": at},
        {
            "id": "a2",
            "tracking_number": delivered.tracking_number,
            "code": "delivered",
            "occurred_at": at + timedelta(minutes=30),
        },
        {
            "id": "b1",
            "tracking_number": held.tracking_number,
            "code": "exception",
            "occurred_at": at,
            "reason": "held_at_facility",
        },
        {
            "id": "c1",
            "tracking_number": reopened.tracking_number,
            "code": "departed_facility",
            "occurred_at": at + timedelta(minutes=5),
            "close_exception": True,
        },
    ]
    before = untouched.updated_at
    assert [r["status"] for r in events_ingest(partner=partner, items=items)] == ["accepted"] * 4
    for shipment in (delivered, held, reopened, untouched):
        shipment.refresh_from_db()
    assert (delivered.milestone, delivered.delivered_at) == ("delivered", at + timedelta(minutes=30))
    assert (held.exception_open, held.exception_reason, held.delivered_at) == (True, "held_at_facility", None)
    assert (reopened.exception_open, reopened.milestone) == (False, "in_transit")
    assert untouched.updated_at == before and untouched.milestone == "label_created"
    assert delivered.updated_at == held.updated_at == reopened.updated_at > before
