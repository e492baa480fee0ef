"""Token scopes (read versus write, per family of endpoints) and expiry, set by staff in the
admin and kept in its audit history."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests import factories
from tests.tracking.api.support import ApiClient, error_of
from tracking.models import PartnerToken

pytestmark = pytest.mark.django_db

READS = ["/api/v1/webhooks", "/api/v1/events", "/api/v1/shipments?updated_after=2026-01-01T00:00:00Z"]


def client_with(scopes=None, expires_at=None):
    partner, key = factories.partner_token()
    token = PartnerToken.objects.get(partner=partner)
    if scopes is not None:
        token.scopes = scopes
    token.expires_at = expires_at
    token.save()
    return partner, ApiClient(key)


def shipment_body(partner):
    return {
        "weight_grams": 100,
        "origin_facility": "MEX01",
        "destination_facility": "GDL01",
        "recipient": {"name": "Ana", "postal_code": "44100"},
    }


@pytest.fixture
def facilities():
    return factories.facility("MEX01"), factories.facility("GDL01")


def test_a_new_token_may_do_everything(facilities):
    partner, client = client_with()
    assert set(PartnerToken.objects.get(partner=partner).scopes) == set(PartnerToken.Scope.values)
    assert [client.get(path).status_code for path in READS] == [200, 200, 200]
    assert client.post("/api/v1/shipments", shipment_body(partner)).status_code == 201


def test_a_read_only_token_reads_and_may_not_write(facilities):
    partner, client = client_with(["tracking:read", "shipments:read", "events:read", "webhooks:read"])
    assert [client.get(path).status_code for path in READS] == [200, 200, 200]
    writes = [
        client.post("/api/v1/shipments", shipment_body(partner)),
        client.post("/api/v1/events", {"events": []}),
        client.post("/api/v1/webhooks", {"url": "https://hooks.example.com/x", "topics": ["scan"]}),
    ]
    assert [w.status_code for w in writes] == [403, 403, 403]
    assert {error_of(w)["code"] for w in writes} == {"insufficient_scope"}
    assert "shipments:write" in error_of(writes[0])["message"]
    assert not partner.shipments.exists()


def test_an_events_writing_token_may_not_create_shipments(facilities):
    partner, client = client_with(["events:write"])
    shipment = factories.shipment(partner=partner)
    answer = client.post(
        "/api/v1/events",
        {
            "events": [
                {
                    "id": "s-1",
                    "tracking_number": shipment.tracking_number,
                    "milestone": "picked_up",
                    "occurred_at": timezone.now().isoformat(),
                }
            ]
        },
    )
    assert answer.status_code == 200 and answer.json()["accepted"] == 1
    assert client.post("/api/v1/shipments", shipment_body(partner)).status_code == 403
    assert client.get("/api/v1/events").status_code == 403
    assert client.get(f"/api/v1/tracking/{shipment.tracking_number}").status_code == 403


def test_an_expired_token_is_401_with_a_clear_code():
    _, client = client_with(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get("/api/v1/webhooks")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert error_of(response)["code"] == "token_expired"
    assert "expired" in error_of(response)["message"]
    _, later = client_with(expires_at=timezone.now() + timedelta(hours=1))
    assert later.get("/api/v1/webhooks").status_code == 200


def test_staff_set_scopes_and_expiry_in_the_admin_and_the_history_names_them(admin_client, admin_user):
    partner, client = client_with()
    token = PartnerToken.objects.get(partner=partner)
    page = admin_client.get(f"/admin/tracking/partnertoken/{token.pk}/change/")
    assert page.status_code == 200 and token.key_hash not in page.content.decode()
    response = admin_client.post(
        f"/admin/tracking/partnertoken/{token.pk}/change/",
        {
            "name": "warehouse scanner",
            "is_active": "on",
            "scopes": ["tracking:read", "events:write"],
            "expires_at_0": "2030-01-31",
            "expires_at_1": "18:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    token.refresh_from_db()
    assert token.scopes == ["tracking:read", "events:write"] and token.expires_at.year == 2030
    latest = token.history.latest()
    assert latest.history_user == admin_user and latest.scopes == ["tracking:read", "events:write"]
    assert client.get("/api/v1/webhooks").status_code == 403
    assert admin_client.get("/admin/tracking/partnertoken/add/").status_code == 403


def test_unknown_paths_and_methods_answer_404_and_405_whatever_the_scopes():
    _, client = client_with([])
    assert client.post("/api/v1/events/", {}).status_code == 404
    assert client.client.delete("/api/v1/tracking/QP1", HTTP_AUTHORIZATION=f"Token {client.key}").status_code == 405
    assert client.client.put("/api/v1/webhooks", HTTP_AUTHORIZATION=f"Token {client.key}").status_code == 405
    assert client.get("/api/v1/webhooks").status_code == 403
