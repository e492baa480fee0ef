"""E-mail subscriptions end to end: the "Notify me" page, a real SMTP server on loopback."""

import logging
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone, translation

from tests import factories
from tests.tracking.notify.support import html_of, link_in, text_of
from tracking import numbers
from tracking.models import EmailNotification, Milestone, Subscription
from tracking.notify import sender
from tracking.services import event_record

pytestmark = pytest.mark.django_db

ADDRESS = "ana.lopez@example.com"


def deliver():
    return sender.deliveries_run(worker="test-worker")


def subscribe(client, shipment, *, email=ADDRESS, topics=("out_for_delivery", "delivered", "exception"), lang="es"):
    return client.post(
        f"/track/{shipment.tracking_number}/notify/",
        {"email": email, "topics": list(topics)},
        HTTP_ACCEPT_LANGUAGE=lang,
    )


def subscribe_and_confirm(client, smtp_server, shipment, **kwargs):
    response = subscribe(client, shipment, **kwargs)
    assert response.status_code == 302
    deliver()
    confirmation = smtp_server.messages[-1]
    response = confirm(client, confirmation)
    assert response.status_code == 200
    return Subscription.objects.get()


def confirm(client, confirmation):
    """Open the confirmation link (a page with a button), then press the button (a POST)."""
    path = urlsplit(link_in(confirmation, "/notify/confirm/")).path
    assert client.get(path).status_code == 200
    return client.post(path)


def test_it_sends_updates_only_after_the_address_is_confirmed(client, smtp_server):
    shipment = factories.shipment()
    response = subscribe(client, shipment, email="Ana.Lopez@EXAMPLE.com", lang="en")
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert "A***@example.com" in page.content.decode()
    assert "Ana.Lopez" not in page.content.decode()

    # Not confirmed yet: a scan owes nothing, only the confirmation goes out.
    event_record(shipment=shipment, code="out_for_delivery", occurred_at=timezone.now())
    deliver()
    assert len(smtp_server.messages) == 1
    confirmation = smtp_server.messages[0]
    assert confirmation["To"] == "Ana.Lopez@example.com"
    assert confirmation["Subject"] == f"Confirm updates for shipment {shipment.display_number}"
    assert "/notify/unsubscribe/" in confirmation["List-Unsubscribe"]

    confirm(client, confirmation)
    event_record(shipment=shipment, code="delivered", occurred_at=timezone.now())
    deliver()
    assert [m["Subject"] for m in smtp_server.messages[1:]] == [f"Shipment {shipment.display_number}: Delivered"]
    update = smtp_server.messages[1]
    assert f"Shipment {shipment.display_number} is now: Delivered." in text_of(update)
    assert "Delivered" in html_of(update)
    assert update["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_messages_are_in_the_language_of_the_subscription_request(client, smtp_server):
    shipment = factories.shipment()
    subscribe_and_confirm(client, smtp_server, shipment, lang="es")
    assert smtp_server.messages[0]["Subject"] == f"Confirma los avisos del envío {shipment.display_number}"
    event_record(shipment=shipment, code="out_for_delivery", occurred_at=timezone.now())
    deliver()
    with translation.override("es"):
        label = str(Milestone.OUT_FOR_DELIVERY.label)
    assert label != "Out for delivery"
    update = smtp_server.messages[-1]
    assert update["Subject"] == f"Envío {shipment.display_number}: {label}"
    assert f"El envío {shipment.display_number} ahora está: {label}." in text_of(update)
    assert 'lang="es"' in html_of(update)


def test_it_sends_each_milestone_and_each_exception_once(client, smtp_server):
    shipment = factories.shipment()
    subscribe_and_confirm(client, smtp_server, shipment, lang="en")
    now = timezone.now()
    event_record(shipment=shipment, code="picked_up", occurred_at=now)  # not wanted
    event_record(shipment=shipment, code="out_for_delivery", occurred_at=now)
    event_record(shipment=shipment, code="delivery_attempted", reason="recipient_not_home", occurred_at=now)
    event_record(shipment=shipment, code="out_for_delivery", occurred_at=now)  # the same milestone again
    deliver()
    deliver()
    subjects = [m["Subject"] for m in smtp_server.messages[1:]]
    assert sorted(subjects) == sorted(
        [
            f"Shipment {shipment.display_number}: Out for delivery",
            f"Shipment {shipment.display_number}: Recipient not at home",
        ]
    )


def test_one_click_unsubscribe_by_post_stops_further_messages(client, smtp_server):
    shipment = factories.shipment()
    subscribe_and_confirm(client, smtp_server, shipment)
    event_record(shipment=shipment, code="out_for_delivery", occurred_at=timezone.now())
    deliver()
    update = smtp_server.messages[-1]
    url = "".join(str(update["List-Unsubscribe"]).split()).strip("<>")
    # What a mail client does for RFC 8058: a POST, no cookies, no CSRF token.
    response = client.post(urlsplit(url).path, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert Subscription.objects.get().status == "unsubscribed"
    event_record(shipment=shipment, code="delivered", occurred_at=timezone.now())
    deliver()
    assert len(smtp_server.messages) == 2


def test_the_unsubscribe_link_asks_before_it_unsubscribes(client, smtp_server):
    shipment = factories.shipment()
    subscribe_and_confirm(client, smtp_server, shipment, lang="en")
    path = urlsplit(link_in(smtp_server.messages[0], "/notify/unsubscribe/")).path
    page = client.get(path, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert "Stop e-mail updates" in page.content.decode()
    assert Subscription.objects.get().status == "active"  # link scanners only GET
    client.post(path)
    assert Subscription.objects.get().status == "unsubscribed"


def test_it_refuses_bad_input_with_clear_messages(client, smtp_server):
    shipment = factories.shipment()
    response = subscribe(client, shipment, email="ana.lopez@", lang="en")
    assert response.status_code == 400
    assert "Enter a valid e-mail address" in response.content.decode()
    response = subscribe(client, shipment, topics=[], lang="en")
    assert response.status_code == 400
    assert "Choose at least one" in response.content.decode()

    mistyped = shipment.tracking_number[:-1] + str((int(shipment.tracking_number[-1]) + 1) % 10)
    response = client.get(f"/track/{mistyped}/notify/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 404
    assert "probably mistyped" in response.content.decode()
    response = client.get(f"/track/{numbers.generate()}/notify/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 404
    assert "no shipment with this tracking number" in response.content.decode()

    response = client.get("/notify/confirm/not-a-real-token/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "not valid" in response.content.decode()
    assert not Subscription.objects.exists()
    assert not smtp_server.messages


def test_an_expired_confirmation_link_is_refused(client, smtp_server, time_machine):
    shipment = factories.shipment()
    subscribe(client, shipment, lang="en")
    deliver()
    path = urlsplit(link_in(smtp_server.messages[0], "/notify/confirm/")).path
    time_machine.move_to(timezone.now() + timedelta(days=8))
    response = client.get(path, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    assert Subscription.objects.get().status == "pending"


def test_confirming_a_cancelled_subscription_is_refused(client, smtp_server):
    shipment = factories.shipment()
    subscribe(client, shipment, lang="en")
    deliver()
    confirmation = smtp_server.messages[0]
    client.post(urlsplit(link_in(confirmation, "/notify/unsubscribe/")).path)
    response = client.get(urlsplit(link_in(confirmation, "/notify/confirm/")).path, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 409
    assert "cancelled" in response.content.decode()


def test_a_delivered_shipment_cannot_be_subscribed_to(client):
    shipment = factories.shipment()
    event_record(shipment=shipment, code="delivered", occurred_at=timezone.now())
    response = subscribe(client, shipment, lang="en")
    assert response.status_code == 400
    assert "final status" in response.content.decode()


def test_requests_are_rate_limited_per_shipment(client, settings):
    settings.PHOENIX_NOTIFY_RATE_PER_SHIPMENT = 3
    shipment = factories.shipment()
    statuses = [subscribe(client, shipment, email=f"p{i}@example.com", lang="en").status_code for i in range(4)]
    assert statuses == [302, 302, 302, 429]
    assert Subscription.objects.count() == 3


def test_addresses_are_stored_encrypted_and_never_logged(client, smtp_server, caplog):
    caplog.set_level(logging.DEBUG)
    shipment = factories.shipment()
    subscribe_and_confirm(client, smtp_server, shipment)
    event_record(shipment=shipment, code="out_for_delivery", occurred_at=timezone.now())
    deliver()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM tracking_subscription")
        row = " ".join(str(value) for value in cursor.fetchone())
    assert ADDRESS not in row and "ana.lopez" not in row
    # The test's own SMTP server logs envelopes (mail.log); the application must not.
    app_log = " ".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail.log"))
    assert "subscription" in app_log
    assert ADDRESS not in app_log
    assert len(smtp_server.to(ADDRESS)) == 2
    assert EmailNotification.objects.filter(status="sent").count() == 2


def test_staff_can_send_an_uncertain_email_again(client, admin_client, smtp_server):
    shipment = factories.shipment()
    subscribe_and_confirm(client, smtp_server, shipment)
    event_record(shipment=shipment, code="out_for_delivery", occurred_at=timezone.now())
    row = EmailNotification.objects.get(key="milestone:out_for_delivery")
    # As a worker killed during the SMTP exchange leaves it (tests/tracking/notify/test_worker.py).
    EmailNotification.objects.filter(pk=row.pk).update(status="uncertain")
    deliver()
    assert len(smtp_server.messages) == 1
    admin_client.post(
        "/admin/tracking/emailnotification/", {"action": "send_again", "_selected_action": [row.pk]}, follow=True
    )
    deliver()
    assert len(smtp_server.messages) == 2
    assert EmailNotification.objects.get(pk=row.pk).status == "sent"


def test_a_temporary_smtp_refusal_is_retried_and_a_permanent_one_is_not(client, smtp_server):
    shipment = factories.shipment()
    subscribe_and_confirm(client, smtp_server, shipment)
    event_record(shipment=shipment, code="out_for_delivery", occurred_at=timezone.now())
    smtp_server.refuse[ADDRESS] = "451 4.3.0 Mailbox temporarily unavailable, try again"
    t0 = timezone.now()
    sender.deliveries_run(worker="test-worker", now=lambda: t0)
    row = EmailNotification.objects.get(key="milestone:out_for_delivery")
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 1, t0 + timedelta(minutes=1))
    sender.deliveries_run(worker="test-worker", now=lambda: t0 + timedelta(minutes=1))
    assert EmailNotification.objects.get(pk=row.pk).status == "sent"
    assert len(smtp_server.messages) == 2

    smtp_server.refuse[ADDRESS] = f"550 5.1.1 <{ADDRESS}>: Recipient address rejected"
    event_record(shipment=shipment, code="delivered", occurred_at=timezone.now())
    sender.deliveries_run(worker="test-worker", now=lambda: t0 + timedelta(minutes=2))
    row = EmailNotification.objects.get(key="milestone:delivered")
    assert row.status == "failed"
    assert "550" in row.last_error
    assert ADDRESS not in row.last_error
    assert len(smtp_server.messages) == 2


def test_a_row_that_cannot_be_rendered_fails_alone(smtp_server):
    shipment = factories.shipment()
    subscription = factories.subscription(shipment, email=ADDRESS, language="en")
    EmailNotification.objects.create(subscription=subscription, key="milestone:no_such_milestone")
    event_record(shipment=shipment, code="out_for_delivery", occurred_at=timezone.now())
    summary = deliver()
    assert (summary.sent, summary.failed) == (1, 1)
    assert EmailNotification.objects.get(key="milestone:no_such_milestone").status == "failed"
    assert [m["Subject"] for m in smtp_server.messages] == [f"Shipment {shipment.display_number}: Out for delivery"]


def test_requests_are_rate_limited_per_client(client, settings):
    settings.PHOENIX_NOTIFY_RATE_PER_IP = 2
    shipments = [factories.shipment() for _i in range(3)]

    def from_ip(shipment, ip):
        return client.post(
            f"/track/{shipment.tracking_number}/notify/",
            {"email": "p@example.com", "topics": ["delivered"]},
            HTTP_ACCEPT_LANGUAGE="en",
            REMOTE_ADDR=ip,
        )

    assert [from_ip(s, "198.51.100.7").status_code for s in shipments] == [302, 302, 429]
    response = from_ip(shipments[2], "198.51.100.7")
    assert "Too many requests" in response.content.decode()
    assert from_ip(shipments[2], "203.0.113.9").status_code == 302
