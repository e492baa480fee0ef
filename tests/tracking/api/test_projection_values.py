"""The tracking object read as values (projection.by_number, the tracking endpoints) is byte
for byte the one built from model instances (projection.of, the changes feed): for a seeded
sample in every milestone, anonymous and for the owner, without and with ``lang``."""

import pytest
from django.core.management import call_command
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from tests import factories
from tracking.api import projection
from tracking.api.auth import PartnerPrincipal
from tracking.models import Shipment

pytestmark = pytest.mark.django_db


class _Token:
    def __init__(self, partner):
        self.partner = partner


def _request(query: str, partner=None) -> Request:
    request = Request(APIRequestFactory().get(f"/api/v1/tracking{query}"))
    request.user = PartnerPrincipal(partner) if partner else None
    request.auth = _Token(partner) if partner else None
    return request


def test_the_values_read_gives_the_same_bytes_as_the_instances(settings):
    call_command("seed_demo", shipments=120, seed=8, quiet=True)
    shipments = list(Shipment.objects.order_by("id"))
    assert len({s.milestone for s in shipments}) >= 8
    owner = factories.partner("Owner")
    Shipment.objects.filter(pk__in=[s.pk for s in shipments[::3]]).update(partner=owner)
    shipments = list(Shipment.objects.order_by("id"))
    render = JSONRenderer().render
    compared = 0
    for query in ("", "?lang=es", "?lang=en"):
        for partner in (None, owner):
            request = _request(query, partner)
            by_value = projection.by_number(request, [s.tracking_number for s in shipments])
            by_instance = projection.of(request, shipments)
            assert len(by_instance) == len(shipments)
            for data in by_instance:
                assert render(by_value[data["tracking_number"]]) == render(data)
                compared += 1
            if partner:
                assert sum("private" in data for data in by_instance) == len(shipments[::3])
    assert compared == 6 * len(shipments)
