"""The live OpenAPI schema, its docs page, and schemathesis against every operation.

schemathesis loads /api/schema/ from the WSGI application (the real Django stack on the real
MariaDB test database) and sends generated requests, valid and invalid, with a partner token;
every answer must be no server error and must match the schema (status, content type, body,
headers).
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from tests import factories
from tracking import numbers
from tracking.models import Facility, Shipment
from tracking.services import event_record

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 30


# Loaded once, from the schema endpoint of the WSGI application (no database access).
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture
def served_in_test_transaction(db, rates):
    """Serve requests inside the test's transaction, as Django's test client does.

    Request signals must not close the test's connection; throttle rates are generous because
    this test is about conformance (throttling has its own tests).
    """
    rates(partner="100000/minute", ip="100000/minute")
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def partner_key(db) -> str:
    # Runs once per operation inside the test's one transaction.
    for code in ("MEX01", "GDL01"):
        if not Facility.objects.filter(code=code).exists():
            factories.facility(code)
    _, key = factories.partner_token()
    return key


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_every_operation_conforms_to_the_schema(case, partner_key, served_in_test_transaction):
    # Left out, by design: a schema-valid request may still name an unknown facility or carry
    # a wrong check digit (400 by design), and /events answers a bad item per item in a 200.
    excluded = [positive_data_acceptance]
    if case.operation.path == "/api/v1/events":
        excluded.append(negative_data_rejection)
    case.call_and_validate(headers={"Authorization": f"Token {partner_key}"}, excluded_checks=excluded)


def test_the_schema_covers_every_endpoint_with_the_error_shape_and_token_auth(db):
    document = Client().get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert set(document["paths"]) == {
        "/api/v1/tracking/{number}",
        "/api/v1/tracking",
        "/api/v1/proofs/{id}",
        "/api/v1/shipments",
        "/api/v1/events",
        "/api/v1/webhooks",
        "/api/v1/webhooks/{id}",
        "/api/v1/webhooks/{id}/ping",
        "/api/v1/webhooks/{id}/rotate-secret",
        "/api/v1/webhooks/{id}/deliveries",
        "/api/v1/webhooks/{id}/replay",
        "/api/v1/webhooks/{id}/deliveries/{delivery}/replay",
        "/api/v1/sandbox/shipments",
        "/api/v1/sandbox/shipments/{number}/advance",
    }
    assert document["components"]["securitySchemes"]["partnerToken"]["name"] == "Authorization"
    assert set(document["components"]["schemas"]["Error"]["properties"]) == {"error"}
    events = document["paths"]["/api/v1/events"]["post"]["responses"]
    assert {"200", "400", "401", "403", "413", "415", "429"} <= set(events)
    shipments = document["paths"]["/api/v1/shipments"]["post"]
    assert {"201", "400", "401", "422", "429"} <= set(shipments["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in shipments["parameters"])
    for path in ("/api/v1/shipments", "/api/v1/events"):  # the changes feeds
        assert {"200", "400", "401", "429"} <= set(document["paths"][path]["get"]["responses"])
    proofs = document["paths"]["/api/v1/proofs/{id}"]["get"]
    assert {"200", "302", "401", "404"} <= set(proofs["responses"])
    assert proofs["security"] == [{"partnerToken": []}]
    hooks = document["paths"]["/api/v1/webhooks"]
    assert {"201", "400", "401", "429"} <= set(hooks["post"]["responses"])
    assert "secret" in document["components"]["schemas"]["WebhookWithSecret"]["properties"]
    assert "secret" not in document["components"]["schemas"]["WebhookOut"]["properties"]
    for path, method in [("/api/v1/webhooks/{id}", "delete"), ("/api/v1/webhooks/{id}/replay", "post")]:
        assert hooks["get"]["security"] == document["paths"][path][method]["security"] == [{"partnerToken": []}]
        assert "404" in document["paths"][path][method]["responses"]


def test_the_docs_page_loads_swagger_ui_without_inline_scripts(db):
    page = Client().get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<script>" not in html and "<style>" not in html
    assert "swagger-ui-bundle.js" in html and "/static/drf_spectacular_sidecar/" in html
    assert "script-src 'self'" in page["Content-Security-Policy"]
    script = Client().get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()


def test_successful_answers_match_the_schema(partner_key, served_in_test_transaction, media_root, settings):
    """Generated data rarely names a real facility, shipment or proof, so check those answers here."""
    auth = {"Authorization": f"Token {partner_key}"}

    def call(path: str, method: str, **kwargs):
        case = schema[path][method].Case(headers=auth, **kwargs)
        response = case.call()
        case.validate_response(response, excluded_checks=[positive_data_acceptance, negative_data_rejection])
        return response

    shipment = {
        "weight_grams": 700,
        "origin_facility": "MEX01",
        "destination_facility": "GDL01",
        "recipient": {"name": "Ana", "postal_code": "44100"},
    }
    one = call("/api/v1/shipments", "POST", body=shipment, media_type="application/json")
    assert one.status_code == 201
    many = call("/api/v1/shipments", "POST", body=[shipment, shipment], media_type="application/json")
    assert many.status_code == 201
    number = one.json()["tracking_number"]
    events = {
        "events": [
            {"id": "a", "tracking_number": number, "milestone": "picked_up", "occurred_at": "2030-01-01T00:00:00Z"},
            {"id": "b", "tracking_number": number, "code": "arrived_at_facility", "facility": "MEX01",
             "occurred_at": timezone.now().isoformat(), "reason": "weather_delay", "note": "rain"},
            {"id": "b", "tracking_number": number, "milestone": "in_transit", "occurred_at": timezone.now().isoformat()},
        ]
    }  # fmt: skip
    posted = call("/api/v1/events", "POST", body=events, media_type="application/json")
    assert [r["status"] for r in posted.json()["results"]] == ["rejected", "accepted", "duplicate"]
    shipment = Shipment.objects.get(tracking_number=number)
    event_record(shipment=shipment, code="delivered", occurred_at=timezone.now())
    proof = factories.proof_of_delivery(shipment, factories.image_bytes("PNG"))
    owner = call("/api/v1/tracking/{number}", "GET", path_parameters={"number": number})
    assert owner.json()["private"]["recipient"]["name"] == "Ana"
    assert [p["id"] for p in owner.json()["private"]["proof_of_delivery"]] == [proof.pk]
    image = call("/api/v1/proofs/{id}", "GET", path_parameters={"id": proof.pk})
    assert (image.status_code, image.headers["content-type"]) == (200, ["image/png"])
    assert call("/api/v1/proofs/{id}", "GET", path_parameters={"id": proof.pk + 1}).status_code == 404
    listed = call("/api/v1/tracking", "GET", query={"numbers": f"{number},QP1,{numbers.generate()}"})
    assert [r["status"] for r in listed.json()["results"]][:2] == ["found", "invalid"]
    settings.PHOENIX_FEED_SETTLE_SECONDS = 0
    changed = call("/api/v1/shipments", "GET", query={"updated_after": "2020-01-01T00:00:00Z", "limit": 1})
    assert changed.json()["shipments"] and changed.json()["next"]
    feed = call("/api/v1/events", "GET", query={"limit": 2})
    assert len(feed.json()["events"]) == 2 and feed.json()["next"]


def test_error_answers_and_their_headers_match_the_schema(partner_key, served_in_test_transaction, rates):
    operation = schema["/api/v1/events"]["POST"]
    body = {"events": [{"id": "x"}]}
    anonymous = operation.Case(body=body, media_type="application/json")
    response = anonymous.call()
    assert response.status_code == 401
    anonymous.validate_response(response, excluded_checks=[positive_data_acceptance, negative_data_rejection])

    proofs = schema["/api/v1/proofs/{id}"]["GET"].Case(path_parameters={"id": 1})
    response = proofs.call()
    assert response.status_code == 401
    proofs.validate_response(response, excluded_checks=[positive_data_acceptance, negative_data_rejection])

    rates(partner="1/minute")
    case = operation.Case(body=body, media_type="application/json", headers={"Authorization": f"Token {partner_key}"})
    assert case.call().status_code == 200
    throttled = case.call()
    assert throttled.status_code == 429
    case.validate_response(throttled, excluded_checks=[positive_data_acceptance, negative_data_rejection])
