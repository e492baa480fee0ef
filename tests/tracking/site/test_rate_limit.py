"""Lookups are limited per client IP; numbers we do not know cost more than ones we do."""

import pytest
from django.urls import reverse

from tracking import numbers

pytestmark = pytest.mark.django_db


@pytest.fixture
def budget(settings):
    settings.PHOENIX_LOOKUP_BUDGET = 30
    settings.PHOENIX_LOOKUP_WINDOW = 600
    settings.PHOENIX_LOOKUP_MISS_COST = 10


def test_misses_run_out_after_the_configured_number(client, budget):
    for n in range(3):
        response = client.get(reverse("tracking:detail", args=[numbers.from_body(n + 1)]))
        assert response.status_code == 404
    response = client.get(reverse("tracking:detail", args=[numbers.from_body(4)]), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 600
    assert "Please wait a moment" in response.content.decode()
    assert "no-store" in response.headers["Cache-Control"]


def test_hits_are_cheaper_than_misses(client, budget, on_the_way):
    url = reverse("tracking:detail", args=[on_the_way.tracking_number])
    for _ in range(29):
        assert client.get(url).status_code == 200
    assert client.get(url).status_code == 200
    assert client.get(url).status_code == 429


def test_a_wrong_postal_code_counts_as_a_miss(client, budget, on_the_way):
    url = reverse("tracking:detail", args=[on_the_way.tracking_number])
    for code in ("10000", "10001", "10002"):
        assert client.post(url, {"postal_code": code}).status_code == 403
    assert client.post(url, {"postal_code": "44100"}).status_code == 429


def test_a_many_number_lookup_charges_each_number(client, budget, on_the_way):
    text = " ".join([on_the_way.tracking_number, numbers.from_body(1), numbers.from_body(2)])
    assert client.get("/track/", {"numbers": text}).status_code == 200  # 1 + 2 * 10 points
    assert client.get("/track/", {"numbers": text}).status_code == 200  # now over the budget
    response = client.get("/track/", {"numbers": text})
    assert response.status_code == 429
    assert "Retry-After" in response.headers


def test_each_client_ip_has_its_own_budget(client, budget):
    for n in range(3):
        client.get(reverse("tracking:detail", args=[numbers.from_body(n + 1)]), REMOTE_ADDR="192.0.2.10")
    blocked = client.get(reverse("tracking:detail", args=[numbers.from_body(9)]), REMOTE_ADDR="192.0.2.10")
    other = client.get(reverse("tracking:detail", args=[numbers.from_body(9)]), REMOTE_ADDR="192.0.2.11")
    assert (blocked.status_code, other.status_code) == (429, 404)


def test_the_client_ip_is_the_one_the_load_balancer_saw(client, budget, settings):
    settings.PHOENIX_PROXY_HOPS = 1
    for n in range(3):
        # The client forges an address on the left; the ALB appends the one it saw.
        forged = f"203.0.113.{n}, 198.51.100.7"
        client.get(reverse("tracking:detail", args=[numbers.from_body(n + 1)]), HTTP_X_FORWARDED_FOR=forged)
    same_client = client.get(
        reverse("tracking:detail", args=[numbers.from_body(9)]), HTTP_X_FORWARDED_FOR="203.0.113.99, 198.51.100.7"
    )
    other_client = client.get(
        reverse("tracking:detail", args=[numbers.from_body(9)]), HTTP_X_FORWARDED_FOR="198.51.100.8"
    )
    assert (same_client.status_code, other_client.status_code) == (429, 404)


def test_with_no_trusted_proxy_the_header_is_ignored(client, budget, settings):
    settings.PHOENIX_PROXY_HOPS = 0
    for n in range(3):
        client.get(reverse("tracking:detail", args=[numbers.from_body(n + 1)]), HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    assert client.get(reverse("tracking:detail", args=[numbers.from_body(9)])).status_code == 429
