"""CSV export of the filtered change list; recipients' personal data only for roles that see it."""

import csv
import io

import pytest
from django.utils import timezone

from tests.tracking.admin.conftest import shipment_made_yesterday
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
