"""A replica that falls behind is not read from: pages stay fresh, /readyz and dbcheck say so."""

import time
from datetime import UTC, datetime

import pytest

from tests.live import LiveApp

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """An app of this module's own, with the lag check on (the shared live app has it off so
    that tests of read-your-writes can show the replica's stale view)."""
    app = LiveApp.start(
        tmp_path_factory.mktemp("lag"),
        extra_env={"PHOENIX_MAX_REPLICA_LAG": "5", "PHOENIX_REPLICA_LAG_CHECK_SECONDS": "1"},
    )
    yield app
    app.stop()


def _reader(app: LiveApp) -> dict:
    return app.client().get("/readyz").json()["reader"]


def _wait_until(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.1)


def _shipment_payload() -> dict:
    return {
        "reference": "LAG-1",
        "weight_grams": 500,
        "origin_facility": "MEX01",
        "destination_facility": "GDL01",
        "recipient": {"name": "Luisa Mar", "postal_code": "44100", "city": "Guadalajara"},
    }


def test_with_replication_stopped_reads_go_to_the_writer_and_readyz_and_dbcheck_say_so(app):
    app.seed(1)  # facilities MEX01, GDL01, ...
    output = app.manage("create_partner", "Lag Partner").stdout
    auth = {"Authorization": f"Token {next(line for line in output.splitlines() if line.startswith('phx_'))}"}
    app.wait_replica()
    _wait_until(lambda: _reader(app)["lag_seconds"] is not None, "a first lag sample")
    assert _reader(app)["shunned"] is False
    assert app.manage("dbcheck", "--max-lag", "5").returncode == 0

    with app.replication_stopped():
        _wait_until(lambda: _reader(app)["shunned"], "the stopped replica shunned")
        assert _reader(app)["lag_seconds"] is None  # unknown: a number would be a guess
        created = app.client().post("/api/v1/shipments", json_body=_shipment_payload(), headers=auth)
        assert created.status == 201, created.body
        number = created.json()["tracking_number"]
        event = {"id": "lag-1", "tracking_number": number, "milestone": "picked_up"}
        event["occurred_at"] = datetime.now(UTC).isoformat()
        posted = app.client().post("/api/v1/events", json_body={"events": [event]}, headers=auth)
        assert posted.json()["results"][0]["status"] == "accepted", posted.body
        # A public read (no token, no pin cookie) would go to the replica, which has seen
        # neither the shipment nor the event: it is served by the writer instead.
        public = app.client().get(f"/api/v1/tracking/{number}")
        assert public.status == 200, public.body
        assert public.json()["milestone"] == "picked_up"
        why = [
            set(r["db"].get("default", {}).get("why", []))
            for r in app.log_records()
            if r.get("path") == f"/api/v1/tracking/{number}" and "db" in r
        ]
        assert "reader_lag" in why[-1]
        # The replica itself really is behind: the read was fresh only because of the routing.
        on_replica = app.replica_sql(
            f"SELECT COUNT(*) FROM `{app.database}`.tracking_shipment WHERE tracking_number = %s", [number]
        )
        assert on_replica == [(0,)]
        check = app.manage("dbcheck", "--max-lag", "5", check=False)
        assert check.returncode == 2
        assert "replica lag" in check.stderr and "Traceback" not in check.stderr

    _wait_until(lambda: not _reader(app)["shunned"], "the caught-up replica readmitted")
    assert _reader(app)["lag_seconds"] is not None
    messages = [r.get("message", "") for r in app.log_records()]
    assert any(m.startswith("reader shunned") for m in messages)
    assert any(m.startswith("reader readmitted") for m in messages)


def test_after_its_connection_is_cut_the_probe_reconnects_and_still_sees_a_stopped_replica(app):
    """A cut connection is a reader not answering, not "not a replica": the probe reconnects."""
    app.wait_replica()
    _wait_until(lambda: _reader(app)["lag_seconds"] is not None, "a first lag sample")
    with app.endpoint_down(app.reader):  # the probe's own connection is cut too
        _wait_until(lambda: _reader(app)["shunned"], "the unreachable reader shunned")
    _wait_until(lambda: not _reader(app)["shunned"], "the reader readmitted once it answers")
    with app.replication_stopped():
        _wait_until(lambda: _reader(app)["shunned"], "the stopped replica shunned")
        assert _reader(app)["lag_seconds"] is None
