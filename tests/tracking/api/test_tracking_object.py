"""The tracking object's richer fields: link, ids and sequence, time zones, messages, action needed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests import factories
from tests.tracking.api.support import error_of
from tracking.services import event_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def story(partner_and_client):
    partner, client = partner_and_client
    t0 = timezone.now() - timedelta(days=1)
    hub = factories.facility("MTY09", city="Monterrey", time_zone="America/Monterrey")
    shipment = factories.shipment(partner=partner, occurred_at=t0)
    event_record(shipment=shipment, code="picked_up", occurred_at=t0 + timedelta(hours=2), facility=hub)
    # Recorded last, scanned earlier: the sequence follows the recording, the list the scan time.
    event_record(shipment=shipment, code="arrived_at_facility", occurred_at=t0 + timedelta(hours=1), facility=hub)
    return partner, client, shipment


def test_it_links_the_public_page_and_says_when_it_changed(story, settings):
    _partner, client, shipment = story
    body = client.get(f"/api/v1/tracking/{shipment.tracking_number}").json()
    assert body["public_url"] == f"{settings.PHOENIX_SITE_URL}/track/{shipment.tracking_number}/"
    assert body["updated_at"]


def test_it_numbers_events_in_recorded_order_with_the_ids_of_the_events_feed(story, settings):
    _partner, client, shipment = story
    settings.PHOENIX_FEED_SETTLE_SECONDS = 0
    events = client.get(f"/api/v1/tracking/{shipment.tracking_number}").json()["events"]
    assert [(e["code"], e["sequence"]) for e in events] == [
        ("picked_up", 2),
        ("arrived_at_facility", 3),
        ("label_created", 1),
    ]
    feed = client.get("/api/v1/events").json()["events"]
    assert [e["id"] for e in sorted(events, key=lambda e: e["sequence"])] == [e["id"] for e in feed]
    assert events[0]["time_zone"] == "America/Monterrey"


@pytest.mark.parametrize(
    ("lang", "status", "event"),
    [("es", "Recolectado", "Recolectado"), ("en", "Picked up", "Picked up")],
)
def test_it_says_the_status_in_the_language_asked(story, lang, status, event):
    _partner, client, shipment = story
    body = client.get(f"/api/v1/tracking/{shipment.tracking_number}?lang={lang}").json()
    assert body["message"] == status
    assert body["events"][0]["message"] == event
    assert "message" not in client.get(f"/api/v1/tracking/{shipment.tracking_number}").json()


def test_an_unknown_language_is_a_clear_400(story):
    _partner, client, shipment = story
    for path in (f"/api/v1/tracking/{shipment.tracking_number}?lang=fr", "/api/v1/tracking?numbers=QP1&lang=fr"):
        response = client.get(path)
        assert response.status_code == 400
        assert "lang" in error_of(response)["fields"]


@pytest.mark.parametrize(
    ("reason", "group", "action"),
    [
        ("address_issue", "address", True),
        ("recipient_not_home", "recipient", True),
        ("weather_delay", "weather", False),
    ],
)
def test_it_says_what_an_exception_is_about_and_whether_someone_must_act(story, reason, group, action):
    _partner, client, shipment = story
    event_record(shipment=shipment, code="exception", reason=reason, occurred_at=timezone.now())
    body = client.get(f"/api/v1/tracking/{shipment.tracking_number}?lang=es").json()
    assert body["exception"] == {"open": True, "reason": reason, "group": group}
    assert body["action_required"] is action
    assert body["message"].startswith("Recolectado: ")


def test_nothing_is_required_of_anyone_while_the_parcel_moves(story):
    _partner, client, shipment = story
    body = client.get(f"/api/v1/tracking/{shipment.tracking_number}").json()
    assert body["action_required"] is False
    assert body["exception"] == {"open": False, "reason": None, "group": None}
