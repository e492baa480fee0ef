"""The shipment change list: searches by any number form, filters, and a bounded count."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests import factories
from tests.tracking.admin.conftest import messages_of, shipment_made_yesterday
from tracking import numbers
from tracking.services import event_record

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/tracking/shipment/"


def _listed(response) -> list[str]:
    return [s.tracking_number for s in response.context["cl"].result_list]


@pytest.mark.parametrize(
    "form",
    [
        lambda n: n,
        lambda n: n.lower(),
        lambda n: numbers.display(n),
        lambda n: "-".join(numbers.display(n).split()),
        lambda n: f"  {numbers.display(n).lower()}  ",
    ],
)
def test_it_finds_a_shipment_by_its_number_in_any_form_the_public_page_accepts(customer_service, shipment, form):
    factories.shipment()
    with CaptureQueriesContext(connection) as queries:
        response = customer_service.get(CHANGELIST, {"q": form(shipment.tracking_number)})
    assert _listed(response) == [shipment.tracking_number]
    lookups = [q["sql"] for q in queries if "tracking_shipment" in q["sql"] and "LIKE" in q["sql"].upper()]
    assert lookups == [], "an exact number must be an indexed equality lookup, not LIKE"


def test_a_mistyped_number_says_so_and_lists_nothing(customer_service, shipment):
    wrong = shipment.tracking_number[:-1] + str((int(shipment.tracking_number[-1]) + 1) % 10)
    response = customer_service.get(CHANGELIST, {"q": wrong})
    assert _listed(response) == []
    assert any("probably mistyped" in m for m in messages_of(response))


def test_it_finds_by_the_beginning_of_a_number_reference_name_or_phone(customer_service, shipment):
    other = factories.shipment(
        reference="ZZ-9",
        recipient={"name": "Ana Torres", "phone": "+52 55 9876 5432", "city": "CDMX", "postal_code": "06000"},
    )
    assert _listed(customer_service.get(CHANGELIST, {"q": shipment.tracking_number[:9]})) == [shipment.tracking_number]
    assert _listed(customer_service.get(CHANGELIST, {"q": "order-10"})) == [shipment.tracking_number]
    assert _listed(customer_service.get(CHANGELIST, {"q": "fernanda ru"})) == [shipment.tracking_number]
    assert _listed(customer_service.get(CHANGELIST, {"q": "ana tor"})) == [other.tracking_number]
    # Phones as people type them: the stored form, its beginning, or the bare digits.
    for typed in ("+52 55 9876 5432", "+52 55 98", "5598765432", "+525598765432", "55 9876 5432"):
        assert _listed(customer_service.get(CHANGELIST, {"q": typed})) == [other.tracking_number], typed
    # A sender's name is not a recipient's.
    assert _listed(customer_service.get(CHANGELIST, {"q": "Tienda Ejemplo"})) == []


def test_filters_by_milestone_exception_facility_and_date(customer_service, shipment):
    hub = factories.facility("TIJ01", city="Tijuana")
    other = shipment_made_yesterday(destination_facility=hub)
    event_record(shipment=other, code="picked_up", occurred_at=timezone.now())
    event_record(shipment=shipment, code="exception", reason="weather_delay", occurred_at=timezone.now())
    assert _listed(customer_service.get(CHANGELIST, {"milestone__exact": "picked_up"})) == [other.tracking_number]
    assert _listed(customer_service.get(CHANGELIST, {"exception_open__exact": "1"})) == [shipment.tracking_number]
    assert _listed(customer_service.get(CHANGELIST, {"destination_facility__id__exact": hub.pk})) == [
        other.tracking_number
    ]
    since = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    response = customer_service.get(
        CHANGELIST, {"created_at__gte": str(since), "created_at__lt": str(since + timedelta(days=7))}
    )
    assert response.status_code == 200
    assert set(_listed(response)) == {shipment.tracking_number, other.tracking_number}


def test_it_never_counts_the_whole_table(customer_service, shipment):
    with CaptureQueriesContext(connection) as queries:
        response = customer_service.get(CHANGELIST)
    assert response.status_code == 200
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "tracking_shipment" in q["sql"]]
    assert counts and all("LIMIT 10001" in sql for sql in counts), counts
    assert "1 shipment" in response.content.decode()


def test_admin_pages_are_never_cached(customer_service, shipment):
    for url in (CHANGELIST, f"{CHANGELIST}{shipment.pk}/change/", f"{CHANGELIST}{shipment.pk}/history/"):
        response = customer_service.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response["Cache-Control"], url
