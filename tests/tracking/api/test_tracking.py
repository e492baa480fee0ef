"""GET /api/v1/tracking/<number> and /api/v1/tracking?numbers=: public or owner's projection."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests import factories
from tests.tracking.api.support import ApiClient, error_of
from tracking import numbers
from tracking.models import Shipment
from tracking.services import event_record

pytestmark = pytest.mark.django_db

PERSONAL = ("Fernanda", "fernanda@example.com", "+52 33", "Juárez", "44100", "Tienda Ejemplo")


def _mistype(number: str) -> str:
    last = number[-1]
    return number[:-1] + str((int(last) + 1) % 10)


def _unknown() -> str:
    while True:
        number = numbers.generate()
        if not Shipment.objects.filter(tracking_number=number).exists():
            return number


@pytest.fixture
def shipment_with_events(db):
    partner = factories.partner()
    hub = factories.facility("HUB07", city="Querétaro", state="Querétaro")
    t0 = timezone.now() - timedelta(days=1)
    shipment = factories.shipment(partner=partner, occurred_at=t0)
    event_record(shipment=shipment, code="picked_up", occurred_at=t0 + timedelta(hours=1))
    event_record(
        shipment=shipment,
        code="arrived_at_facility",
        occurred_at=t0 + timedelta(hours=5),
        facility=hub,
        note="Left with neighbour Juárez",
        reason="weather_delay",
    )
    shipment.refresh_from_db()
    return partner, shipment


def test_the_public_projection_has_milestone_cities_and_events_but_no_personal_data(anonymous, shipment_with_events):
    _, shipment = shipment_with_events
    response = anonymous.get(f"/api/v1/tracking/{shipment.tracking_number}")
    assert response.status_code == 200
    body = response.json()
    assert body["tracking_number"] == shipment.tracking_number
    assert body["milestone"] == "in_transit"
    assert body["exception"] == {"open": True, "reason": "weather_delay", "group": "weather"}
    assert body["origin"] == {"city": "Ciudad de México"}
    assert body["destination"] == {"city": "Guadalajara"}
    assert [e["code"] for e in body["events"]] == ["arrived_at_facility", "picked_up", "label_created"]
    assert body["events"][0]["facility"] == {"city": "Querétaro"}
    assert "private" not in body
    for text in PERSONAL:
        assert text not in response.content.decode(), text


def test_the_owner_sees_the_full_record(shipment_with_events):
    partner, shipment = shipment_with_events
    _, key = factories.partner_token(partner)
    body = ApiClient(key).get(f"/api/v1/tracking/{shipment.tracking_number}").json()
    private = body["private"]
    assert private["recipient"]["name"] == "Fernanda Ruiz Ortega"
    assert private["recipient"]["email"] == "fernanda@example.com"
    assert private["sender"]["name"] == "Tienda Ejemplo SA de CV"
    assert private["destination_postal_code"] == "44100"
    assert private["events"][0]["note"] == "Left with neighbour Juárez"
    assert private["events"][0]["facility"] == "HUB07"


def test_another_partner_sees_only_the_public_projection(shipment_with_events):
    _, shipment = shipment_with_events
    _, key = factories.partner_token()
    response = ApiClient(key).get(f"/api/v1/tracking/{shipment.tracking_number}")
    assert response.status_code == 200
    assert "private" not in response.json()
    assert "Fernanda" not in response.content.decode()


def test_input_is_normalised(anonymous, shipment_with_events):
    _, shipment = shipment_with_events
    grouped = numbers.display(shipment.tracking_number).replace(" ", "-").lower()
    assert anonymous.get(f"/api/v1/tracking/{grouped}").json()["tracking_number"] == shipment.tracking_number


def test_a_mistyped_number_is_rejected_by_name_without_a_query(
    anonymous, shipment_with_events, django_assert_num_queries
):
    _, shipment = shipment_with_events
    mistyped = _mistype(shipment.tracking_number)
    with django_assert_num_queries(0):
        response = anonymous.get(f"/api/v1/tracking/{mistyped}")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_tracking_number"
    assert error["message"] == f"{mistyped} has a wrong check digit: it was probably mistyped."


def test_an_unknown_number_is_a_404_by_name(anonymous, db):
    unknown = _unknown()
    response = anonymous.get(f"/api/v1/tracking/{unknown}")
    assert response.status_code == 404
    assert error_of(response)["message"] == f"No shipment has the tracking number {unknown}."


def test_the_list_answers_each_number_in_order(anonymous, shipment_with_events):
    _, shipment = shipment_with_events
    other = factories.shipment()
    unknown = _unknown()
    mistyped = _mistype(other.tracking_number)
    query = ",".join([other.tracking_number, unknown, mistyped, "hello", numbers.display(shipment.tracking_number)])
    body = anonymous.get("/api/v1/tracking", {"numbers": query}).json()
    assert [(r["query"], r["status"]) for r in body["results"]] == [
        (other.tracking_number, "found"),
        (unknown, "not_found"),
        (mistyped, "invalid"),
        ("hello", "invalid"),
        (shipment.tracking_number, "found"),  # grouped input is joined up again
    ]
    assert body["results"][0]["shipment"]["milestone"] == "label_created"
    assert body["results"][1]["message"] == f"No shipment has the tracking number {unknown}."
    assert "probably mistyped" in body["results"][2]["message"]
    assert body["results"][4]["shipment"]["events"][0]["facility"] == {"city": "Querétaro"}


def test_the_list_takes_at_most_two_queries(anonymous, shipment_with_events):
    others = [factories.shipment() for _ in range(24)]
    query = ",".join([shipment_with_events[1].tracking_number] + [s.tracking_number for s in others])
    with CaptureQueriesContext(connection) as captured:
        body = anonymous.get("/api/v1/tracking", {"numbers": query}).json()
    assert [r["status"] for r in body["results"]] == ["found"] * 25
    # Beside the two reads, one statement adds the 25 points to the shared lookup budget.
    sqls = [q["sql"] for q in captured.captured_queries]
    budget = [sql for sql in sqls if "tracking_ratecounter" in sql]
    assert len(budget) == 1 and len(sqls) - len(budget) <= 2, sqls


@pytest.mark.parametrize(("params", "code"), [({}, "invalid"), ({"numbers": ""}, "invalid")])
def test_the_list_needs_numbers(anonymous, db, params, code):
    response = anonymous.get("/api/v1/tracking", params)
    assert response.status_code == 400
    assert error_of(response)["fields"] == {"numbers": ["This field is required."]}


def test_the_list_takes_at_most_25(anonymous, db):
    response = anonymous.get("/api/v1/tracking", {"numbers": ",".join(numbers.generate() for _ in range(26))})
    assert response.status_code == 400
    assert error_of(response)["code"] == "too_many_numbers"
