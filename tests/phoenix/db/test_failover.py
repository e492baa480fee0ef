"""Server failures: reads keep working from whichever server is left; writes get a clean 503."""

import secrets
import time

import pytest

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def number(live_app):
    return live_app.seed(2)[0]


def _write(client, number: str, api: bool = False):
    prefix = "/api" if api else ""
    return client.post(f"{prefix}/_live/shipments/{number}/reference", {"reference": f"REF-{secrets.token_hex(4)}"})


def _write_until_accepted(client, number: str, attempts: int = 300):
    """Retry a write as a client honouring Retry-After would (the app avoids a failed writer briefly)."""
    for _attempt in range(attempts):
        response = _write(client, number)
        if response.status != 503:
            return response
        time.sleep(0.1)
    return response


def test_with_the_replica_down_pages_answer_from_the_writer(live_app, number):
    client = live_app.client()
    with live_app.endpoint_down(live_app.reader):
        writer_before, _ = live_app.com_select()
        first = client.get(f"/track/{number}/")
        second = client.get(f"/track/{number}/")
        writer_after, _ = live_app.com_select()
    assert first.status == 200 and second.status == 200
    assert number in first.body.replace(" ", "")
    assert writer_after > writer_before
    why = [
        set(r["db"].get("default", {}).get("why", []))
        for r in live_app.log_records()
        if r.get("path") == f"/track/{number}/"
    ]
    assert {"reader_down"} <= why[-1]


def test_with_the_writer_down_pages_answer_from_the_replica_and_writes_get_503(live_app, number):
    client = live_app.client()
    with live_app.endpoint_down(live_app.writer):
        _, replica_before = live_app.com_select()
        page = client.get(f"/track/{number}/")
        _, replica_after = live_app.com_select()
        html = _write(client, number)
        api = _write(client, number, api=True)
    assert page.status == 200
    assert replica_after > replica_before
    assert html.status == 503
    assert html.headers["Retry-After"].isdigit()
    assert "text/html" in html.headers["Content-Type"]
    assert "try again" in html.body and "Traceback" not in html.body
    assert api.status == 503
    assert api.headers["Retry-After"].isdigit()
    assert api.json()["error"]["code"] == "writer_unavailable"
    assert _write_until_accepted(client, number).status == 200


def test_a_pinned_reader_keeps_reading_while_the_writer_is_down(live_app, number):
    client = live_app.client()
    assert _write(client, number).status == 200
    assert client.cookie("phoenix_pin")
    with live_app.endpoint_down(live_app.writer):
        page = client.get(f"/track/{number}/")
    assert page.status == 200
    records = [r for r in live_app.log_records() if r.get("path") == f"/track/{number}/"]
    assert "writer_down" in records[-1]["db"]["reader"]["why"]


def test_a_read_only_writer_gets_503_and_writes_resume_once_it_is_writable(live_app, number):
    client = live_app.client()
    assert _write(client, number).status == 200  # a pooled writer connection exists
    with live_app.writer_read_only():
        first = _write(client, number)  # the pooled connection answers 1290
        second = _write(client, number)  # a new connection sees @@read_only
        page = live_app.client().get(f"/track/{number}/")
    assert first.status == 503 and second.status == 503
    assert first.headers["Retry-After"].isdigit()
    assert page.status == 200
    assert _write_until_accepted(client, number).status == 200  # same endpoint, no restart
    assert live_app.process.poll() is None


def test_with_the_writer_down_staff_can_still_read_the_admin(live_app, number):
    staff = live_app.admin_client()
    live_app.wait_replica()  # the session row is on the replica too
    staff.drop_cookie("phoenix_pin")
    with live_app.endpoint_down(live_app.writer):
        changelist = staff.get("/admin/tracking/shipment/")
    assert changelist.status == 200
    assert number in changelist.body


def test_with_the_writer_down_a_page_that_changes_the_session_still_answers(live_app):
    client = live_app.client()
    assert client.get("/_live/session").json() == {"visits": 1}
    live_app.wait_replica()
    client.drop_cookie("phoenix_pin")
    with live_app.endpoint_down(live_app.writer):
        response = client.get("/_live/session")
    assert response.status == 200
    assert response.json() == {"visits": 2}  # served; the session could not be saved, and that is all
    assert any("session not saved" in r.get("message", "") for r in live_app.log_records())
