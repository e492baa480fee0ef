"""Every client mistake under /api/ answers a 4xx in the one JSON error shape, never HTML."""

import json

import pytest
from django.test import Client

from tests import factories
from tests.tracking.api.support import ApiClient, error_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(db) -> ApiClient:
    _, key = factories.partner_token()
    return ApiClient(key)


@pytest.mark.parametrize(
    "path", ["/api/", "/api/v1/", "/api/v2/events", "/api/v1/events/", "/api/v1/tracking/", "/api/nothing/here"]
)
def test_an_unknown_path_is_a_json_404(client, path):
    for response in (client.get(path), client.post(path, {})):
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("delete", "/api/v1/events"),  # GET is the changes feed
        ("patch", "/api/v1/shipments"),
        ("delete", "/api/v1/tracking/QP1"),
        ("put", "/api/v1/tracking"),
    ],
)
def test_a_wrong_method_is_a_json_405(client, method, path):
    response = getattr(client.client, method)(path, HTTP_AUTHORIZATION=f"Token {client.key}")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
def test_a_body_that_is_not_json_is_a_415(client, content_type):
    response = client.post("/api/v1/events", raw="events=1", content_type=content_type)
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


@pytest.mark.parametrize("raw", ['{"events": [', "not json", '{"events": NaN}', b"\xff\xfe\x00", ""])
def test_malformed_json_is_a_400(client, raw):
    for path in ("/api/v1/events", "/api/v1/shipments"):
        response = client.post(path, raw=raw)
        assert response.status_code == 400, response.content
        assert error_of(response)["code"] in ("parse_error", "invalid")


@pytest.mark.parametrize("body", [[], "text", 3, None, True])
def test_json_that_is_not_an_object_is_a_400(client, body):
    response = client.post("/api/v1/events", body)
    assert response.status_code == 400
    assert error_of(response)["fields"] == {"events": ["This field is required."]}


def test_an_oversized_body_is_a_413(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({"events": [{"id": f"e{i}", "note": "x" * 400} for i in range(30)]})
    response = client.post("/api/v1/events", raw=body)
    assert response.status_code == 413
    assert error_of(response)["code"] == "request_too_large"


def test_a_batch_of_500_full_events_fits_the_default_limit(client):
    event = {
        "id": "partner-event-000000000001",
        "tracking_number": "QP12345678901",
        "milestone": "out_for_delivery",
        "reason": "recipient_not_home",
        "occurred_at": "2026-11-27T10:00:00-06:00",
        "facility": "MEX01",
        "note": "n" * 200,
        "close_exception": False,
    }
    body = json.dumps({"events": [event] * 500})
    response = client.post("/api/v1/events", raw=body)
    assert response.status_code == 200
    assert response.json()["rejected"] == 500


def test_no_error_under_api_is_html(client):
    responses = [
        Client().get("/api/v1/events"),
        Client().post("/api/v1/events", "x", content_type="text/html"),
        Client().get("/api/v1/tracking/%00"),
        client.get("/api/v1/tracking", {"numbers": ",,"}),
    ]
    for response in responses:
        assert 400 <= response.status_code < 500
        error_of(response)
