"""GET /api/v1/tracking/<number> as a plain Django view (views.tracking_read): the same bytes,
status and headers as the DRF view it stands in front of (views.tracking_detail), the same
throttling, the same OpenAPI schema; a token or anything unusual is the DRF view's."""

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import include, path, resolve
from drf_spectacular.generators import SchemaGenerator

from tests import factories
from tracking import budget, numbers
from tracking.api import urls as api_urls
from tracking.api import views
from tracking.models import RateCounter, Shipment

pytestmark = pytest.mark.django_db

PLAIN, DRF = api_urls.english(views.tracking_read), api_urls.english(views.tracking_detail)


def _answer(view, number, query="", method="get", **headers):
    request = getattr(RequestFactory(), method)(f"/api/v1/tracking/{number}{query}", **headers)
    response = view(request, number=number)
    if hasattr(response, "render") and not response.is_rendered:
        response.render()
    return response


def _same(number, query="", method="get", fresh=True, **headers):
    """Return the two answers to one request (each on fresh throttle counters), checked equal."""
    answers = []
    for view in (PLAIN, DRF):
        if fresh:
            cache.clear()
        answers.append(_answer(view, number, query, method, **headers))
    plain, drf = answers
    what = (number, query, method, headers)
    assert (plain.status_code, plain.content) == (drf.status_code, drf.content), what
    assert dict(plain.items()) == dict(drf.items()), what
    return plain


def test_the_url_serves_the_plain_view():
    assert resolve("/api/v1/tracking/QP000000000001").func.__wrapped__ is views.tracking_read


def test_every_shipment_reads_the_same_bytes(rates, settings):
    rates(ip="100000/minute", partner="100000/minute")
    settings.PHOENIX_LOOKUP_BUDGET = 10**6  # every shipment is read twice, by one client
    call_command("seed_demo", shipments=80, seed=8, quiet=True)
    shipments = list(Shipment.objects.order_by("id"))
    assert len({s.milestone for s in shipments}) >= 8
    for shipment in shipments:
        for query in ("", "?lang=es", "?lang=en"):
            assert _same(shipment.tracking_number, query).status_code == 200


def test_errors_and_other_requests_are_the_same(rates):
    rates(ip="100000/minute", partner="100000/minute")
    shipment = factories.shipment()
    number = shipment.tracking_number
    _, key = factories.partner_token(shipment.partner) if shipment.partner_id else factories.partner_token()
    assert _same(numbers.from_body(123456)).status_code == 404
    assert _same("QP123").status_code == 400
    assert _same(number.lower()).status_code == 200
    assert _same(number, "?lang=fr").status_code == 400
    assert _same(number, HTTP_ACCEPT="text/html").status_code == 406
    assert _same(number, HTTP_ACCEPT="text/html,application/json;q=0.9").status_code == 200
    assert _same(number, method="head").status_code == 405  # as before: the view allows GET
    assert _same(number, method="options").status_code == 200
    assert _same(number, HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    assert _same(number, HTTP_AUTHORIZATION="Token nope").status_code == 401


def _fresh_budget() -> None:
    """Every throttle window full again: the counters are rows on the writer, seen through this process."""
    cache.clear()
    RateCounter.objects.all().delete()
    budget.forget()


def test_throttling_counts_the_same(rates):
    rates(ip="3/minute")
    shipment = factories.shipment()
    for view in (PLAIN, DRF):
        _fresh_budget()
        statuses = [_answer(view, n).status_code for n in [shipment.tracking_number] * 3 + [numbers.from_body(9)]]
        assert statuses == [200, 200, 200, 429], view
    _fresh_budget()
    for _ in range(3):
        _answer(PLAIN, shipment.tracking_number)
    limited = _same(shipment.tracking_number, fresh=False)
    assert limited.status_code == 429
    assert "Retry-After" in limited


def test_the_schema_is_the_drf_views():
    def schema(detail_view):
        patterns = [path("v1/tracking/<str:number>", detail_view, name="tracking-detail")]
        patterns += [p for p in api_urls.urlpatterns if getattr(p, "name", None) != "tracking-detail"]
        return SchemaGenerator(patterns=[path("api/", include((patterns, "api")))]).get_schema(public=True)

    plain, drf = schema(PLAIN), schema(DRF)
    assert "/api/v1/tracking/{number}" in drf["paths"]
    assert plain == drf
