"""The "Notify me" journey in Debian's Chromium: subscribe, confirm by e-mail, unsubscribe."""

from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from tests import factories
from tests.browser import chromium
from tests.tracking.notify.support import link_in
from tracking.models import Subscription
from tracking.notify import sender
from tracking.services import event_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases=["default", "reader"])]


@pytest.fixture
def page():
    with chromium() as browser:
        yield browser.new_context(locale="en-US").new_page()


def test_a_person_subscribes_confirms_and_unsubscribes(page, live_server, smtp_server):
    shipment = factories.shipment()
    page.goto(f"{live_server.url}/track/{shipment.tracking_number}/notify/")

    page.get_by_label("E-mail address").fill("not an address")
    page.get_by_role("button", name="Notify me").click()
    assert page.get_by_text("Enter a valid e-mail address").is_visible()

    page.get_by_label("E-mail address").fill("Ana.Lopez@example.com")
    assert page.get_by_label("Out for delivery").is_checked()
    page.get_by_label("Delivered").uncheck()
    page.get_by_role("button", name="Notify me").click()
    assert page.get_by_role("heading", name="Check your inbox").is_visible()
    assert "A***@example.com" in page.content()
    assert "Ana.Lopez" not in page.content()

    sender.deliveries_run(worker="test-worker")
    confirmation = smtp_server.messages[-1]
    page.goto(live_server.url + urlsplit(link_in(confirmation, "/notify/confirm/")).path)
    assert page.get_by_role("heading", name="Confirm e-mail updates").is_visible()
    assert Subscription.objects.get().status == "pending"
    page.get_by_role("button", name="Confirm").click()
    assert page.get_by_role("heading", name="Subscription confirmed").is_visible()
    assert Subscription.objects.get().topics == ["out_for_delivery", "exception"]

    event_record(shipment=shipment, code="out_for_delivery", occurred_at=timezone.now())
    sender.deliveries_run(worker="test-worker")
    update = smtp_server.messages[-1]
    assert update["Subject"] == f"Shipment {shipment.display_number}: Out for delivery"
    page.goto(live_server.url + urlsplit(link_in(update, "/notify/unsubscribe/")).path)
    page.get_by_role("button", name="Unsubscribe").click()
    assert page.get_by_role("heading", name="You are unsubscribed").is_visible()
    assert Subscription.objects.get().status == "unsubscribed"
