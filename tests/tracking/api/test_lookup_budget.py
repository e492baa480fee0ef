"""One lookup budget for every path that tells whether a number exists (issue 17: the API answered
3,750 numbers in 150 requests, the notify page was never charged), and the RateLimit headers."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests import factories
from tests.tracking.api.support import ApiClient, error_of
from tracking import numbers

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def budget(settings):
    settings.PHOENIX_LOOKUP_BUDGET = 30
    settings.PHOENIX_LOOKUP_WINDOW = 600
    settings.PHOENIX_LOOKUP_MISS_COST = 10


def _unknown(n: int) -> str:
    return numbers.from_body(900000 + n)


def test_the_api_list_spends_the_budget_per_number_and_answers_429_with_headers():
    anonymous = ApiClient()
    three_unknown = ",".join(_unknown(n) for n in range(3))
    first = anonymous.get("/api/v1/tracking", {"numbers": three_unknown})
    assert first.status_code == 200
    assert '"lookup";q=30;w=600' in first["RateLimit-Policy"]
    assert '"ip";q=120;w=60' in first["RateLimit-Policy"]
    assert '"lookup";r=0;' in first["RateLimit"]

    refused = anonymous.get("/api/v1/tracking", {"numbers": factories.shipment().tracking_number})
    assert refused.status_code == 429
    assert error_of(refused)["code"] == "throttled"
    assert 1 <= int(refused["Retry-After"]) <= 600
    assert '"lookup";r=0;t=' in refused["RateLimit"]


def test_the_site_the_notify_page_and_the_api_share_one_budget():
    browser = Client()
    assert browser.get(reverse("tracking:detail", args=[_unknown(1)])).status_code == 404  # 10 points
    assert browser.get(reverse("notify:subscribe", args=[_unknown(2)])).status_code == 404  # 20
    assert ApiClient().get(f"/api/v1/tracking/{_unknown(3)}").status_code == 404  # 30: spent
    known = factories.shipment().tracking_number
    assert browser.get(reverse("tracking:detail", args=[known])).status_code == 429
    notify = browser.get(reverse("notify:subscribe", args=[known]))
    assert notify.status_code == 429 and int(notify["Retry-After"]) >= 1
    assert ApiClient().get(f"/api/v1/tracking/{known}").status_code == 429


def test_a_partner_reading_its_own_shipments_spends_nothing():
    partner, key = factories.partner_token()
    own = factories.shipment(partner=partner).tracking_number
    client = ApiClient(key)
    for _ in range(40):  # more than the budget's 30 points
        assert client.get(f"/api/v1/tracking/{own}").status_code == 200
    other = factories.shipment().tracking_number
    assert client.get(f"/api/v1/tracking/{other}").status_code == 200  # someone else's: 1 point


def test_events_for_numbers_the_partner_may_not_write_spend_its_budget():
    partner, key = factories.partner_token()
    theirs = factories.shipment(partner=factories.partner("Otra tienda")).tracking_number
    client = ApiClient(key)
    events = [
        {"id": f"e-{n}", "tracking_number": number, "milestone": "delivered", "occurred_at": timezone.now().isoformat()}
        for n, number in enumerate([theirs, _unknown(1), _unknown(2)])
    ]
    answer = client.post("/api/v1/events", {"events": events})
    assert answer.status_code == 200 and answer.json()["rejected"] == 3
    assert '"lookup";r=0;' in answer["RateLimit"]
    refused = client.post("/api/v1/events", {"events": events[:1]})
    assert refused.status_code == 429
    assert error_of(refused)["code"] == "throttled"
    # The budget is the partner's, not its address's: an anonymous caller there is not refused.
    assert ApiClient().get(f"/api/v1/tracking/{theirs}").status_code == 200
