"""Authenticated reads do not need a writable writer: recording a token's use is best effort."""

import secrets
import time

import pytest

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def number(live_app):
    return live_app.seed(1)[0]


def _new_token(live_app) -> str:
    """A token never used yet: its first use wants to record last_used_at on the writer."""
    output = live_app.manage("create_partner", f"Best Effort Partner {secrets.token_hex(3)}").stdout
    key = next(line for line in output.splitlines() if line.startswith("phx_"))
    live_app.wait_replica()  # the replica knows the token, as it would a token made a while ago
    return key


def _last_used(live_app, key: str):
    prefix = key.split("_")[1]
    rows = live_app.writer_sql(
        f"SELECT last_used_at FROM `{live_app.database}`.tracking_partnertoken WHERE prefix = %s", [prefix]
    )
    return rows[0][0]


def test_a_partner_reads_while_the_writer_is_down(live_app, number):
    key = _new_token(live_app)
    with live_app.endpoint_down(live_app.writer):
        response = live_app.client().get(f"/api/v1/tracking/{number}", headers={"Authorization": f"Token {key}"})
    assert response.status == 200, response.body[:300]
    assert response.json()["tracking_number"] == number
    assert _last_used(live_app, key) is None  # not recorded, and the read did not pay for it


def test_a_partner_reads_while_the_writer_is_read_only(live_app, number):
    key = _new_token(live_app)
    with live_app.writer_read_only():
        response = live_app.client().get(f"/api/v1/tracking/{number}", headers={"Authorization": f"Token {key}"})
    assert response.status == 200, response.body[:300]
    assert response.json()["tracking_number"] == number
    # With the writer writable again (the app avoids a failed writer for a second), the use is
    # recorded again.
    for _attempt in range(300):
        again = live_app.client().get(f"/api/v1/tracking/{number}", headers={"Authorization": f"Token {key}"})
        assert again.status == 200
        if _last_used(live_app, key) is not None:
            break
        time.sleep(0.1)
    assert _last_used(live_app, key) is not None
