"""Double opt-in that link scanners cannot defeat: the confirmation link asks, a POST confirms."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from tests import factories
from tests.tracking.notify.support import link_in
from tracking.models import EmailNotification, Subscription
from tracking.notify import sender

pytestmark = pytest.mark.django_db


def _subscribe(client, shipment, email="ana.lopez@example.com", ip="198.51.100.7"):
    return client.post(
        f"/track/{shipment.tracking_number}/notify/",
        {"email": email, "topics": ["delivered"]},
        HTTP_ACCEPT_LANGUAGE="en",
        REMOTE_ADDR=ip,
    )


def _confirmation_path(smtp_server) -> str:
    sender.deliveries_run(worker="test-worker")
    return urlsplit(link_in(smtp_server.messages[-1], "/notify/confirm/")).path


def test_it_does_not_confirm_on_a_get_or_head_of_the_link(smtp_server):
    scanner = Client()
    _subscribe(Client(), factories.shipment())
    path = _confirmation_path(smtp_server)

    head = scanner.head(path, HTTP_ACCEPT_LANGUAGE="en")
    page = scanner.get(path, HTTP_ACCEPT_LANGUAGE="en")

    assert head.status_code == 200
    assert page.status_code == 200
    html = page.content.decode()
    assert re.search(r'<form method="post"[^>]*>', html)
    assert 'name="csrfmiddlewaretoken"' in html
    assert "Confirm" in html
    assert "private" in page["Cache-Control"] and "no-store" in page["Cache-Control"]
    assert Subscription.objects.get().status == "pending"


def test_it_confirms_on_the_pages_post_with_its_csrf_token(smtp_server):
    browser = Client(enforce_csrf_checks=True)
    _subscribe(Client(), factories.shipment())
    path = _confirmation_path(smtp_server)
    page = browser.get(path, HTTP_ACCEPT_LANGUAGE="en")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)

    forged = Client(enforce_csrf_checks=True).post(path)
    assert forged.status_code == 403
    assert Subscription.objects.get().status == "pending"

    response = browser.post(path, {"csrfmiddlewaretoken": token}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "Subscription confirmed" in response.content.decode()
    subscription = Subscription.objects.get()
    assert subscription.status == "active" and subscription.confirmed_at is not None


def test_it_caps_confirmation_emails_per_address_per_day_across_shipments(settings, smtp_server, time_machine):
    settings.PHOENIX_NOTIFY_CONFIRMATIONS_PER_ADDRESS_PER_DAY = 3
    shipments = [factories.shipment() for _ in range(4)]
    answers = [
        _subscribe(Client(), shipment, ip=f"198.51.100.{index}").status_code for index, shipment in enumerate(shipments)
    ]
    other = _subscribe(Client(), shipments[3], email="someone.else@example.com", ip="198.51.100.9")

    assert answers == [302, 302, 302, 429]
    assert other.status_code == 302
    capped = _subscribe(Client(), shipments[3], ip="198.51.100.10")
    assert "Too many confirmation e-mails to this address today" in capped.content.decode()
    assert EmailNotification.objects.filter(key__startswith="confirm:").count() == 4

    time_machine.move_to(timezone.now() + timedelta(days=1, minutes=1))
    assert _subscribe(Client(), shipments[3], ip="198.51.100.11").status_code == 302
