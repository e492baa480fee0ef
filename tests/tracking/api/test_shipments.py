"""POST /api/v1/shipments: create one shipment or a list, all or none, idempotent retries."""

import pytest

from tests import factories
from tests.tracking.api.support import error_of
from tracking import numbers
from tracking.models import Contact, Shipment, TrackingEvent

pytestmark = pytest.mark.django_db

URL = "/api/v1/shipments"


@pytest.fixture(autouse=True)
def facilities(db):
    factories.facility("MEX01", city="Ciudad de México", state="CDMX")
    factories.facility("GDL01", city="Guadalajara", state="Jalisco")


def _payload(**changes) -> dict:
    payload = {
        "reference": "ORDER-123",
        "service": "standard",
        "weight_grams": 1200,
        "pieces": 1,
        "origin_facility": "MEX01",
        "destination_facility": "GDL01",
        "recipient": {
            "name": "Fernanda Ruiz",
            "phone": "+52 33 1234 5678",
            "email": "fernanda@example.com",
            "address": "Av. Juárez 123",
            "city": "Guadalajara",
            "state": "Jalisco",
            "postal_code": "44100",
            "country": "MX",
        },
        "sender": {"name": "Tienda Ejemplo", "city": "Ciudad de México", "postal_code": "06600", "country": "MX"},
    }
    return {**payload, **changes}


def test_it_creates_a_shipment_and_answers_its_tracking_number(partner_and_client):
    partner, client = partner_and_client
    response = client.post(URL, _payload())
    assert response.status_code == 201
    body = response.json()
    assert numbers.is_valid(body["tracking_number"])
    assert body["milestone"] == "label_created"
    assert body["reference"] == "ORDER-123"
    assert body["url"].endswith(f"/track/{body['tracking_number']}/")
    shipment = Shipment.objects.get(tracking_number=body["tracking_number"])
    assert (shipment.partner, shipment.origin_city, shipment.destination_city) == (
        partner,
        "Ciudad de México",
        "Guadalajara",
    )
    assert shipment.destination_postal_code == "44100"
    recipient = shipment.contacts.get(role="recipient")
    assert (recipient.name, recipient.email) == ("Fernanda Ruiz", "fernanda@example.com")
    assert shipment.contacts.get(role="sender").name == "Tienda Ejemplo"
    assert list(shipment.events.values_list("code", "source")) == [("label_created", "api")]


def test_it_creates_a_list_of_shipments(partner_and_client):
    _, client = partner_and_client
    response = client.post(URL, [_payload(reference="A"), _payload(reference="B", weight_grams=50)])
    assert response.status_code == 201
    created = response.json()["shipments"]
    assert [s["reference"] for s in created] == ["A", "B"]
    assert Shipment.objects.filter(tracking_number__in=[s["tracking_number"] for s in created]).count() == 2


def test_one_bad_shipment_in_a_list_creates_none(partner_and_client):
    _, client = partner_and_client
    bad = _payload(reference="B", destination_facility="NOPE9")
    del bad["recipient"]["name"]
    response = client.post(URL, [_payload(reference="A"), bad])
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert "1.recipient.name" in error["fields"]
    assert Shipment.objects.count() == 0
    # Facility codes are checked once the payload is well formed.
    response = client.post(URL, [_payload(reference="A"), _payload(reference="B", destination_facility="NOPE9")])
    assert error_of(response)["fields"] == {"1.destination_facility": ["No facility has the code NOPE9."]}
    assert Shipment.objects.count() == 0 and Contact.objects.count() == 0 and TrackingEvent.objects.count() == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"weight_grams": 0}, "weight_grams"),
        ({"weight_grams": "heavy"}, "weight_grams"),
        ({"pieces": 1000}, "pieces"),
        ({"service": "teleport"}, "service"),
        ({"origin_facility": None}, "origin_facility"),
        ({"recipient": "Fernanda"}, "recipient"),
        ({"recipient": {"name": "Fernanda"}}, "recipient.postal_code"),
        ({"recipient": {"name": "F", "postal_code": "1", "email": "not-an-email"}}, "recipient.email"),
        ({"recipient": {"name": "F", "postal_code": "1", "country": "Mexico"}}, "recipient.country"),
        ({"reference": "x" * 101}, "reference"),
        ({"reference": "bad\x00"}, "reference"),
    ],
)
def test_it_rejects_bad_input_by_field(partner_and_client, changes, field):
    _, client = partner_and_client
    response = client.post(URL, _payload(**changes))
    assert response.status_code == 400
    assert field in error_of(response)["fields"]
    assert Shipment.objects.count() == 0


@pytest.mark.parametrize("payload", [[], "shipment", 42, None, [_payload()] * 101])
def test_it_rejects_a_body_that_is_not_shipments(partner_and_client, payload):
    _, client = partner_and_client
    response = client.post(URL, payload)
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid"


def test_a_retry_with_the_same_idempotency_key_returns_the_first_answer(partner_and_client):
    partner, client = partner_and_client
    first = client.post(URL, _payload(), HTTP_IDEMPOTENCY_KEY="order-123-try")
    again = client.post(URL, _payload(), HTTP_IDEMPOTENCY_KEY="order-123-try")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Shipment.objects.filter(partner=partner).count() == 1


def test_a_key_reused_with_another_body_is_refused(partner_and_client):
    _, client = partner_and_client
    client.post(URL, _payload(), HTTP_IDEMPOTENCY_KEY="k-1")
    response = client.post(URL, _payload(weight_grams=999), HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "idempotency_key_reused"
    assert "Idempotency-Key" in error["fields"]
    assert Shipment.objects.count() == 1


def test_keys_are_per_partner_and_other_keys_create_again(partner_and_client):
    _, client = partner_and_client
    _, other_key = factories.partner_token()
    from tests.tracking.api.support import ApiClient

    a = client.post(URL, _payload(), HTTP_IDEMPOTENCY_KEY="same")
    b = ApiClient(other_key).post(URL, _payload(), HTTP_IDEMPOTENCY_KEY="same")
    c = client.post(URL, _payload(), HTTP_IDEMPOTENCY_KEY="other")
    d = client.post(URL, _payload())
    assert len({r.json()["tracking_number"] for r in (a, b, c, d)}) == 4


def test_a_failed_request_does_not_burn_its_key(partner_and_client):
    _, client = partner_and_client
    assert client.post(URL, _payload(weight_grams=0), HTTP_IDEMPOTENCY_KEY="k").status_code == 400
    assert client.post(URL, _payload(), HTTP_IDEMPOTENCY_KEY="k").status_code == 201


def test_a_malformed_idempotency_key_is_refused(partner_and_client):
    _, client = partner_and_client
    response = client.post(URL, _payload(), HTTP_IDEMPOTENCY_KEY="x" * 101)
    assert response.status_code == 400
    assert "Idempotency-Key" in error_of(response)["fields"]


def test_it_needs_a_token(anonymous):
    response = anonymous.post(URL, _payload())
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"
    assert Shipment.objects.count() == 0


def test_a_shipment_created_by_a_partner_is_in_the_audit_history_without_a_staff_user(partner_and_client):
    _, client = partner_and_client
    response = client.post(URL, _payload())
    assert response.status_code == 201
    shipment = Shipment.objects.get(tracking_number=response.json()["tracking_number"])
    created = shipment.history.get(history_type="+")
    assert created.history_user is None
