"""Staff hardening: what a Dispatcher can search, sessions, the import confirmation, the login redirect."""

import re

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests import factories

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/tracking/shipment/"


def _found(client, term: str) -> bool:
    response = client.get(CHANGELIST, {"q": term})
    assert response.status_code == 200
    return response.context["cl"].result_count > 0


def test_a_dispatcher_cannot_find_shipments_by_recipient_name_or_phone(dispatcher, shipment):
    assert _found(dispatcher, shipment.tracking_number)
    assert _found(dispatcher, "ORDER-1001")
    assert not _found(dispatcher, "Fernanda")
    assert not _found(dispatcher, "+52 33 1234 5678")
    assert not _found(dispatcher, "3312345678")


def test_customer_service_still_finds_shipments_by_recipient_name_and_phone(customer_service, shipment):
    assert _found(customer_service, "Fernanda")
    assert _found(customer_service, "+52 33 1234 5678")


def test_staff_sessions_last_a_working_day():
    assert 8 * 3600 <= settings.SESSION_COOKIE_AGE <= 10 * 3600


def test_a_login_with_a_foreign_next_lands_on_the_admin_index():
    User.objects.create_superuser("chief", password="a-strong-password-1")
    client = Client()
    response = client.post(
        "/admin/login/?next=https://evil.example/",
        {"username": "chief", "password": "a-strong-password-1", "next": "https://evil.example/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get(response["Location"]).status_code == 200


@pytest.mark.parametrize(
    "tamper",
    [
        {"import_file_name": "../../../etc/passwd"},
        {"import_file_name": "no-such-file.csv"},
        {"format": "99"},
        {"resource": "7"},
    ],
)
def test_a_tampered_import_confirmation_is_a_clear_400(customer_service, tamper):
    csv = (
        "reference,weight_grams,origin_facility,destination_facility,destination_postal_code,recipient_name\n"
        "R-1,1200,MEX01,GDL01,44100,Ana\n"
    )
    factories.facility("MEX01")
    factories.facility("GDL01")
    upload = SimpleUploadedFile("shipments.csv", csv.encode(), content_type="text/csv")
    page = customer_service.post(
        "/admin/tracking/shipment/import/", {"format": "0", "resource": "0", "import_file": upload}
    )
    assert page.status_code == 200
    html = page.content.decode()
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    assert "import_file_name" in fields, html[:3000]

    response = customer_service.post("/admin/tracking/shipment/process_import/", {**fields, **tamper})

    assert response.status_code == 400
    assert "upload the file again" in response.content.decode()
