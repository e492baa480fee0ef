"""A partner reads its own writes at once while the replica lags (live gunicorn, real cluster)."""

from datetime import UTC, datetime

import pytest

pytestmark = pytest.mark.cluster


def _new_partner(live_app, name: str) -> str:
    output = live_app.manage("create_partner", name).stdout
    return next(line for line in output.splitlines() if line.startswith("phx_"))


def _shipment_payload() -> dict:
    return {
        "reference": "RYW-1",
        "weight_grams": 500,
        "origin_facility": "MEX01",
        "destination_facility": "GDL01",
        "recipient": {"name": "Luisa Mar", "postal_code": "44100", "city": "Guadalajara"},
    }


def test_a_partner_reads_its_event_back_at_once_while_the_replica_lags(live_app):
    live_app.seed(1)  # facilities MEX01, GDL01, ...
    with live_app.replication_stopped():
        # A token created a moment ago works although the replica has not seen it.
        key = _new_partner(live_app, "RYW Partner")
        auth = {"Authorization": f"Token {key}"}
        client = live_app.client()
        created = client.post("/api/v1/shipments", json_body=_shipment_payload(), headers=auth)
        assert created.status == 201, created.body
        number = created.json()["tracking_number"]

        event = {"id": "ryw-1", "tracking_number": number, "milestone": "picked_up"}
        event["occurred_at"] = datetime.now(UTC).isoformat()
        posted = client.post("/api/v1/events", json_body={"events": [event]}, headers=auth)
        assert posted.json()["results"][0]["status"] == "accepted"

        mine = client.get(f"/api/v1/tracking/{number}", headers=auth)
        assert mine.status == 200, mine.body
        assert mine.json()["milestone"] == "picked_up"
        assert [e["code"] for e in mine.json()["events"]] == ["picked_up", "label_created"]
        assert mine.json()["private"]["recipient"]["name"] == "Luisa Mar"

        # Without the token the read goes to the replica, which has not seen the shipment yet:
        # proof that the replica lags and that the partner's pin made the difference.
        public = live_app.client().get(f"/api/v1/tracking/{number}")
        assert public.status == 404, public.body
    live_app.wait_replica()
    assert live_app.client().get(f"/api/v1/tracking/{number}").json()["milestone"] == "picked_up"


def test_without_the_writer_the_api_answers_503_json_with_retry_after(live_app):
    live_app.seed(1)  # facilities MEX01, GDL01, ...
    key = _new_partner(live_app, "Writerless Partner")
    created = live_app.client().post(
        "/api/v1/shipments", json_body=_shipment_payload(), headers={"Authorization": f"Token {key}"}
    )
    number = created.json()["tracking_number"]
    live_app.wait_replica()
    # A valid event on its own shipment: recording it needs the writer (the token check does not).
    event = {"id": "writerless-1", "tracking_number": number, "milestone": "in_transit"}
    event["occurred_at"] = datetime.now(UTC).isoformat()
    with live_app.endpoint_down(live_app.writer):
        response = live_app.client().post(
            "/api/v1/events", json_body={"events": [event]}, headers={"Authorization": f"Token {key}"}
        )
    assert response.status == 503, response.body
    assert response.headers["Content-Type"].startswith("application/json")
    assert int(response.headers["Retry-After"]) >= 1
    assert set(response.json()["error"]) >= {"code", "message"}


SHIPMENT_FOR = (
    "from tracking.models import Facility, Partner\n"
    "from tracking.services import shipment_create\n"
    "shipment = shipment_create(partner=Partner.objects.get(name={name!r}),\n"
    "    origin_facility=Facility.objects.get(code='MEX01'), destination_facility=Facility.objects.get(code='GDL01'),\n"
    "    destination_postal_code='44100', weight_grams=500, recipient={{'name': 'Ana', 'postal_code': '44100'}})\n"
    "print(shipment.tracking_number)"
)


def _age_on_writer(live_app, number: str) -> None:
    """Make the shipment's last change a minute old, on the writer only (replication is stopped)."""
    live_app.writer_sql(
        f"UPDATE `{live_app.database}`.tracking_shipment SET updated_at = NOW(6) - INTERVAL 1 MINUTE"
        " WHERE tracking_number = %s",
        [number],
    )


def test_the_changes_feed_is_read_from_the_replica_and_from_the_writer_after_a_write(live_app):
    live_app.seed(1)
    key = _new_partner(live_app, "Feed Partner")
    auth = {"Authorization": f"Token {key}"}
    # The token's bookkeeping write (last_used_at, once a minute) would pin the partner to the
    # writer for this request and the pin window: the token counts as used a moment ago.
    live_app.writer_sql(
        f"UPDATE `{live_app.database}`.tracking_partnertoken t JOIN `{live_app.database}`.tracking_partner p"
        " ON p.id = t.partner_id SET t.last_used_at = NOW(6) WHERE p.name = %s",
        ["Feed Partner"],
    )
    live_app.wait_replica()
    with live_app.replication_stopped():
        # An operator creates a shipment for the partner: a change the replica has not seen, made
        # old enough on the writer to be past the feed's settle window.
        number = live_app.manage("shell", "-c", SHIPMENT_FOR.format(name="Feed Partner")).stdout.split()[-1]
        _age_on_writer(live_app, number)
        feed = "/api/v1/shipments?updated_after=2020-01-01T00:00:00Z"
        client = live_app.client()
        # The partner has written nothing: its read goes to the replica, which lacks the shipment.
        assert client.get(feed, headers=auth).json()["shipments"] == []

        event = {"id": "feed-1", "tracking_number": number, "milestone": "picked_up"}
        event["occurred_at"] = datetime.now(UTC).isoformat()
        assert client.post("/api/v1/events", json_body={"events": [event]}, headers=auth).status == 200
        _age_on_writer(live_app, number)
        # Now it has written: its pin sends the feed to the writer, and it reads its own change.
        mine = client.get(feed, headers=auth).json()["shipments"]
        assert [(s["tracking_number"], s["milestone"]) for s in mine] == [(number, "picked_up")]
