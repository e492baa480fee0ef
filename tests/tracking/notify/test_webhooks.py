"""Partner webhooks end to end: a real HTTP receiver on loopback that verifies signatures."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.utils import timezone, translation
from django_tasks_db.models import DBTaskResult

from tests import factories
from tracking.models import WebhookDelivery, WebhookEndpoint
from tracking.notify import sender, webhooks
from tracking.services import event_record
from tracking.tasks import TASK_PATH

pytestmark = pytest.mark.django_db


def register(receiver, partner, topics=("milestone", "exception")):
    endpoint, secret = webhooks.endpoint_create(partner=partner, url=receiver.url, topics=list(topics))
    receiver.secret = secret
    return endpoint


def run_at(when):
    return sender.deliveries_run(worker="test-worker", now=lambda: when)


def test_it_posts_signed_json_with_an_event_id_and_a_sequence(receiver):
    partner = factories.partner()
    register(receiver, partner)
    shipment = factories.shipment(partner=partner)
    now = timezone.now()
    event_record(shipment=shipment, code="picked_up", occurred_at=now)
    event_record(shipment=shipment, code="note", note="hi", occurred_at=now)  # not wanted: no milestone
    event_record(shipment=shipment, code="in_transit", reason="weather_delay", occurred_at=now)
    run_at(timezone.now())
    assert [r["signature_ok"] for r in receiver.requests] == [True, True]
    first, second = (r["payload"] for r in receiver.requests)
    assert first["type"] == "tracking.milestone_changed"
    assert first["data"]["tracking_number"] == shipment.tracking_number
    assert (first["data"]["previous_milestone"], first["data"]["milestone"]) == ("label_created", "picked_up")
    # label_created is 1, picked_up 2, the note 3, in_transit 4: the gap says something was skipped.
    assert (first["sequence"], second["sequence"]) == (2, 4)
    assert second["data"]["exception_reason"] == "weather_delay"
    assert first["id"] != second["id"]
    assert WebhookDelivery.objects.filter(status="sent").count() == 2


def test_a_partner_only_hears_about_its_own_shipments(receiver):
    register(receiver, factories.partner(), topics=["scan"])
    other = factories.shipment(partner=factories.partner())
    event_record(shipment=other, code="picked_up", occurred_at=timezone.now())
    run_at(timezone.now())
    assert receiver.requests == []
    assert not WebhookDelivery.objects.exists()


def test_it_retries_with_backoff_until_the_receiver_answers_2xx(receiver):
    partner = factories.partner()
    register(receiver, partner)
    shipment = factories.shipment(partner=partner)
    event_record(shipment=shipment, code="picked_up", occurred_at=timezone.now())
    receiver.fail_next = 2
    t0 = timezone.now()
    run_at(t0)
    assert len(receiver.requests) == 1
    run_at(t0 + timedelta(seconds=59))  # the first retry waits a minute
    assert len(receiver.requests) == 1
    run_at(t0 + timedelta(minutes=1))
    assert len(receiver.requests) == 2
    run_at(t0 + timedelta(minutes=5))  # the second retry waits five more
    assert len(receiver.requests) == 2
    run_at(t0 + timedelta(minutes=6))
    assert [r["status"] for r in receiver.requests] == [500, 500, 200]
    assert len({r["id"] for r in receiver.requests}) == 1
    assert all(r["signature_ok"] for r in receiver.requests)
    row = WebhookDelivery.objects.get()
    assert (row.status, row.attempts, row.last_status_code) == ("sent", 3, 200)
    assert WebhookEndpoint.objects.get().failing_since is None


def test_an_endpoint_failing_for_a_day_is_disabled_then_replayed_from_the_admin(receiver, admin_client):
    partner = factories.partner()
    endpoint = register(receiver, partner)
    shipment = factories.shipment(partner=partner)
    event_record(shipment=shipment, code="picked_up", occurred_at=timezone.now())
    receiver.always_fail = True
    t0 = timezone.now()
    when = t0
    for _attempt in range(20):
        run_at(when)
        row = WebhookDelivery.objects.get()
        if row.status != "pending":
            break
        when = row.next_attempt_at
    endpoint.refresh_from_db()
    # Attempts at 0, 1 m, 6 m, 36 m, 2 h 36 m, 8 h 36 m, then every 6 h: 26 h 36 m is past a day.
    assert len(receiver.requests) == 9
    assert (row.status, endpoint.is_active) == ("failed", False)
    assert endpoint.disabled_at - endpoint.failing_since >= timedelta(days=1)
    # While disabled, new events owe it nothing.
    event_record(shipment=shipment, code="in_transit", occurred_at=timezone.now())
    assert WebhookDelivery.objects.count() == 1

    page = admin_client.get("/admin/tracking/webhookendpoint/?health=disabled")
    assert "DISABLED" in page.content.decode()
    assert receiver.url in page.content.decode()

    receiver.always_fail = False
    response = admin_client.post(
        "/admin/tracking/webhookendpoint/",
        {"action": "enable_and_replay", "_selected_action": [endpoint.pk]},
        follow=True,
    )
    assert "1 deliveries queued again" in response.content.decode()
    run_at(timezone.now())
    assert receiver.requests[-1]["status"] == 200
    assert receiver.requests[-1]["id"] == receiver.requests[0]["id"]
    assert WebhookDelivery.objects.get().status == "sent"


def test_staff_can_replay_a_delivered_event(receiver, admin_client):
    partner = factories.partner()
    register(receiver, partner)
    shipment = factories.shipment(partner=partner)
    event_record(shipment=shipment, code="picked_up", occurred_at=timezone.now())
    run_at(timezone.now())
    row = WebhookDelivery.objects.get()
    admin_client.post(
        "/admin/tracking/webhookdelivery/", {"action": "replay", "_selected_action": [row.pk]}, follow=True
    )
    run_at(timezone.now())
    assert [r["id"] for r in receiver.requests] == [str(row.uuid), str(row.uuid)]
    assert all(r["signature_ok"] for r in receiver.requests)


def test_the_admin_shows_the_secret_once_and_refuses_unsafe_urls(admin_client, settings):
    settings.PHOENIX_WEBHOOK_ALLOW_LOOPBACK = False
    partner = factories.partner()
    for url, message in [
        ("http://127.0.0.1:9/hook", "must start with https://"),
        ("https://127.0.0.1/hook", "must point at a public address"),
        ("https://10.1.2.3/hook", "must point at a public address"),
        ("https://169.254.169.254/latest/meta-data", "must point at a public address"),
        ("https://localhost/hook", "must point at a public address"),
        ("https://user:pw@93.184.216.34/hook", "must not contain a user name or password"),
    ]:
        response = admin_client.post(
            "/admin/tracking/webhookendpoint/add/",
            {"partner": partner.pk, "url": url, "topics": ["milestone"], "is_active": "on"},
            HTTP_ACCEPT_LANGUAGE="en",
        )
        assert response.status_code == 200, url
        assert message in response.content.decode(), url
    assert not WebhookEndpoint.objects.exists()

    response = admin_client.post(
        "/admin/tracking/webhookendpoint/add/",
        {"partner": partner.pk, "url": "https://93.184.216.34/hook", "topics": ["milestone"], "is_active": "on"},
        follow=True,
    )
    endpoint = WebhookEndpoint.objects.get()
    page = response.content.decode()
    secret = page.split("give it to the partner): ")[1].split("<")[0].strip()
    assert secret.startswith("whsec_")
    assert secret not in endpoint.secret_encrypted
    change_page = admin_client.get(f"/admin/tracking/webhookendpoint/{endpoint.pk}/change/").content.decode()
    assert secret not in change_page


def test_the_new_secret_travels_in_no_cookie(admin_client):
    partner = factories.partner()
    saved = admin_client.post(
        "/admin/tracking/webhookendpoint/add/",
        {"partner": partner.pk, "url": "https://93.184.216.34/hook", "topics": ["milestone"], "is_active": "on"},
    )
    assert saved.status_code == 302
    assert "messages" not in saved.cookies  # the messages cookie is signed, not encrypted
    assert "whsec_" not in str(saved.cookies)
    shown = admin_client.get(saved["Location"]).content.decode()
    assert "whsec_" in shown  # once, on the page after the POST ...
    assert "whsec_" not in admin_client.get(saved["Location"]).content.decode()  # ... and never again


def test_production_settings_refuse_private_and_plain_http_urls(settings):
    settings.PHOENIX_WEBHOOK_ALLOW_LOOPBACK = False
    for url in ["http://example.com/hook", "https://127.0.0.1/hook", "https://[::1]/hook", "https://192.168.1.10/x"]:
        with pytest.raises(ValidationError):
            webhooks.url_check(url)
    settings.PHOENIX_WEBHOOK_ALLOW_LOOPBACK = True
    assert webhooks.url_check("http://127.0.0.1:8080/x").address == "127.0.0.1"
    with translation.override("en"), pytest.raises(ValidationError, match="public address"):
        webhooks.url_check("http://10.0.0.1/x")  # the test switch opens loopback, nothing else


def test_delivery_refuses_an_endpoint_that_now_points_at_a_private_address(receiver, settings):
    partner = factories.partner()
    register(receiver, partner)  # registered while loopback was allowed (as if DNS changed since)
    settings.PHOENIX_WEBHOOK_ALLOW_LOOPBACK = False
    shipment = factories.shipment(partner=partner)
    event_record(shipment=shipment, code="picked_up", occurred_at=timezone.now())
    run_at(timezone.now())
    assert receiver.requests == []
    row = WebhookDelivery.objects.get()
    assert row.status == "pending"
    assert row.last_error.startswith("refused: Webhook URLs must start with https://")


def test_the_signature_check_rejects_tampering_and_old_timestamps():
    body = b'{"id":"x"}'
    header = webhooks.signature("whsec_test", body, timestamp=1_800_000_000)
    assert webhooks.signature_verify("whsec_test", header, body, now=1_800_000_100)
    assert not webhooks.signature_verify("whsec_test", header, body + b" ", now=1_800_000_100)
    assert not webhooks.signature_verify("whsec_other", header, body, now=1_800_000_100)
    assert not webhooks.signature_verify("whsec_test", header, body, now=1_800_000_000 + 301)


# db_worker closes connections between tasks (as in production), so the data must be committed.
@pytest.mark.django_db(transaction=True)
def test_the_worker_schedules_its_own_retry_and_cleans_up_its_guard(receiver, time_machine):
    partner = factories.partner()
    register(receiver, partner)
    shipment = factories.shipment(partner=partner)
    event_record(shipment=shipment, code="picked_up", occurred_at=timezone.now())
    receiver.fail_next = 1

    def db_worker():
        call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", "--worker-id", "w1", verbosity=0)

    db_worker()
    row = WebhookDelivery.objects.get()
    assert (row.status, len(receiver.requests)) == ("pending", 1)
    waiting = list(DBTaskResult.objects.filter(task_path=TASK_PATH, status="READY").values_list("run_after", flat=True))
    assert waiting == [row.next_attempt_at]  # the retry; the claim's guard was removed

    time_machine.move_to(row.next_attempt_at + timedelta(seconds=1))
    db_worker()
    assert [r["status"] for r in receiver.requests] == [500, 200]
    assert WebhookDelivery.objects.get().status == "sent"
    assert not DBTaskResult.objects.filter(task_path=TASK_PATH, status="READY").exists()


def test_check_deploy_warns_when_the_loopback_switch_is_on(settings):
    settings.PHOENIX_WEBHOOK_ALLOW_LOOPBACK = True
    with pytest.raises(SystemCheckError, match="tracking.W001"):
        call_command("check", "--deploy", "--fail-level", "WARNING", "--tag", "security")


@pytest.mark.parametrize(
    "url",
    [
        "https://[::10.0.0.1]/hook",  # IPv4-compatible form of a private address
        "https://[::ffff:10.0.0.1]/hook",  # IPv4-mapped
        "https://[::127.0.0.1]/hook",
        "https://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of 169.254.169.254
        "https://[64:ff9b::10.1.2.3]/hook",
        "https://[2002:a00:1::1]/hook",  # 6to4 of 10.0.0.1
        "https://[2002:c0a8:10a::1]/hook",  # 6to4 of 192.168.1.10
    ],
)
def test_it_refuses_ipv6_forms_that_embed_a_private_ipv4_address(settings, url):
    settings.PHOENIX_WEBHOOK_ALLOW_LOOPBACK = False
    with translation.override("en"), pytest.raises(ValidationError, match="public address"):
        webhooks.url_check(url)


def test_it_refuses_ports_other_than_443_unless_loopback_testing_is_allowed(settings):
    settings.PHOENIX_WEBHOOK_ALLOW_LOOPBACK = False
    for url in ["https://93.184.216.34:8443/hook", "https://93.184.216.34:22/hook", "https://93.184.216.34:6379/"]:
        with translation.override("en"), pytest.raises(ValidationError, match="port 443"):
            webhooks.url_check(url)
    assert webhooks.url_check("https://93.184.216.34:443/hook").port == 443
    assert webhooks.url_check("https://[64:ff9b::5db8:d822]/hook").port == 443  # NAT64 of a public address
    settings.PHOENIX_WEBHOOK_ALLOW_LOOPBACK = True
    assert webhooks.url_check("http://127.0.0.1:8080/x").port == 8080
