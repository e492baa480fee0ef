"""The unlock's lockout and the lookup budget are shared by every process and instance: two
gunicorn servers (two Availability Zones) on the real writer + replica count as one."""

import secrets

import pytest

from tests.live import LiveApp
from tracking import numbers

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def zones(live_app: LiveApp):
    """Return HTTP clients of two instances of the app (two gunicorn processes)."""
    from deploy.local.lab.load import Client

    return live_app.client(), Client(live_app.second_instance())


@pytest.fixture(scope="module")
def shipment(live_app: LiveApp) -> tuple[str, str]:
    number = live_app.seed(1)[0]
    rows = live_app.writer_sql(
        f"SELECT destination_postal_code FROM `{live_app.database}`.tracking_shipment WHERE tracking_number = %s",
        [number],
    )
    return number, rows[0][0]


def _address() -> dict:
    """A client address of its own, as the load balancer appends it (PHOENIX_PROXY_HOPS=1)."""
    return {"X-Forwarded-For": f"198.51.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"}


def test_wrong_codes_sent_to_two_instances_lock_the_shipment_for_both(live_app, zones, shipment):
    number, code = shipment
    wrong = "00000" if code != "00000" else "11111"
    path = f"/track/{number}/"
    statuses = [zones[n % 2].post(path, {"postal_code": wrong}, headers=_address()).status for n in range(5)]
    assert statuses == [403, 403, 403, 403, 429]  # 3 + 2 wrong codes: the fifth locks
    for zone in zones:
        right = zone.post(path, {"postal_code": code}, headers=_address())
        assert right.status == 429 and int(right.headers["Retry-After"]) > 14 * 60
    logged = [r for r in live_app.log_records() if r.get("logger") == "tracking.site.unlock"]
    assert any(f"unlock of {number} locked for 15 minutes" in r["message"] for r in logged)
    rows = live_app.writer_sql(
        f"SELECT g.lockouts FROM `{live_app.database}`.tracking_unlockguard g"
        f" JOIN `{live_app.database}`.tracking_shipment s ON s.id = g.shipment_id WHERE s.tracking_number = %s",
        [number],
    )
    assert rows == [(1,)]


def test_the_lookup_budget_is_spent_across_two_instances(zones):
    address = _address()
    # The default budget: 300 points per 10 minutes, an unknown number costs 10 (30 misses).
    unknown = [numbers.from_body(880000 + secrets.randbelow(100000)) for _ in range(31)]
    statuses = [zones[n % 2].get(f"/track/{number}/", headers=address).status for n, number in enumerate(unknown[:30])]
    assert statuses == [404] * 30  # 15 on each instance: each alone would allow 15 more
    # Each process decides with the total the writer last told it: the one that served the
    # 30th miss refuses at once, the other after at most one more (docs/security.md).
    last, other = zones[1], zones[0]
    assert last.get(f"/track/{unknown[30]}/", headers=address).status == 429
    tries = [other.get(f"/track/{unknown[30]}/", headers=address) for _ in range(2)]
    assert tries[-1].status == 429 and int(tries[-1].headers["Retry-After"]) >= 1
    assert [t.status for t in tries].count(404) <= 1
