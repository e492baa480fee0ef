"""Hostile input to the partner API: deep JSON, token guessing, and caching of private answers."""

import pytest

from tests import factories
from tests.tracking.api.support import ApiClient, error_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/shipments"])
@pytest.mark.parametrize("depth", [990, 100_000])
def test_it_answers_deeply_nested_json_with_a_400_in_the_one_error_shape(partner_and_client, path, depth):
    _, client = partner_and_client
    response = client.post(path, raw="[" * depth + "]" * depth)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "parse_error"
    assert "nested" in error["message"]


def test_it_still_takes_an_ordinary_object_nested_a_few_levels(partner_and_client):
    _, client = partner_and_client
    response = client.post("/api/v1/events", {"events": [{"id": "x", "note": {"a": {"b": [1]}}}]})
    assert response.status_code == 200
    assert response.json()["rejected"] == 1


def test_it_throttles_failed_token_checks_per_client_address(settings):
    settings.PHOENIX_API_TOKEN_FAILURES = "3/minute"
    _, key = factories.partner_token()
    guesser = {"REMOTE_ADDR": "10.0.1.9", "HTTP_X_FORWARDED_FOR": "203.0.113.5"}
    elsewhere = {"REMOTE_ADDR": "10.0.1.9", "HTTP_X_FORWARDED_FOR": "198.51.100.20"}

    answers = [ApiClient(f"phx_guess{n}").get("/api/v1/tracking/QP1", **guesser).status_code for n in range(3)]
    blocked = ApiClient(f"phx_guess{3}").get("/api/v1/tracking/QP1", **guesser)

    assert answers == [401, 401, 401]
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) > 0
    assert error_of(blocked)["code"] == "throttled"
    # Even the right key is not checked from that address for now: no oracle for guesses.
    assert ApiClient(key).get("/api/v1/tracking/QP1", **guesser).status_code == 429
    # Another address is not affected, and a partner's own successful requests cost nothing.
    assert [ApiClient(key).get("/api/v1/tracking/QP1", **elsewhere).status_code for _ in range(5)] == [400] * 5


def test_it_marks_answers_with_private_data_private_and_not_stored(partner_and_client, anonymous):
    partner, client = partner_and_client
    own = factories.shipment(partner=partner)

    detail = client.get(f"/api/v1/tracking/{own.tracking_number}")
    listing = client.get("/api/v1/tracking", {"numbers": own.tracking_number})
    events = client.post("/api/v1/events", {"events": [{"id": "x"}]})

    assert "private" in detail.json()
    for response in (detail, listing, events):
        assert response["Cache-Control"] == "private, no-store", response.request["PATH_INFO"]
    assert "private" not in anonymous.get(f"/api/v1/tracking/{own.tracking_number}").json()
