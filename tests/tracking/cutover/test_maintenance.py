"""The maintenance switch through Django's test client: reads served, writes refused with 503."""

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from tests.tracking.cutover.conftest import MESSAGE
from tracking import numbers
from tracking.cutover.maintenance import maintenance_switch
from tracking.models import Facility

# Two well-formed numbers nobody shipped: the results page, read-only (one malformed number
# is a 400 form error).
UNKNOWN_NUMBERS = f"{numbers.from_body(1)},{numbers.from_body(2)}"

pytestmark = pytest.mark.django_db


def facility_form(code: str) -> dict:
    return {
        "code": code,
        "name": f"{code} hub",
        "kind": "hub",
        "city": "León",
        "state": "Guanajuato",
        "country": "MX",
        "time_zone": "America/Mexico_City",
    }


def test_it_serves_pages_while_writes_are_frozen(client, frozen):
    assert client.get("/").status_code == 200
    assert client.head("/").status_code == 200
    assert client.get(f"/track/?numbers={UNKNOWN_NUMBERS}").status_code == 200


def test_it_refuses_an_admin_change_with_503_retry_after_and_a_page(admin_client, frozen):
    response = admin_client.post("/admin/tracking/facility/add/", facility_form("LEO01"))

    assert response.status_code == 503
    assert response["Retry-After"] == "120"
    assert response["Content-Type"].startswith("text/html")
    assert MESSAGE in response.content.decode()
    assert not Facility.objects.filter(code="LEO01").exists()


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_it_refuses_api_writes_with_json(client, frozen, method):
    response = getattr(client, method)("/api/v1/events", {"events": []}, content_type="application/json")

    assert response.status_code == 503
    assert response["Retry-After"] == "120"
    assert response.json() == {"error": {"code": "maintenance", "message": MESSAGE, "fields": {}}}


def test_it_lets_staff_log_in_to_read_but_not_to_change(client, frozen):
    User.objects.create_user("ops", password="a-long-staff-password", is_staff=True, is_superuser=True)

    login = client.post("/admin/login/?next=/admin/", {"username": "ops", "password": "a-long-staff-password"})

    assert login.status_code == 302 and login["Location"] == "/admin/"
    assert client.get("/admin/tracking/facility/").status_code == 200
    assert client.post("/admin/tracking/facility/add/", facility_form("LEO02")).status_code == 503


def test_it_accepts_writes_again_once_switched_off(admin_client, frozen):
    maintenance_switch(enabled=False, changed_by="test")

    response = admin_client.post("/admin/tracking/facility/add/", facility_form("LEO03"))

    assert response.status_code == 302
    assert Facility.objects.filter(code="LEO03").exists()


def test_the_command_turns_it_on_and_off_and_tells_the_state():
    out = io.StringIO()
    call_command("maintenance", "status", stdout=out)
    call_command("maintenance", "on", "--message", MESSAGE, stdout=out)
    call_command("maintenance", "status", stdout=out)
    call_command("maintenance", "off", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Maintenance is OFF")
    assert lines[1].startswith("Maintenance is ON") and lines[2] == f"Message: {MESSAGE}"
    assert lines[3].startswith("Maintenance is ON")
    assert lines[-1].startswith("Maintenance is OFF")


def test_it_explains_in_both_languages_when_no_message_is_given(client):
    maintenance_switch(enabled=True, changed_by="test")

    body = client.post("/track/").content.decode()

    assert "el rastreo funciona" in body and "tracking still works" in body
