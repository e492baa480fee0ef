"""Partner tokens: create_partner, hashed storage, disabled partners and tokens, throttles."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from tests import factories
from tests.tracking.api.support import ApiClient, error_of
from tracking.api.tokens import token_hash
from tracking.models import Partner, PartnerToken

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events"


def _create_partner(*args) -> str:
    out = io.StringIO()
    call_command("create_partner", *args, stdout=out)
    return out.getvalue()


def _key_from(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("phx_"))


def test_create_partner_prints_a_working_token_once_and_stores_only_its_hash():
    output = _create_partner("Tienda Ejemplo")
    key = _key_from(output)
    partner = Partner.objects.get(name="Tienda Ejemplo")
    token = PartnerToken.objects.get(partner=partner)
    assert token.key_hash == token_hash(key)
    assert key not in {token.prefix, token.key_hash, token.name}
    response = ApiClient(key).post(EVENTS, {"events": [{"id": "x"}]})
    assert response.status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_token_for_adds_a_second_token_and_both_work():
    first = _key_from(_create_partner("Linehaul Norte"))
    second = _key_from(_create_partner("--token-for", "Linehaul Norte", "--token-name", "scanner"))
    assert first != second
    for key in (first, second):
        assert ApiClient(key).post(EVENTS, {"events": [{"id": "x"}]}).status_code == 200


def test_a_disabled_partner_is_refused_with_403():
    key = _key_from(_create_partner("Tienda Cerrada"))
    assert "Disabled" in _create_partner("--disable", "Tienda Cerrada")
    response = ApiClient(key).post(EVENTS, {"events": [{"id": "x"}]})
    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"


def test_a_disabled_token_is_refused_with_401():
    partner, key = factories.partner_token()
    PartnerToken.objects.filter(partner=partner).update(is_active=False)
    response = ApiClient(key).post(EVENTS, {"events": [{"id": "x"}]})
    assert response.status_code == 401
    assert error_of(response)["message"] == "This token is disabled."


@pytest.mark.parametrize(
    "header",
    ["Token phx_000000000000_forged", "Token nonsense", "Bearer abc", "Token ", "Basic dXNlcjpwYXNz"],
)
def test_a_bad_token_is_a_401_in_the_error_shape(header):
    factories.partner_token()
    response = Client().post(EVENTS, "{}", content_type="application/json", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"
    assert response["WWW-Authenticate"] == "Token"


def test_a_forged_secret_with_a_real_prefix_is_refused():
    partner, key = factories.partner_token()
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert ApiClient(forged).post(EVENTS, {"events": [{"id": "x"}]}).status_code == 401


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "exactly one"),
        (("A", "--disable", "B"), "exactly one"),
        (("--token-for", "Nobody"), "No partner is named"),
        (("--disable", "Nobody"), "No partner is named"),
        (("x" * 101,), "1 to 100"),
    ],
)
def test_create_partner_explains_bad_arguments(args, message):
    with pytest.raises(CommandError, match=message):
        _create_partner(*args)


def test_create_partner_refuses_a_duplicate_name_and_dry_run_changes_nothing():
    _create_partner("Uno")
    with pytest.raises(CommandError, match="--token-for"):
        _create_partner("Uno")
    assert "Would create" in _create_partner("Dos", "--dry-run")
    assert not Partner.objects.filter(name="Dos").exists()


def test_post_endpoints_need_no_csrf_token_with_a_partner_token():
    _, key = factories.partner_token()
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        EVENTS, '{"events": [{"id": "x"}]}', content_type="application/json", HTTP_AUTHORIZATION=f"Token {key}"
    )
    assert response.status_code == 200


def test_throttling_per_token_answers_429_with_retry_after(rates):
    rates(partner="3/minute")
    _, key = factories.partner_token()
    _, other_key = factories.partner_token()
    client = ApiClient(key)
    statuses = [client.post(EVENTS, {"events": [{"id": "x"}]}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = client.post(EVENTS, {"events": [{"id": "x"}]})
    assert response.status_code == 429
    assert error_of(response)["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 60
    # Another token has its own budget.
    assert ApiClient(other_key).post(EVENTS, {"events": [{"id": "x"}]}).status_code == 200


def test_throttling_per_ip_for_requests_without_a_token(rates):
    rates(ip="2/minute")
    number = factories.shipment().tracking_number

    def get(address):
        return Client().get(f"/api/v1/tracking/{number}", REMOTE_ADDR=address)

    assert [get("203.0.113.5").status_code for _ in range(3)] == [200, 200, 429]
    assert int(get("203.0.113.5")["Retry-After"]) >= 1
    assert get("203.0.113.6").status_code == 200
