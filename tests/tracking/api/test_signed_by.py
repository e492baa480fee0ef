"""signed_by: who recorded each event, shown to the shipment's owner; and the events feed read
from the events' own owner column (no join to shipments)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests import factories
from tests.tracking.api.support import ApiClient
from tracking.api.tokens import partner_token_create
from tracking.models import EventSource, PartnerScope, TrackingEvent
from tracking.services import event_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def settled(settings):
    settings.PHOENIX_FEED_SETTLE_SECONDS = 0


def post_scan(client, number, event_id, **fields):
    item = {"id": event_id, "tracking_number": number, "milestone": "in_transit", **fields}
    item.setdefault("occurred_at", timezone.now().isoformat())
    answer = client.post("/api/v1/events", {"events": [item]})
    assert answer.json()["accepted"] == 1, answer.content


def test_the_owner_sees_which_token_and_partner_recorded_each_scan(settled):
    owner = factories.partner(name="Tienda Ejemplo")
    token, key = partner_token_create(partner=owner, name="warehouse scanner")
    client = ApiClient(key)
    hub = factories.facility("HUB01")
    shipment = factories.shipment(partner=owner)
    post_scan(client, shipment.tracking_number, "mine-1")
    scanner = factories.partner(name="Hub Norte")
    PartnerScope.objects.create(partner=scanner, kind=PartnerScope.Kind.HUB, facility=hub)
    _, scanner_key = partner_token_create(partner=scanner, name="their secret system")
    post_scan(ApiClient(scanner_key), shipment.tracking_number, "hub-1", facility="HUB01", milestone="at_destination")
    event_record(shipment=shipment, code="note", note="called", occurred_at=timezone.now(), source=EventSource.ADMIN)

    body = client.get(f"/api/v1/tracking/{shipment.tracking_number}").json()
    signed = sorted(
        (e["signed_by"]["source"], e["signed_by"]["partner"] or "", e["signed_by"]["token"] or {})
        for e in body["private"]["events"]
    )
    assert signed == [
        ("admin", "", {}),
        ("api", "Hub Norte", {}),  # another partner's token is not named
        ("api", "Tienda Ejemplo", {"prefix": token.prefix, "name": "warehouse scanner"}),
        ("system", "Tienda Ejemplo", {}),  # the label, created with the shipment
    ]
    assert TrackingEvent.objects.get(partner_event_id="mine-1").token == token

    feed = client.get("/api/v1/events").json()["events"]
    assert {e["partner_event_id"]: e["signed_by"]["token"] for e in feed if e["partner_event_id"]} == {
        "mine-1": {"prefix": token.prefix, "name": "warehouse scanner"}
    }
    assert {e["signed_by"]["partner"] for e in feed} >= {"Tienda Ejemplo", "Hub Norte"}
    # Neither the public nor another partner sees who recorded what.
    for reader in (ApiClient(), ApiClient(scanner_key)):
        other = reader.get(f"/api/v1/tracking/{shipment.tracking_number}").json()
        assert "private" not in other and all("signed_by" not in e for e in other["events"])
    # The hub's own feed holds the events of its own shipments only: none.
    assert ApiClient(scanner_key).get("/api/v1/events").json()["events"] == []


def test_the_events_feed_reads_the_owner_column_not_the_shipments(settled):
    partner, key = factories.partner_token()
    client = ApiClient(key)
    for _ in range(3):
        factories.shipment(partner=partner)
    factories.shipment(partner=factories.partner())
    assert set(TrackingEvent.objects.filter(owner=partner).values_list("shipment__partner", flat=True)) == {partner.pk}
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/api/v1/events").json()
    assert len(page["events"]) == 3
    (feed_query,) = [q["sql"] for q in queries if "FROM `tracking_trackingevent`" in q["sql"]]
    assert "`tracking_trackingevent`.`owner_id` = " in feed_query
    assert "tracking_shipment" not in feed_query
    # The plan of the same filter reads the (owner, id) index.
    assert "event_owner_feed" in TrackingEvent.objects.filter(owner=partner, pk__gt=0).order_by("pk")[:101].explain()
