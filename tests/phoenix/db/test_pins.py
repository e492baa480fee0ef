"""Pins: only a pin this app signed, younger than PHOENIX_PIN_SECONDS, sends reads to the writer."""

import secrets
import time

import pytest
from django.core import signing

from phoenix.db.pinning import COOKIE_NAME, SALT
from tests.live import Client

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def number(live_app):
    return live_app.seed(2)[0]


def _read(client, number: str, key: str = "") -> str:
    return client.get(f"/_live/shipments/{number}" + (f"?key={key}" if key else "")).json()["reference"]


def _signed(live_app, issued_at: int) -> str:
    """Return a pin cookie value signed with the app's own key, as of ``issued_at``."""
    signer = signing.Signer(key=live_app.env["DJANGO_SECRET_KEY"], salt=SALT)
    return signer.sign(f"1:{signing.b62_encode(issued_at)}")


@pytest.fixture
def lagging_write(live_app, number):
    """Write a new reference with replication stopped; yield (old, new)."""
    old = _read(live_app.client(), number)
    new = f"PIN-{secrets.token_hex(4)}"
    with live_app.replication_stopped():
        response = live_app.client().post(
            f"/_live/shipments/{number}/reference", {"reference": new, "key": "partner:1"}
        )
        assert response.json() == {"reference": new}
        yield old, new


def test_a_write_sets_a_signed_short_lived_http_only_cookie(live_app, number):
    response = live_app.client().post(f"/_live/shipments/{number}/reference", {"reference": "COOKIE-CHECK"})
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=30" in cookie
    assert "Secure" not in cookie  # DJANGO_SECURE_COOKIES=0 in the live app: plain http on loopback
    assert live_app.client().get(f"/_live/shipments/{number}").headers.get("Set-Cookie") is None  # reads set none


@pytest.mark.parametrize(
    "forged",
    [
        "1",
        "y",
        "1:1kHmXn:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        signing.Signer(key="not-the-app-key-" + "x" * 40, salt=SALT).sign(f"1:{signing.b62_encode(int(time.time()))}"),
    ],
)
def test_a_forged_pin_cookie_does_not_pin(live_app, number, lagging_write, forged):
    old, _new = lagging_write
    client = live_app.client()
    client.set_cookie(COOKIE_NAME, forged)
    assert _read(client, number) == old


def test_an_expired_pin_cookie_does_not_pin(live_app, number, lagging_write):
    old, _new = lagging_write
    client = live_app.client()
    client.set_cookie(COOKIE_NAME, _signed(live_app, int(time.time()) - 3600))
    assert _read(client, number) == old


def test_a_valid_pin_cookie_pins(live_app, number, lagging_write):
    _old, new = lagging_write
    client = live_app.client()
    client.set_cookie(COOKIE_NAME, _signed(live_app, int(time.time())))
    assert _read(client, number) == new


def test_a_server_side_pin_follows_the_client_identity_to_the_other_instance(live_app, number, lagging_write):
    old, new = lagging_write
    other_zone = Client(live_app.second_instance())  # another process, no cookies
    assert _read(other_zone, number, key="partner:1") == new
    assert _read(other_zone, number, key="partner:2") == old
    assert _read(other_zone, number) == old
