"""CSV import with phone_updates: the recipient's number subscribed with the shipper's consent, or a named error."""

import pytest

from tests import factories
from tests.tracking.admin.test_csv_import import SHIPMENT_HEADER, SHIPMENTS, _csv, _upload
from tracking import sealing
from tracking.models import PhoneSubscription, Shipment

pytestmark = pytest.mark.django_db

HEADER = [*SHIPMENT_HEADER, "phone_updates", "phone_consent_source", "phone_consent_at", "phone_language"]
BASE = ["PO-1", "1200", "MEX01", "GDL01", "44100", "Lucía Pérez"]


@pytest.fixture(autouse=True)
def facilities(db):
    factories.facility("MEX01")
    factories.facility("GDL01")


def test_a_row_with_consent_subscribes_the_recipients_number(customer_service):
    rows = [
        [*BASE, "33 1111 2222", "", "", "whatsapp", "signed order form", "2026-12-01T09:30:00-06:00", "en"],
        ["PO-2", "800", "MEX01", "GDL01", "44600", "Juan Gómez", "+52 33 1111 3333", "", "", "", "", "", ""],
    ]
    response = _upload(customer_service, SHIPMENTS, _csv(HEADER, rows))
    assert not response.context["result"].invalid_rows
    response = customer_service.post(f"{SHIPMENTS}process_import/", {**response.context["confirm_form"].initial})
    assert response.status_code == 302
    subscription = PhoneSubscription.objects.get()  # PO-2 gave no consent: nobody subscribed
    assert subscription.shipment == Shipment.objects.get(reference="PO-1")
    assert sealing.unseal(subscription.phone_encrypted) == "+523311112222"
    assert (subscription.source, subscription.consent_source, subscription.language) == (
        "import",
        "signed order form",
        "en",
    )
    assert subscription.first_name == "Lucía"


def test_a_landline_or_a_missing_consent_is_named_and_nothing_is_created(customer_service):
    rows = [
        [*BASE, "+1 800 555 0199", "", "", "whatsapp", "form", "2026-12-01T09:30:00-06:00", ""],
        [*BASE, "+52 33 1111 2222", "", "", "sms", "", "yesterday", "fr"],
    ]
    response = _upload(customer_service, SHIPMENTS, _csv(HEADER, rows))
    bad = {row.number: row.error_dict for row in response.context["result"].invalid_rows}
    assert "not a mobile number" in bad[2]["recipient_phone"][0]
    assert {"phone_consent_source", "phone_consent_at", "phone_language"} <= set(bad[3])
    assert not Shipment.objects.exists() and not PhoneSubscription.objects.exists()
