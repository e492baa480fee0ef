"""POST /api/v1/shipments with phone_updates: the shipper's consent, the number checked, normalised and sealed."""

import pytest

from tests import factories
from tests.tracking.api.support import error_of
from tests.tracking.api.test_shipments import _payload
from tracking import sealing
from tracking.models import PhoneSubscription, Shipment

pytestmark = pytest.mark.django_db

URL = "/api/v1/shipments"
CONSENT = {"consent": {"source": "checkout checkbox, tienda.example", "at": "2026-12-01T10:00:00-06:00"}}


@pytest.fixture(autouse=True)
def facilities(db):
    factories.facility("MEX01", city="Ciudad de México", state="CDMX")
    factories.facility("GDL01", city="Guadalajara", state="Jalisco")


def _with_phone(phone: str, country: str = "MX", **updates) -> dict:
    payload = _payload(phone_updates={**CONSENT, **updates})
    payload["recipient"] = {**payload["recipient"], "phone": phone, "country": country}
    return payload


def test_it_stores_the_recipients_number_sealed_in_e164_with_the_consent(partner_and_client):
    _, client = partner_and_client
    response = client.post(URL, _with_phone("33 1234 5678", language="en"))
    assert response.status_code == 201, response.json()
    shipment = Shipment.objects.get(tracking_number=response.json()["tracking_number"])
    subscription = PhoneSubscription.objects.get(shipment=shipment)
    assert sealing.unseal(subscription.phone_encrypted) == "+523312345678"
    assert "3312345678" not in subscription.phone_encrypted
    assert subscription.phone_masked == "+52 ••• 78"
    assert (subscription.status, subscription.source, subscription.channel) == ("active", "api", "whatsapp")
    assert subscription.consent_source == "checkout checkbox, tienda.example"
    assert subscription.consent_at.isoformat() == "2026-12-01T16:00:00+00:00"
    assert (subscription.first_name, subscription.language, subscription.country) == ("Fernanda", "en", "MX")


def test_it_reads_a_us_number_without_plus_as_the_recipients_country(partner_and_client):
    _, client = partner_and_client
    response = client.post(URL, _with_phone("(212) 555-0123", country="US", channel="sms"))
    assert response.status_code == 201, response.json()
    subscription = PhoneSubscription.objects.get()
    assert sealing.unseal(subscription.phone_encrypted) == "+12125550123"
    assert subscription.channel == "sms"


@pytest.mark.parametrize(
    "phone, message",
    [
        ("+1 800 555 0199", "not a mobile number"),
        ("+34 600 000 000", "Mexico (+52)"),
        ("+52 55 1234", "not valid"),
        ("call me", "not a phone number"),
        ("", "Enter a mobile phone number"),
    ],
)
def test_it_refuses_a_number_that_cannot_get_messages_and_creates_nothing(partner_and_client, phone, message):
    _, client = partner_and_client
    response = client.post(URL, _with_phone(phone))
    assert response.status_code == 400
    error = error_of(response)
    assert message in error["fields"]["recipient.phone"][0]
    assert not Shipment.objects.exists()
    assert not PhoneSubscription.objects.exists()


def test_it_needs_the_consent_to_subscribe_the_number(partner_and_client):
    _, client = partner_and_client
    payload = _with_phone("+52 33 1234 5678")
    payload["phone_updates"] = {"channel": "whatsapp"}
    response = client.post(URL, payload)
    assert response.status_code == 400
    assert "phone_updates.consent" in error_of(response)["fields"]
    assert not PhoneSubscription.objects.exists()


def test_a_shipment_without_phone_updates_subscribes_nobody_even_with_a_landline(partner_and_client):
    _, client = partner_and_client
    payload = _payload()
    payload["recipient"] = {**payload["recipient"], "phone": "+1 800 555 0199"}
    assert client.post(URL, payload).status_code == 201
    assert not PhoneSubscription.objects.exists()
