"""Scan and exception actions: an intermediate form with a reason, then event_record per shipment."""

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.utils import timezone

from tests import factories
from tests.tracking.admin.conftest import messages_of, shipment_made_yesterday
from tracking.models import TrackingEvent
from tracking.services import event_record

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/tracking/shipment/"


def _action(client, action, shipments, **fields):
    data = {"action": action, "_selected_action": [s.pk for s in shipments], **fields}
    return client.post(CHANGELIST, data, follow=True)


def _when(moment):
    local = timezone.localtime(moment)
    return {"occurred_at_0": local.strftime("%Y-%m-%d"), "occurred_at_1": local.strftime("%H:%M:%S")}


def test_it_asks_for_the_scan_details_before_recording_anything(dispatcher, shipment):
    response = _action(dispatcher, "record_scan", [shipment])
    assert response.status_code == 200
    assert b"Reason for this change" in response.content
    assert shipment.tracking_number.encode() in response.content
    assert shipment.events.count() == 1


def test_a_scan_without_a_reason_is_refused_and_nothing_is_recorded(dispatcher, shipment):
    response = _action(
        dispatcher, "record_scan", [shipment], apply="1", code="picked_up", justification="  ", **_when(timezone.now())
    )
    assert response.status_code == 200
    assert response.context["form"].errors["justification"]
    assert shipment.events.count() == 1


def test_a_dispatcher_records_a_scan_on_each_selected_shipment(dispatcher, shipment):
    other = shipment_made_yesterday()
    hub = factories.facility("MEX09")
    when = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    response = _action(
        dispatcher,
        "record_scan",
        [shipment, other],
        apply="1",
        code="picked_up",
        facility=hub.pk,
        note="collected at the counter",
        justification="scanner offline at MEX09",
        **_when(when),
    )
    assert response.status_code == 200
    for s in (shipment, other):
        s.refresh_from_db()
        assert s.milestone == "picked_up"
        event = s.events.get(code="picked_up")
        assert (event.source, event.created_by.username, event.facility, event.occurred_at) == (
            "admin",
            "dispatcher-user",
            hub,
            when,
        )
        assert event.note == "collected at the counter"
        assert LogEntry.objects.filter(object_id=str(s.pk), change_message__contains="scanner offline").exists()
    texts = messages_of(response)
    assert any(shipment.tracking_number in t and "label_created → picked_up" in t for t in texts)
    assert any(other.tracking_number in t for t in texts)


def test_a_scan_that_would_move_backwards_joins_the_timeline_and_says_so(dispatcher, shipment):
    event_record(shipment=shipment, code="delivered", occurred_at=timezone.now())
    response = _action(
        dispatcher,
        "record_scan",
        [shipment],
        apply="1",
        code="in_transit",
        justification="late upload",
        **_when(timezone.now() - timedelta(hours=3)),
    )
    shipment.refresh_from_db()
    assert shipment.milestone == "delivered"
    assert shipment.events.filter(code="in_transit").exists()
    assert any("milestone stays delivered" in t for t in messages_of(response))


def test_opening_and_closing_an_exception(dispatcher, shipment):
    response = _action(
        dispatcher,
        "open_exception",
        [shipment],
        apply="1",
        reason="weather_delay",
        justification="storm",
        **_when(timezone.now() - timedelta(minutes=30)),
    )
    shipment.refresh_from_db()
    assert (shipment.exception_open, shipment.exception_reason) == (True, "weather_delay")
    assert any("exception weather_delay opened" in t for t in messages_of(response))

    response = _action(
        dispatcher, "close_exception", [shipment], apply="1", justification="road open again", **_when(timezone.now())
    )
    shipment.refresh_from_db()
    assert shipment.exception_open is False
    assert shipment.milestone == "label_created"
    assert list(shipment.events.order_by("occurred_at").values_list("code", flat=True)) == [
        "label_created",
        "exception",
        "exception_cleared",
    ]
    assert any("exception closed" in t for t in messages_of(response))


def test_each_shipment_gets_its_own_failure_message(dispatcher, shipment):
    delivered = shipment_made_yesterday()
    event_record(shipment=delivered, code="delivered", occurred_at=timezone.now() - timedelta(hours=1))
    response = _action(
        dispatcher,
        "open_exception",
        [shipment, delivered],
        apply="1",
        reason="damaged",
        justification="box torn",
        **_when(timezone.now()),
    )
    texts = messages_of(response)
    assert any(delivered.tracking_number in t and "no exception opened" in t for t in texts)
    assert any(shipment.tracking_number in t and "opened" in t for t in texts)
    assert not delivered.events.filter(code="exception").exists()

    response = _action(
        dispatcher, "close_exception", [delivered], apply="1", justification="n/a", **_when(timezone.now())
    )
    assert any(delivered.tracking_number in t and "has no open exception" in t for t in messages_of(response))
    assert not TrackingEvent.objects.filter(shipment=delivered, code="exception_cleared").exists()
