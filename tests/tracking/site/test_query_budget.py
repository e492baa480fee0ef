"""A tracking page or a 25-number lookup costs at most two database queries, both on the reader.

Transactional tests: inside a test transaction on the writer every read would (rightly) stay on
the writer, so the data is committed and the reader alias (in this process a mirror of the
writer's test database, see tests/conftest.py) serves the page as the replica does in production.
"""

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests import factories
from tests.tracking.site.support import get_with_queries, post_with_queries
from tracking import numbers
from tracking.services import event_record

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "reader"])


def _queries(client, url, params=None):
    """Return the response and the SQL each alias ran while serving it."""
    response, queries = get_with_queries(client, url, params)
    assert response.status_code in (200, 304, 403)
    return response, queries


def test_a_25_number_lookup_costs_at_most_two_reads_on_the_reader(client):
    shipments = [factories.shipment() for _ in range(20)]
    for shipment in shipments[:10]:
        event_record(shipment=shipment, code="picked_up", occurred_at=timezone.now(), facility=shipment.origin_facility)
    text = " ".join([s.tracking_number for s in shipments] + [numbers.from_body(n) for n in range(1, 6)])
    response, queries = _queries(client, "/track/", {"numbers": text})
    assert len(response.context["results"]) == 25
    assert sum(1 for result in response.context["results"] if result["shipment"]) == 20
    # On the writer only the shared lookup budget (tracking/budget.py): five misses cost 50
    # points, which one statement adds to the client's counter.
    assert len(queries["default"]) == 1 and "tracking_ratecounter" in queries["default"][0], queries
    assert 1 <= len(queries["reader"]) <= 2, queries
    assert all(q.lstrip().upper().startswith("SELECT") for q in queries["reader"])


def test_a_tracking_page_costs_at_most_two_reads_on_the_reader(client, on_the_way):
    response, queries = _queries(client, reverse("tracking:detail", args=[on_the_way.tracking_number]))
    assert len(response.context["events"]) == 5
    assert queries["default"] == []
    assert 1 <= len(queries["reader"]) <= 2, queries


def test_an_unlocked_tracking_page_costs_at_most_two_reads_on_the_reader(client, delivered):
    url = reverse("tracking:detail", args=[delivered.tracking_number])
    response, queries = post_with_queries(client, url, {"postal_code": "44100"})
    assert response.context["private"].recipient_name == "Fernanda Ruiz Ortega"
    # On the writer only the shipment's lockout state (tracking/site/unlock.py), one read, and,
    # as for every POST, the maintenance switch when this process's cached read has expired.
    writer = [sql for sql in queries["default"] if "tracking_maintenanceswitch" not in sql]
    assert len(writer) == 1 and "tracking_unlockguard" in writer[0], queries
    assert 1 <= len(queries["reader"]) <= 2, queries


def test_a_304_costs_one_read_and_no_rendering(client, on_the_way):
    url = reverse("tracking:detail", args=[on_the_way.tracking_number])
    first = client.get(url)
    with CaptureQueriesContext(connections["reader"]) as reader:
        again = client.get(url, HTTP_IF_NONE_MATCH=first.headers["ETag"])
    assert again.status_code == 304
    assert len(reader.captured_queries) == 1
