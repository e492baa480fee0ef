"""GET /api/v1/shipments?updated_after= and GET /api/v1/events?after=: the partner's changes feeds."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests import factories
from tests.tracking.api.support import ApiClient, error_of
from tracking.models import Shipment, TrackingEvent
from tracking.services import event_record

pytestmark = pytest.mark.django_db


def _aged(shipments, start, step=timedelta(minutes=1)) -> list[Shipment]:
    """Give the shipments distinct change times, oldest first, well outside the settle window."""
    for index, shipment in enumerate(shipments):
        Shipment.objects.filter(pk=shipment.pk).update(updated_at=start + index * step)
    return shipments


def _walk(client: ApiClient, first: str, key: str) -> tuple[list[dict], list]:
    """Follow ``next`` from ``first``; return every item and each page's response."""
    items, pages, url = [], [], first
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        pages.append(response)
        items += response.json()[key]
        url = response.json()["next"]
    return items, pages


@pytest.fixture
def feed(partner_and_client):
    partner, client = partner_and_client
    start = timezone.now() - timedelta(hours=2)
    mine = _aged([factories.shipment(partner=partner) for _ in range(7)], start)
    _aged([factories.shipment(partner=factories.partner()) for _ in range(2)], start)
    return partner, client, mine, start


def test_it_pages_a_partners_changed_shipments_oldest_change_first_without_gaps(feed):
    _partner, client, mine, start = feed
    since = (start - timedelta(seconds=1)).isoformat()
    items, pages = _walk(client, f"/api/v1/shipments?updated_after={since.replace('+', '%2B')}&limit=3", "shipments")
    assert [item["tracking_number"] for item in items] == [s.tracking_number for s in mine]
    assert [len(page.json()["shipments"]) for page in pages] == [3, 3, 1]
    assert pages[0]["Link"] == f'<{pages[0].json()["next"]}>; rel="next"'
    assert "Link" not in pages[-1]
    assert items[0]["private"]["recipient"]["name"] and items[0]["updated_at"]


def test_it_starts_at_the_time_given_and_includes_it(feed):
    _partner, client, mine, start = feed
    since = (start + timedelta(minutes=5)).isoformat().replace("+", "%2B")
    items, _pages = _walk(client, f"/api/v1/shipments?updated_after={since}", "shipments")
    assert [item["tracking_number"] for item in items] == [s.tracking_number for s in mine[5:]]


def test_it_moves_a_shipment_changed_again_to_the_end(feed):
    _partner, client, mine, start = feed
    event_record(shipment=mine[0], code="picked_up", occurred_at=timezone.now())
    Shipment.objects.filter(pk=mine[0].pk).update(updated_at=timezone.now() - timedelta(minutes=1))
    items, _pages = _walk(client, f"/api/v1/shipments?updated_after={start.date().isoformat()}T00:00:00Z", "shipments")
    assert [item["tracking_number"] for item in items] == [s.tracking_number for s in [*mine[1:], mine[0]]]
    assert items[-1]["milestone"] == "picked_up"


def test_it_leaves_changes_younger_than_the_settle_window_for_a_later_page(feed, settings):
    _partner, client, mine, start = feed
    event_record(shipment=mine[2], code="picked_up", occurred_at=timezone.now())  # updated just now
    since = f"{start.date().isoformat()}T00:00:00Z"
    items, _pages = _walk(client, f"/api/v1/shipments?updated_after={since}", "shipments")
    assert mine[2].tracking_number not in [item["tracking_number"] for item in items]
    settings.PHOENIX_FEED_SETTLE_SECONDS = 0
    items, _pages = _walk(client, f"/api/v1/shipments?updated_after={since}", "shipments")
    assert items[-1]["tracking_number"] == mine[2].tracking_number


def test_it_costs_the_same_queries_on_every_page(feed):
    _partner, client, _mine, start = feed
    url = f"/api/v1/shipments?updated_after={start.date().isoformat()}T00:00:00Z&limit=2"
    client.get(url)  # the token's first use of the minute records last_used_at and a pin
    counts = []
    while url:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        counts.append(len(queries))
        url = response.json()["next"]
    assert len(counts) == 4 and len(set(counts)) == 1, counts


def test_it_lists_the_events_of_the_partners_shipments_in_recorded_order(feed, settings):
    partner, client, mine, _start = feed
    settings.PHOENIX_FEED_SETTLE_SECONDS = 0
    other = factories.shipment(partner=factories.partner())
    event_record(shipment=other, code="picked_up", occurred_at=timezone.now())
    posted = client.post(
        "/api/v1/events",
        {
            "events": [
                {
                    "id": "mine-1",
                    "tracking_number": mine[3].tracking_number,
                    "milestone": "picked_up",
                    "occurred_at": timezone.now().isoformat(),
                }
            ]
        },
    )
    assert posted.json()["accepted"] == 1
    items, pages = _walk(client, "/api/v1/events?limit=4", "events")
    expected = TrackingEvent.objects.filter(shipment__partner=partner).order_by("pk")
    assert [item["tracking_number"] for item in items] == [e.shipment.tracking_number for e in expected]
    assert other.tracking_number not in {item["tracking_number"] for item in items}
    assert [item["partner_event_id"] for item in items if item["partner_event_id"]] == ["mine-1"]
    assert len({item["id"] for item in items}) == len(items) and all(item["id"].isascii() for item in items)
    assert pages[-1].json()["cursor"] == items[-1]["id"]


def test_it_lets_a_poller_resume_from_its_cursor(feed, settings):
    _partner, client, mine, _start = feed
    settings.PHOENIX_FEED_SETTLE_SECONDS = 0
    _items, pages = _walk(client, "/api/v1/events?limit=500", "events")
    cursor = pages[-1].json()["cursor"]
    assert client.get(f"/api/v1/events?after={cursor}").json()["events"] == []
    event_record(shipment=mine[1], code="picked_up", occurred_at=timezone.now())
    later = client.get(f"/api/v1/events?after={cursor}").json()
    assert [(e["tracking_number"], e["code"]) for e in later["events"]] == [(mine[1].tracking_number, "picked_up")]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("/api/v1/shipments", "updated_after"),
        ("/api/v1/shipments?updated_after=yesterday", "updated_after"),
        ("/api/v1/shipments?updated_after=2026-11-27T10:00:00", "updated_after"),
        ("/api/v1/shipments?updated_after=2026-11-27T10:00:00Z&limit=0", "limit"),
        ("/api/v1/shipments?updated_after=2026-11-27T10:00:00Z&limit=501", "limit"),
        ("/api/v1/shipments?cursor=not-a-cursor", "cursor"),
        ("/api/v1/shipments?cursor=%E2%9C%93", "cursor"),
        ("/api/v1/events?after=ZXg", "after"),
        ("/api/v1/events?after=eyJ4IjoxfQ", "after"),
        ("/api/v1/events?limit=abc", "limit"),
        # Digits Python's isdigit() takes: a superscript (int() refuses it: was a 500) and an
        # Arabic-Indic three (int() takes it: was a 200 on a schema-invalid value).
        ("/api/v1/events?limit=%C2%B2", "limit"),
        ("/api/v1/events?limit=%D9%A3", "limit"),
        # Not RFC 3339 (the schema's date-time), though parse_datetime would take them.
        ("/api/v1/shipments?updated_after=2026-11-27%2010:00:00Z", "updated_after"),
        ("/api/v1/shipments?updated_after=2026-11-27T10:00Z", "updated_after"),
    ],
)
def test_bad_feed_parameters_get_a_clear_400(partner_and_client, query, field):
    _partner, client = partner_and_client
    response = client.get(query)
    assert response.status_code == 400
    assert field in error_of(response)["fields"]


@pytest.mark.parametrize("path", ["/api/v1/shipments?updated_after=2026-11-27T10:00:00Z", "/api/v1/events"])
def test_the_feeds_need_a_partner_token(anonymous, path):
    response = anonymous.get(path)
    assert response.status_code == 401
    assert error_of(response)["code"]
