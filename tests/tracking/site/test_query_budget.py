"""A tracking page or a 25-number lookup costs at most two database queries, both reads."""

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests import factories
from tracking import numbers
from tracking.services import event_record

pytestmark = pytest.mark.django_db


def _read_alias() -> str:
    return "reader" if "reader" in connections else "default"


def _queries(client, url, params=None):
    with CaptureQueriesContext(connections["default"]) as writer:
        response = client.get(url, params or {})
    assert response.status_code in (200, 304, 403)
    return response, [q["sql"] for q in writer.captured_queries]


def test_a_25_number_lookup_costs_at_most_two_queries(client):
    shipments = [factories.shipment() for _ in range(20)]
    for shipment in shipments[:10]:
        event_record(shipment=shipment, code="picked_up", occurred_at=timezone.now(), facility=shipment.origin_facility)
    text = " ".join([s.tracking_number for s in shipments] + [numbers.from_body(n) for n in range(1, 6)])
    response, queries = _queries(client, "/track/", {"numbers": text})
    assert len(response.context["results"]) == 25
    assert len(queries) <= 2, queries
    assert all(q.lstrip().upper().startswith("SELECT") for q in queries)


def test_a_tracking_page_costs_at_most_two_queries(client, on_the_way):
    response, queries = _queries(client, reverse("tracking:detail", args=[on_the_way.tracking_number]))
    assert len(response.context["events"]) == 5
    assert len(queries) <= 2, queries
    assert all(q.lstrip().upper().startswith("SELECT") for q in queries)


def test_an_unlocked_tracking_page_costs_at_most_two_queries(client, delivered):
    url = reverse("tracking:detail", args=[delivered.tracking_number])
    response, queries = _queries(client, url, {"postal_code": "44100"})
    assert response.context["private"].recipient_name == "Fernanda Ruiz Ortega"
    assert len(queries) <= 2, queries
