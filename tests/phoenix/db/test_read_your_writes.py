"""Read-your-writes under replication lag, proven by the data and by each server's own counters."""

import secrets

import pytest

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def number(live_app):
    return live_app.seed(2)[0]


def _reference() -> str:
    return f"REF-{secrets.token_hex(4)}"


def test_it_reads_its_own_write_in_the_same_request(live_app, number):
    client = live_app.client()
    reference = _reference()
    with live_app.replication_stopped():
        response = client.post(f"/_live/shipments/{number}/reference", {"reference": reference})
        assert response.status == 200
        assert response.json() == {"reference": reference}
        assert live_app.replica_sql(
            f"SELECT reference FROM `{live_app.database}`.tracking_shipment WHERE tracking_number = %s", [number]
        ) != [(reference,)]  # the replica really is behind


def test_a_raw_cursor_write_pins_the_rest_of_the_request(live_app, number):
    client = live_app.client()
    reference = _reference()
    with live_app.replication_stopped():
        response = client.post(f"/_live/shipments/{number}/reference", {"reference": reference, "raw": "1"})
        assert response.json() == {"reference": reference}


def test_the_next_request_with_the_pin_cookie_reads_the_writer(live_app, number):
    client = live_app.client()
    reference = _reference()
    with live_app.replication_stopped():
        client.post(f"/_live/shipments/{number}/reference", {"reference": reference})
        assert client.cookie("phoenix_pin")
        writer_before, replica_before = live_app.com_select()
        response = client.get(f"/_live/shipments/{number}")
        writer_after, replica_after = live_app.com_select()
    assert response.json() == {"reference": reference}
    assert writer_after > writer_before
    assert replica_after == replica_before


def test_a_request_without_the_pin_reads_the_replica(live_app, number):
    writer_client, other = live_app.client(), live_app.client()
    old = other.get(f"/_live/shipments/{number}").json()["reference"]
    reference = _reference()
    with live_app.replication_stopped():
        writer_client.post(f"/_live/shipments/{number}/reference", {"reference": reference})
        writer_before, replica_before = live_app.com_select()
        response = other.get(f"/_live/shipments/{number}")
        writer_after, replica_after = live_app.com_select()
        assert response.json() == {"reference": old}  # stale: the replica has not applied the write
        assert replica_after > replica_before
        assert writer_after == writer_before
        # The same client inside use_writer() gets the fresh row.
        assert other.get(f"/_live/shipments/{number}?use_writer=1").json() == {"reference": reference}
    # Once the replica catches up, the client without a pin sees the new value too.
    assert other.get(f"/_live/shipments/{number}").json() == {"reference": reference}


def test_the_request_log_line_says_which_aliases_served_and_why(live_app, number):
    client = live_app.client()
    client.post(f"/_live/shipments/{number}/reference", {"reference": _reference()})
    client.get(f"/_live/shipments/{number}")
    records = [r for r in live_app.log_records() if r.get("path", "").startswith(f"/_live/shipments/{number}")]
    write, pinned_read = records[-2], records[-1]
    assert write["method"] == "POST" and write["wrote"] is True
    assert write["db"]["default"]["queries"] >= 2
    assert "wrote" in write["db"]["default"]["why"]
    assert pinned_read["pins"] == ["cookie"]
    assert pinned_read["db"]["default"]["why"] == ["cookie"]
    assert "reader" not in pinned_read["db"]
