"""Concurrent retries against the real MariaDB writer: never a double insert, never a 500."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from tests import factories
from tests.tracking.api.support import ApiClient
from tracking.models import IdempotencyKey, Shipment, TrackingEvent

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def _race(calls) -> list:
    """Run the calls at the same moment in threads (own connections); return their results."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.parametrize("same_shipment", [True, False])
def test_two_requests_with_the_same_event_id_store_it_once(same_shipment):
    partner, key = factories.partner_token()
    first, second = factories.shipment(partner=partner), factories.shipment(partner=partner)
    at = (timezone.now() - timedelta(minutes=5)).isoformat()

    def post(shipment):
        event = {"id": "scan-race", "tracking_number": shipment.tracking_number, "milestone": "picked_up"}
        return ApiClient(key).post("/api/v1/events", {"events": [{**event, "occurred_at": at}]})

    for _round in range(3):
        TrackingEvent.objects.filter(partner=partner).delete()
        responses = _race([lambda: post(first), lambda: post(first if same_shipment else second)])
        assert [r.status_code for r in responses] == [200, 200]
        statuses = sorted(r.json()["results"][0]["status"] for r in responses)
        assert statuses == ["accepted", "duplicate"]
        assert TrackingEvent.objects.filter(partner=partner, partner_event_id="scan-race").count() == 1


def test_two_retries_with_one_idempotency_key_create_one_shipment():
    partner, key = factories.partner_token()
    factories.facility("MEX01", city="Ciudad de México")
    factories.facility("GDL01")
    payload = {
        "reference": "ORDER-RACE",
        "weight_grams": 800,
        "origin_facility": "MEX01",
        "destination_facility": "GDL01",
        "recipient": {"name": "Ana Pérez", "postal_code": "44100", "city": "Guadalajara"},
    }

    def post():
        return ApiClient(key).post("/api/v1/shipments", payload, HTTP_IDEMPOTENCY_KEY="order-race-1")

    responses = _race([post, post, post])
    assert [r.status_code for r in responses] == [201, 201, 201]
    assert len({r.json()["tracking_number"] for r in responses}) == 1
    assert Shipment.objects.filter(partner=partner, reference="ORDER-RACE").count() == 1
    assert IdempotencyKey.objects.filter(partner=partner).count() == 1
