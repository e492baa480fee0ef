"""POST /api/v1/events: idempotent bulk scan-event ingest with per-item results."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests import factories
from tests.tracking.api.support import ApiClient, error_of
from tracking import numbers
from tracking.models import PartnerScope, Shipment, TrackingEvent

pytestmark = pytest.mark.django_db

URL = "/api/v1/events"


def _iso(moment) -> str:
    return moment.astimezone(timezone.get_fixed_timezone(-360)).isoformat()


def _event(shipment, event_id: str, milestone: str = "in_transit", at=None, **extra) -> dict:
    return {
        "id": event_id,
        "tracking_number": shipment.tracking_number,
        "milestone": milestone,
        "occurred_at": _iso(at or timezone.now()),
        **extra,
    }


def _unknown_number() -> str:
    while True:
        number = numbers.generate()
        if not Shipment.objects.filter(tracking_number=number).exists():
            return number


def test_it_accepts_events_and_moves_the_milestone(partner_and_client):
    partner, client = partner_and_client
    hub = factories.facility("MEX01", city="Ciudad de México")
    shipment = factories.shipment(partner=partner, occurred_at=timezone.now() - timedelta(hours=5))
    t0 = timezone.now() - timedelta(hours=3)
    response = client.post(
        URL,
        {
            "events": [
                _event(shipment, "scan-1", "picked_up", t0, facility="MEX01"),
                _event(shipment, "scan-2", "in_transit", t0 + timedelta(hours=1), facility="mex01", note="Linehaul"),
            ]
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["results"] == [
        {"id": "scan-1", "status": "accepted", "errors": {}},
        {"id": "scan-2", "status": "accepted", "errors": {}},
    ]
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (2, 0, 0)
    shipment.refresh_from_db()
    assert shipment.milestone == "in_transit"
    assert shipment.milestone_at == t0 + timedelta(hours=1)
    stored = TrackingEvent.objects.get(partner=partner, partner_event_id="scan-2")
    assert (stored.facility, stored.note, stored.source) == (hub, "Linehaul", "api")


def test_a_replay_changes_nothing_and_answers_duplicate(partner_and_client):
    partner, client = partner_and_client
    shipment = factories.shipment(partner=partner)
    payload = {"events": [_event(shipment, "scan-1", "picked_up"), _event(shipment, "scan-2", "in_transit")]}
    assert client.post(URL, payload).json()["accepted"] == 2
    shipment.refresh_from_db()
    before = (shipment.milestone, shipment.milestone_at, shipment.updated_at, shipment.events.count())

    replay = client.post(URL, payload)
    assert replay.status_code == 200
    assert [r["status"] for r in replay.json()["results"]] == ["duplicate", "duplicate"]
    shipment.refresh_from_db()
    assert (shipment.milestone, shipment.milestone_at, shipment.updated_at, shipment.events.count()) == before


def test_a_mixed_batch_answers_each_item(partner_and_client):
    partner, client = partner_and_client
    shipment = factories.shipment(partner=partner)
    client.post(URL, {"events": [_event(shipment, "old-1", "picked_up")]})
    unknown = _unknown_number()
    body = client.post(
        URL,
        {
            "events": [
                _event(shipment, "new-1", "in_transit"),
                _event(shipment, "old-1", "picked_up"),
                {**_event(shipment, "bad-1"), "tracking_number": unknown},
                _event(shipment, "new-1", "in_transit"),  # the same id twice in one batch
            ]
        },
    ).json()
    assert [r["status"] for r in body["results"]] == ["accepted", "duplicate", "rejected", "duplicate"]
    assert body["results"][2]["errors"] == {"tracking_number": [f"No shipment has the tracking number {unknown}."]}
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (1, 2, 1)
    assert shipment.events.filter(partner_event_id="new-1").count() == 1


def test_a_late_event_is_stored_without_moving_the_milestone_back(partner_and_client):
    partner, client = partner_and_client
    t0 = timezone.now() - timedelta(days=2)
    shipment = factories.shipment(partner=partner, occurred_at=t0)
    client.post(URL, {"events": [_event(shipment, "d", "delivered", t0 + timedelta(hours=30))]})
    late = client.post(URL, {"events": [_event(shipment, "t", "in_transit", t0 + timedelta(hours=10))]}).json()
    assert late["results"][0]["status"] == "accepted"
    shipment.refresh_from_db()
    assert shipment.milestone == "delivered"
    assert list(shipment.events.order_by("-occurred_at").values_list("code", flat=True)) == [
        "delivered",
        "in_transit",
        "label_created",
    ]


def test_events_of_one_batch_apply_in_scan_order_not_list_order(partner_and_client):
    partner, client = partner_and_client
    t0 = timezone.now() - timedelta(hours=10)
    shipment = factories.shipment(partner=partner, occurred_at=t0)
    client.post(
        URL,
        {
            "events": [
                _event(shipment, "3", "out_for_delivery", t0 + timedelta(hours=3)),
                _event(shipment, "1", "picked_up", t0 + timedelta(hours=1)),
                _event(shipment, "2", "at_destination", t0 + timedelta(hours=2)),
            ]
        },
    )
    shipment.refresh_from_db()
    assert shipment.milestone == "out_for_delivery"
    assert shipment.milestone_at == t0 + timedelta(hours=3)


def test_a_reason_opens_an_exception_and_close_exception_closes_it(partner_and_client):
    partner, client = partner_and_client
    now = timezone.now()
    shipment = factories.shipment(partner=partner, occurred_at=now - timedelta(days=1))
    client.post(
        URL,
        {
            "events": [
                _event(shipment, "a", "out_for_delivery", now - timedelta(hours=3)),
                _event(shipment, "b", "delivery_attempted", now - timedelta(hours=2), reason="recipient_not_home"),
            ]
        },
    )
    shipment.refresh_from_db()
    assert (shipment.milestone, shipment.exception_open, shipment.exception_reason) == (
        "delivery_attempted",
        True,
        "recipient_not_home",
    )
    closing = {"id": "c", "tracking_number": shipment.tracking_number, "occurred_at": _iso(now - timedelta(hours=1))}
    body = client.post(URL, {"events": [{**closing, "close_exception": True}]}).json()
    assert body["results"][0]["status"] == "accepted"
    shipment.refresh_from_db()
    assert (shipment.milestone, shipment.exception_open) == ("delivery_attempted", False)
    assert shipment.events.get(partner_event_id="c").code == "exception_cleared"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"occurred_at": "2026-11-27T10:00:00"}, "occurred_at", "UTC offset"),
        ({"occurred_at": "yesterday"}, "occurred_at", "ISO 8601"),
        ({"occurred_at": "2026-02-30T10:00:00-06:00"}, "occurred_at", "ISO 8601"),
        ({"occurred_at": 1764230400}, "occurred_at", "string"),
        ({"occurred_at": None}, "occurred_at", "required"),
        ({"milestone": "teleported"}, "milestone", "Unknown milestone"),
        ({"milestone": None}, "milestone", "Give a milestone"),
        ({"milestone": None, "code": "warp"}, "code", "Unknown event code"),
        ({"milestone": "delivered", "code": "departed_facility"}, "milestone", "does not mean"),
        ({"reason": "aliens"}, "reason", "Unknown reason"),
        ({"facility": "NOPE1"}, "facility", "No facility has the code NOPE1"),
        ({"facility": 12}, "facility", "string"),
        ({"note": "x" * 501}, "note", "At most 500"),
        ({"note": "bad\x00byte"}, "note", "not allowed"),
        ({"close_exception": "yes"}, "close_exception", "true or false"),
        ({"id": ""}, "id", "required"),
        ({"id": "has space"}, "id", "printable ASCII"),
        ({"id": 42}, "id", "string"),
        ({"tracking_number": "nope"}, "tracking_number", "not a tracking number"),
    ],
)
def test_it_rejects_a_bad_item_by_field(partner_and_client, change, field, message):
    partner, client = partner_and_client
    shipment = factories.shipment(partner=partner)
    response = client.post(URL, {"events": [_event(shipment, "good"), {**_event(shipment, "bad-item"), **change}]})
    assert response.status_code == 200
    good, bad = response.json()["results"]
    assert good["status"] == "accepted"
    assert bad["status"] == "rejected"
    assert message in " ".join(bad["errors"][field]), bad
    assert shipment.events.filter(partner_event_id="bad-item").count() == 0


@pytest.fixture
def maintenance_switch_read(settings):
    """Read the maintenance switch now and trust it for the test: otherwise a write more than
    PHOENIX_MAINTENANCE_CACHE_SECONDS after the last one reads it again (one query more)."""
    from tracking.cutover.maintenance import maintenance_forget, maintenance_state

    settings.PHOENIX_MAINTENANCE_CACHE_SECONDS = 3600
    maintenance_forget()
    maintenance_state()
    yield
    maintenance_forget()


def test_it_rejects_a_mistyped_number_by_name_without_reading_shipments(
    partner_and_client, django_assert_num_queries, maintenance_switch_read
):
    partner, client = partner_and_client
    shipment = factories.shipment(partner=partner)
    good = shipment.tracking_number
    mistyped = good[:-2] + good[-1] + good[-2] if good[-1] != good[-2] else good[:-1] + str((int(good[-1]) + 1) % 10)
    # 2 queries: the token (its last use was just recorded, so no update) and the partner's
    # read-your-writes pin; none for shipments.
    client.get("/api/v1/tracking", {"numbers": good})
    with django_assert_num_queries(2):
        body = client.post(URL, {"events": [{**_event(shipment, "x"), "tracking_number": mistyped}]}).json()
    assert body["results"][0]["errors"]["tracking_number"] == [
        f"{mistyped} has a wrong check digit: it was probably mistyped."
    ]


def test_it_rejects_a_scan_time_in_the_future(partner_and_client, settings):
    partner, client = partner_and_client
    shipment = factories.shipment(partner=partner)
    settings.PHOENIX_EVENT_MAX_FUTURE_SECONDS = 900
    soon = timezone.now() + timedelta(minutes=5)  # a scanner clock a little ahead is fine
    later = timezone.now() + timedelta(hours=2)
    body = client.post(URL, {"events": [_event(shipment, "a", at=soon), _event(shipment, "b", at=later)]}).json()
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected"]
    assert "future" in body["results"][1]["errors"]["occurred_at"][0]


def test_a_batch_of_500_takes_a_constant_number_of_queries(partner_and_client, django_assert_max_num_queries):
    partner, client = partner_and_client
    factories.facility("HUB01")
    now = timezone.now()
    shipments = [factories.shipment(partner=partner, occurred_at=now - timedelta(days=1)) for _ in range(20)]
    events = [
        _event(shipments[i % 20], f"e{i}", "in_transit", now - timedelta(minutes=600 - i), facility="HUB01")
        for i in range(500)
    ]
    # Token, its last use and the partner's pin; shipments, facilities, the partner's scopes; then the locked
    # shipments, replayed ids, one insert, one update; then the partner's pin is marked (an
    # update, or the first time an insert); what the events owe (subscriptions, webhook
    # endpoints: two queries); plus savepoints inside the test's transaction.
    with django_assert_max_num_queries(19):
        body = client.post(URL, {"events": events}).json()
    assert body["accepted"] == 500
    assert TrackingEvent.objects.filter(partner=partner, source="api").count() == 500
    assert set(Shipment.objects.filter(pk__in=[s.pk for s in shipments]).values_list("milestone", flat=True)) == {
        "in_transit"
    }


def test_event_ids_are_per_partner(partner_and_client):
    partner, first = partner_and_client
    other, other_key = factories.partner_token()
    PartnerScope.objects.create(partner=other, kind=PartnerScope.Kind.CARRIER, shipper=partner)
    shipment = factories.shipment(partner=partner)
    assert first.post(URL, {"events": [_event(shipment, "scan-1")]}).json()["accepted"] == 1
    assert ApiClient(other_key).post(URL, {"events": [_event(shipment, "scan-1")]}).json()["accepted"] == 1
    assert shipment.events.filter(partner_event_id="scan-1").count() == 2


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "events"),
        ({"events": []}, "events"),
        ({"events": "nope"}, "events"),
        ([{"id": "x"}], "events"),
        ({"events": [{"id": str(i)} for i in range(501)]}, "events"),
    ],
)
def test_it_rejects_a_bad_envelope(partner_and_client, payload, field):
    partner, client = partner_and_client
    response = client.post(URL, payload)
    assert response.status_code == 400
    assert field in error_of(response)["fields"]


def test_a_non_object_item_is_rejected_not_dropped(partner_and_client):
    partner, client = partner_and_client
    shipment = factories.shipment(partner=partner)
    body = client.post(URL, {"events": [_event(shipment, "ok"), "scan", None, [1]]}).json()
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "rejected", "rejected"]
    assert body["results"][1] == {
        "id": None,
        "status": "rejected",
        "errors": {"non_field_errors": ["Each event must be a JSON object."]},
    }


def test_it_needs_a_token(anonymous):
    response = anonymous.post(URL, {"events": []})
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"


def test_a_late_event_still_changes_the_shipments_updated_at(partner_and_client):
    """The timeline changed, so the public page's ETag (made of updated_at) must change too."""
    partner, client = partner_and_client
    now = timezone.now()
    shipment = factories.shipment(partner=partner, occurred_at=now - timedelta(days=2))
    client.post(URL, {"events": [_event(shipment, "late-0", "delivered", now - timedelta(hours=1))]})
    delivered = Shipment.objects.get(pk=shipment.pk)
    body = client.post(URL, {"events": [_event(shipment, "late-1", "in_transit", now - timedelta(days=1))]}).json()
    assert body["accepted"] == 1
    after = Shipment.objects.get(pk=shipment.pk)
    assert after.milestone == "delivered"
    assert after.updated_at > delivered.updated_at
