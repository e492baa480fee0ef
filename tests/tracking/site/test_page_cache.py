"""The public tracking page is kept for at most its public max-age, never for who just wrote."""

import time
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.urls import reverse
from django.utils import timezone

from phoenix.db import pinning
from tests.tracking.site.support import get_with_queries, post_with_queries
from tracking.services import event_record
from tracking.site import pagecache

pytestmark = pytest.mark.django_db(databases=["default", "reader"])


@pytest.fixture(autouse=True)
def page_cache(settings):
    settings.PHOENIX_PAGE_CACHE_SECONDS = 60
    caches["pages"].clear()
    yield
    caches["pages"].clear()


def _get(client, url, **headers):
    """Return the response and how many queries (both aliases) serving it cost."""
    response, queries = get_with_queries(client, url, **headers)
    return response, sum(len(sqls) for sqls in queries.values())


def _late_scan(shipment):
    event_record(
        shipment=shipment,
        code="delivered",
        occurred_at=timezone.now() - timedelta(minutes=1),
        facility=shipment.destination_facility,
    )


def test_a_second_visitor_gets_the_same_page_without_touching_the_database(client, on_the_way):
    url = reverse("tracking:detail", args=[on_the_way.tracking_number])
    first, first_queries = _get(client, url, HTTP_ACCEPT_LANGUAGE="en")
    second, second_queries = _get(client, url, HTTP_ACCEPT_LANGUAGE="en")
    assert first.status_code == second.status_code == 200
    assert first_queries >= 1 and second_queries == 0
    assert second.content == first.content
    assert second.headers["ETag"] == first.headers["ETag"]
    assert second.headers["Content-Type"] == first.headers["Content-Type"]
    assert "public" in second.headers["Cache-Control"]
    assert "Content-Security-Policy" in second.headers


def test_a_cached_page_is_conditional(client, on_the_way):
    url = reverse("tracking:detail", args=[on_the_way.tracking_number])
    first, _ = _get(client, url)
    again, queries = _get(client, url, HTTP_IF_NONE_MATCH=first.headers["ETag"])
    assert again.status_code == 304 and again.content == b"" and queries == 0


def test_the_browser_keeps_a_cached_page_only_for_what_is_left_of_the_minute(client, on_the_way, monkeypatch):
    url = reverse("tracking:detail", args=[on_the_way.tracking_number])
    assert "max-age=60" in _get(client, url)[0].headers["Cache-Control"]
    rendered_at = pagecache.time.time()
    monkeypatch.setattr(pagecache.time, "time", lambda: rendered_at + 45)
    response, queries = _get(client, url)
    assert queries == 0
    max_age = int(response.headers["Cache-Control"].split("max-age=")[1].split(",")[0])
    assert 14 <= max_age <= 15


def test_who_just_wrote_sees_the_change_at_once(client, on_the_way):
    url = reverse("tracking:detail", args=[on_the_way.tracking_number])
    assert _get(client, url, HTTP_ACCEPT_LANGUAGE="en")[0].context["shipment"].milestone == "out_for_delivery"
    _late_scan(on_the_way)
    assert _get(client, url, HTTP_ACCEPT_LANGUAGE="en")[1] == 0  # anybody else: the cached page
    # Staff who saved the scan carry the pin cookie their write set (phoenix/db/pinning.py).
    client.cookies[pinning.COOKIE_NAME] = pinning.cookie_value()
    response, queries = _get(client, url, HTTP_ACCEPT_LANGUAGE="en")
    assert queries >= 1
    assert response.context["shipment"].milestone == "delivered"


def test_others_see_the_change_once_the_page_expires(client, on_the_way, settings):
    settings.PHOENIX_PAGE_CACHE_SECONDS = 1
    url = reverse("tracking:detail", args=[on_the_way.tracking_number])
    before, _ = _get(client, url, HTTP_ACCEPT_LANGUAGE="en")
    _late_scan(on_the_way)
    time.sleep(1.1)  # the cache keeps it one second here; nothing is timed
    after, queries = _get(client, url, HTTP_ACCEPT_LANGUAGE="en")
    assert queries >= 1
    assert after.context["shipment"].milestone == "delivered"
    assert after.headers["ETag"] != before.headers["ETag"]


def test_each_language_has_its_own_page(client, on_the_way):
    url = reverse("tracking:detail", args=[on_the_way.tracking_number])
    assert "En reparto" in _get(client, url, HTTP_ACCEPT_LANGUAGE="es")[0].content.decode()
    english, queries = _get(client, url, HTTP_ACCEPT_LANGUAGE="en")
    assert queries >= 1
    assert "Out for delivery" in english.content.decode()
    assert "En reparto" in _get(client, url, HTTP_ACCEPT_LANGUAGE="es")[0].content.decode()


def test_private_details_are_never_cached(client, on_the_way):
    url = reverse("tracking:detail", args=[on_the_way.tracking_number])
    code = {"postal_code": on_the_way.destination_postal_code}
    unlocked, _ = post_with_queries(client, url, code, HTTP_ACCEPT_LANGUAGE="en")
    assert unlocked.status_code == 200 and unlocked.context["private"] is not None
    public, queries = _get(client, url, HTTP_ACCEPT_LANGUAGE="en")
    assert queries >= 1
    assert unlocked.context["private"].recipient_name not in public.content.decode()
    # ... and a cached public page answers neither a postal-code POST nor an old link's code.
    again, queries = post_with_queries(client, url, code)
    assert sum(map(len, queries.values())) >= 1 and again.headers["Cache-Control"] == "private, no-store"
    assert again.context["private"] is not None
    link, queries = _get(client, url + f"?postal_code={on_the_way.destination_postal_code}")
    assert queries >= 1 and link.headers["Cache-Control"] == "private, no-store"


def test_an_unknown_number_is_not_cached(client):
    from tracking import numbers

    url = reverse("tracking:detail", args=[numbers.from_body(424242)])
    assert _get(client, url)[0].status_code == 404
    response, queries = _get(client, url)
    assert response.status_code == 404 and queries >= 1


def test_a_cached_page_still_spends_the_lookup_budget(client, on_the_way, settings):
    settings.PHOENIX_LOOKUP_BUDGET = 3
    settings.PHOENIX_LOOKUP_MISS_COST = 10
    url = reverse("tracking:detail", args=[on_the_way.tracking_number])
    statuses = [client.get(url, REMOTE_ADDR="198.51.100.7").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_switched_off_every_visit_renders(client, on_the_way, settings):
    settings.PHOENIX_PAGE_CACHE_SECONDS = 0
    url = reverse("tracking:detail", args=[on_the_way.tracking_number])
    _get(client, url)
    assert _get(client, url)[1] >= 1
