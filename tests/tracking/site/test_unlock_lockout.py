"""The postal-code unlock: sent by POST, and locked per shipment after a handful of wrong codes,
from whatever addresses they come (issue 17: 600 codes from 600 addresses found the right one)."""

import logging
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.tracking.site.conftest import RECIPIENT
from tracking.models import UnlockGuard

pytestmark = pytest.mark.django_db


@pytest.fixture
def url(delivered):
    return reverse("tracking:detail", args=[delivered.tracking_number])


def _try(client, url, code, n=0):
    """Post ``code`` from a client address of its own (the per-address budget plays no part)."""
    return client.post(url, {"postal_code": code}, REMOTE_ADDR=f"192.0.2.{n % 250 + 1}", HTTP_ACCEPT_LANGUAGE="en")


def test_five_wrong_codes_from_five_addresses_lock_the_unlock(client, url, caplog):
    for n in range(4):
        assert _try(client, url, f"1000{n}", n).status_code == 403
    with caplog.at_level(logging.WARNING, logger="tracking.site.unlock"):
        assert _try(client, url, "10004", 4).status_code == 429  # the fifth wrong code locks
    assert "locked for 15 minutes after 5 wrong codes" in caplog.text

    right = _try(client, url, "44100", 5)
    assert right.status_code == 429
    html = right.content.decode()
    assert "Too many wrong postal codes were entered for this shipment" in html
    assert "try again in 15 minutes" in html
    assert RECIPIENT["name"] not in html
    assert 14 * 60 < int(right.headers["Retry-After"]) <= 15 * 60
    assert right.headers["Cache-Control"] == "private, no-store"


def test_staff_see_the_lockout_in_the_admin(client, url, delivered, admin_client):
    for n in range(5):
        _try(client, url, "99999", n)
    page = admin_client.get("/admin/tracking/unlockguard/")
    assert page.status_code == 200
    assert delivered.tracking_number in page.content.decode()


def test_each_lockout_in_a_row_lasts_twice_as_long(client, url, delivered, settings):
    settings.PHOENIX_UNLOCK_FAILURES = 2
    for minutes in (15, 30, 60):
        for n in range(2):
            _try(client, url, "99999", n)
        guard = UnlockGuard.objects.get(shipment=delivered)
        left = guard.locked_until - timezone.now()
        assert timedelta(minutes=minutes - 1) < left <= timedelta(minutes=minutes)
        assert _try(client, url, "44100").status_code == 429
        # The lockout ends (as if its time had passed); the next wrong codes lock again, longer.
        UnlockGuard.objects.filter(pk=guard.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    assert UnlockGuard.objects.get(shipment=delivered).lockouts == 3


def test_the_right_code_clears_the_count(client, url, delivered):
    for n in range(4):
        _try(client, url, "99999", n)
    assert _try(client, url, "44100").status_code == 200
    assert UnlockGuard.objects.get(shipment=delivered).failures == 0
    for n in range(4):  # four more wrong codes do not lock: the count started again
        _try(client, url, "99999", n)
    assert RECIPIENT["name"] in _try(client, url, "44100").content.decode()


def test_a_code_in_an_old_link_is_not_read_and_the_page_says_so(client, url):
    response = client.get(url, {"postal_code": "44100"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    html = response.content.decode()
    assert RECIPIENT["name"] not in html
    assert "the postal code is no longer read from the link" in html
    assert "44100" not in html.split('class="unlock"')[1]  # not echoed into the form either
    assert response.headers["Cache-Control"] == "private, no-store"


def test_the_unlock_needs_no_csrf_token_and_sets_no_cookie(url):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post(url, {"postal_code": "44100"})
    assert response.status_code == 200
    assert RECIPIENT["name"] in response.content.decode()
    assert response.cookies == {}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, databases=["default", "reader"])
def test_the_unlock_works_without_javascript(browser, live_server, delivered):
    context = browser.new_context(java_script_enabled=False, locale="en-US", base_url=live_server.url)
    try:
        page = context.new_page()
        page.goto(reverse("tracking:detail", args=[delivered.tracking_number]))
        page.get_by_label("Destination postal code").fill("44100")
        page.get_by_role("button", name="Show details").click()
        page.wait_for_load_state()
        assert RECIPIENT["name"] in page.locator(".private").inner_text()
        assert "postal_code" not in page.url
    finally:
        context.close()
