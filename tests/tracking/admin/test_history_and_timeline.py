"""Audit history in the admin, and the timeline inline: new events recorded, old ones never edited."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.tracking.admin.conftest import change_form_data
from tracking.models import TrackingEvent

pytestmark = pytest.mark.django_db

CHANGE = "/admin/tracking/shipment/{}/change/"


def test_a_change_shows_in_the_history_with_who_made_it(customer_service, shipment):
    data = change_form_data(customer_service.get(CHANGE.format(shipment.pk)))
    data["reference"] = "ORDER-2002"
    response = customer_service.post(CHANGE.format(shipment.pk), data)
    assert response.status_code == 302
    shipment.refresh_from_db()
    assert shipment.reference == "ORDER-2002"
    record = shipment.history.latest()
    assert (record.history_type, record.history_user.username, record.reference) == (
        "~",
        "customer-service-user",
        "ORDER-2002",
    )
    page = customer_service.get(f"/admin/tracking/shipment/{shipment.pk}/history/").content.decode()
    assert "customer-service-user" in page and "ORDER-2002" in page


def test_a_new_timeline_row_goes_through_event_record_and_names_its_author(dispatcher, shipment):
    data = change_form_data(dispatcher.get(CHANGE.format(shipment.pk)))
    when = timezone.localtime(timezone.now() - timedelta(minutes=10))
    extra = int(data["events-INITIAL_FORMS"])
    data.update(
        {
            f"events-{extra}-code": "picked_up",
            f"events-{extra}-occurred_at_0": when.strftime("%Y-%m-%d"),
            f"events-{extra}-occurred_at_1": when.strftime("%H:%M:%S"),
            f"events-{extra}-note": "at the counter",
        }
    )
    response = dispatcher.post(CHANGE.format(shipment.pk), data)
    assert response.status_code == 302
    shipment.refresh_from_db()
    assert shipment.milestone == "picked_up"  # the milestone rules ran
    event = shipment.events.get(code="picked_up")
    assert (event.source, event.created_by.username, event.note) == ("admin", "dispatcher-user", "at the counter")
    record = event.history.get()
    assert (record.history_type, record.history_user.username) == ("+", "dispatcher-user")
    page = dispatcher.get(f"/admin/tracking/trackingevent/{event.pk}/history/").content.decode()
    assert "dispatcher-user" in page


def test_existing_events_cannot_be_edited_or_deleted(administrator, shipment):
    original = shipment.events.get()
    data = change_form_data(administrator.get(CHANGE.format(shipment.pk)))
    data["events-0-note"] = "tampered"
    data["events-0-code"] = "delivered"
    data["events-0-DELETE"] = "on"
    response = administrator.post(CHANGE.format(shipment.pk), data)
    assert response.status_code == 302
    event = TrackingEvent.objects.get(pk=original.pk)
    assert (event.code, event.note) == ("label_created", "")
    assert administrator.post(f"/admin/tracking/trackingevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert administrator.get(f"/admin/tracking/trackingevent/{event.pk}/change/").status_code == 200
    assert TrackingEvent.objects.filter(pk=original.pk).exists()
