"""Webhook self-service (/api/v1/webhooks): real deliveries to a loopback receiver that checks
signatures with its own code (tests/tracking/notify/support.py), on the real writer and replica."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests import factories
from tests.tracking.api.support import ApiClient, error_of
from tests.tracking.notify.support import verify_signature
from tracking.models import OutboxStatus, WebhookDelivery, WebhookEndpoint
from tracking.notify import sender
from tracking.services import event_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    partner, key = factories.partner_token()
    return partner, ApiClient(key)


def create(client, url, topics=("milestone",)):
    response = client.post("/api/v1/webhooks", {"url": url, "topics": list(topics)})
    assert response.status_code == 201, response.content
    return response.json()


def run_at(when):
    return sender.deliveries_run(worker="test-worker", now=lambda: when)


def test_it_registers_a_webhook_shows_the_secret_once_and_lists_it_without(shop, receiver):
    partner, client = shop
    body = create(client, receiver.url, topics=["milestone", "exception"])
    assert body["secret"].startswith("whsec_")
    assert body["url"] == receiver.url and body["topics"] == ["milestone", "exception"] and body["is_active"]
    listed = client.get("/api/v1/webhooks").json()["webhooks"]
    assert [item["id"] for item in listed] == [body["id"]]
    assert "secret" not in listed[0]
    assert "secret" not in client.get(f"/api/v1/webhooks/{body['id']}").json()
    assert WebhookEndpoint.objects.get(pk=body["id"]).partner == partner
    # The secret is stored sealed, never as given.
    assert body["secret"] not in WebhookEndpoint.objects.get(pk=body["id"]).secret_encrypted


def test_real_events_reach_the_registered_url_signed_with_the_secret(shop, receiver):
    partner, client = shop
    receiver.secret = create(client, receiver.url)["secret"]
    shipment = factories.shipment(partner=partner)
    event_record(shipment=shipment, code="picked_up", occurred_at=timezone.now())
    run_at(timezone.now())
    assert [(r["signature_ok"], r["payload"]["type"]) for r in receiver.requests] == [
        (True, "tracking.milestone_changed")
    ]


def test_the_url_rules_of_the_admin_apply(shop, settings):
    _, client = shop
    settings.PHOENIX_WEBHOOK_ALLOW_LOOPBACK = False
    for url in ("http://example.com/hook", "https://127.0.0.1/hook", "https://10.0.0.8/hook", "https://a:b@x.test/"):
        response = client.post("/api/v1/webhooks", {"url": url, "topics": ["scan"]})
        assert response.status_code == 400, url
        assert list(error_of(response)["fields"]) == ["url"]
    response = client.post("/api/v1/webhooks", {"url": "https://hooks.example.com/x", "topics": ["everything"]})
    assert response.status_code == 400 and "topics.0" in error_of(response)["fields"]
    assert client.post("/api/v1/webhooks", {"url": "https://hooks.example.com/x"}).status_code == 400
    assert not WebhookEndpoint.objects.exists()


def test_another_partners_webhook_is_not_found_like_one_that_does_not_exist(shop, receiver):
    _, owner = shop
    hook = create(owner, receiver.url)
    _, stranger = factories.partner_token()
    stranger = ApiClient(stranger)
    for missing in (hook["id"], hook["id"] + 1000):
        answers = [
            stranger.get(f"/api/v1/webhooks/{missing}"),
            stranger.patch(f"/api/v1/webhooks/{missing}", {"url": receiver.url + "x"}),
            stranger.delete(f"/api/v1/webhooks/{missing}"),
            stranger.post(f"/api/v1/webhooks/{missing}/ping"),
            stranger.post(f"/api/v1/webhooks/{missing}/rotate-secret"),
            stranger.get(f"/api/v1/webhooks/{missing}/deliveries"),
            stranger.post(f"/api/v1/webhooks/{missing}/replay"),
        ]
        assert [a.status_code for a in answers] == [404] * len(answers)
        assert {error_of(a)["message"] for a in answers} == {f"You have no webhook with the id {missing}."}
    assert stranger.get("/api/v1/webhooks").json() == {"webhooks": []}
    assert receiver.requests == []
    assert WebhookEndpoint.objects.get(pk=hook["id"]).url == receiver.url


def test_ping_sends_a_signed_test_delivery_and_answers_what_the_endpoint_said(shop, receiver):
    _, client = shop
    hook = create(client, receiver.url)
    receiver.secret = hook["secret"]
    answer = client.post(f"/api/v1/webhooks/{hook['id']}/ping").json()
    assert answer["delivered"] is True and answer["status_code"] == 200 and answer["error"] == ""
    (request,) = receiver.requests
    assert request["signature_ok"]
    assert request["payload"]["type"] == "webhook.ping" and request["payload"]["id"] == answer["id"]
    receiver.always_fail = True
    answer = client.post(f"/api/v1/webhooks/{hook['id']}/ping").json()
    assert (answer["delivered"], answer["status_code"], answer["error"]) == (False, 500, "HTTP 500")
    # A ping leaves no delivery behind and does not mark the endpoint failing.
    assert not WebhookDelivery.objects.exists()
    assert WebhookEndpoint.objects.get(pk=hook["id"]).failing_since is None


def test_after_a_rotation_both_secrets_sign_for_24_hours_then_only_the_new_one(shop, receiver):
    partner, client = shop
    hook = create(client, receiver.url, topics=["scan"])
    old = hook["secret"]
    rotated = client.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret").json()
    new = rotated["secret"]
    assert new.startswith("whsec_") and new != old
    until = timezone.datetime.fromisoformat(rotated["previous_secret_valid_until"].replace("Z", "+00:00"))
    assert timedelta(hours=23, minutes=59) < until - timezone.now() <= timedelta(hours=24)
    shipment = factories.shipment(partner=partner)

    def delivered_headers(when=None):
        event_record(shipment=shipment, code="note", note="x", occurred_at=timezone.now())
        receiver.requests.clear()
        run_at(when or timezone.now())
        (request,) = receiver.requests
        return request

    receiver.secret = old  # a receiver that has not switched yet
    assert delivered_headers()["signature_ok"]
    receiver.secret = new  # one that has
    assert delivered_headers()["signature_ok"]
    # Past the overlap only the new secret signs.
    receiver.secret = old
    late = delivered_headers(until + timedelta(seconds=1))
    assert not late["signature_ok"] and late["status"] == 401
    WebhookDelivery.objects.update(status=OutboxStatus.SENT)
    receiver.secret = new
    assert delivered_headers(until + timedelta(seconds=1))["signature_ok"]


def test_the_signature_header_carries_one_v1_per_valid_secret(shop, receiver):
    _, client = shop
    hook = create(client, receiver.url)
    old = hook["secret"]
    new = client.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret").json()["secret"]
    seen = {}

    def capture(handler_headers, body):
        seen["header"], seen["body"] = handler_headers, body

    receiver.on_request = capture
    client.post(f"/api/v1/webhooks/{hook['id']}/ping")
    header = seen["header"]
    assert header.startswith("t=") and header.count(",v1=") == 2
    assert verify_signature(old, header, seen["body"]) and verify_signature(new, header, seen["body"])
    # A leaked secret: stop it at once.
    newest = client.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret", {"previous_valid_hours": 0}).json()
    assert newest["previous_secret_valid_until"] is None
    client.post(f"/api/v1/webhooks/{hook['id']}/ping")
    assert seen["header"].count(",v1=") == 1
    assert verify_signature(newest["secret"], seen["header"], seen["body"])
    assert not verify_signature(new, seen["header"], seen["body"])
    bad = client.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret", {"previous_valid_hours": 25})
    assert bad.status_code == 400 and "previous_valid_hours" in error_of(bad)["fields"]


def test_failed_deliveries_are_listed_and_replayed_one_or_all(shop, receiver):
    partner, client = shop
    hook = create(client, receiver.url, topics=["scan"])
    receiver.secret = hook["secret"]
    receiver.always_fail = True
    shipment = factories.shipment(partner=partner)
    event_record(shipment=shipment, code="picked_up", occurred_at=timezone.now())
    event_record(shipment=shipment, code="in_transit", occurred_at=timezone.now())
    t0 = timezone.now()
    run_at(t0)
    run_at(t0 + timedelta(days=1, hours=1))  # failing for more than a day: disabled, deliveries failed
    failed = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()
    assert [d["status"] for d in failed["deliveries"]] == ["failed", "failed"]
    assert [d["tracking_number"] for d in failed["deliveries"]] == [shipment.tracking_number] * 2
    assert failed["deliveries"][0]["sequence"] > failed["deliveries"][1]["sequence"]  # newest first
    assert client.get(f"/api/v1/webhooks/{hook['id']}").json()["is_active"] is False
    # Replaying on a disabled webhook says how to enable it.
    refused = client.post(f"/api/v1/webhooks/{hook['id']}/replay")
    assert refused.status_code == 409 and error_of(refused)["code"] == "webhook_disabled"

    receiver.always_fail = False
    receiver.requests.clear()
    enabled = client.patch(f"/api/v1/webhooks/{hook['id']}", {"is_active": True})
    assert enabled.json()["is_active"] is True
    run_at(timezone.now())
    assert sorted(receiver.accepted_ids()) == sorted(d["id"] for d in failed["deliveries"])
    assert client.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()["deliveries"] == []

    # One delivery again (already sent): same id, fresh signature.
    one = failed["deliveries"][0]["id"]
    receiver.requests.clear()
    replayed = client.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{one}/replay")
    assert replayed.status_code == 202 and replayed.json() == {"queued": 1}
    run_at(timezone.now())
    assert receiver.accepted_ids() == [one]
    assert client.post(f"/api/v1/webhooks/{hook['id']}/deliveries/not-a-uuid/replay").status_code == 404

    # Every failed one again.
    WebhookDelivery.objects.update(status=OutboxStatus.FAILED)
    receiver.requests.clear()
    assert client.post(f"/api/v1/webhooks/{hook['id']}/replay").json() == {"queued": 2}
    run_at(timezone.now())
    assert len(receiver.accepted_ids()) == 2


def test_deliveries_page_by_keyset(shop, receiver):
    partner, client = shop
    hook = create(client, receiver.url, topics=["scan"])
    shipment = factories.shipment(partner=partner)
    for _ in range(3):
        event_record(shipment=shipment, code="note", note="x", occurred_at=timezone.now())
    WebhookDelivery.objects.update(status=OutboxStatus.FAILED)
    first = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", {"limit": 2})
    assert len(first.json()["deliveries"]) == 2 and first["Link"].endswith('rel="next"')
    second = client.client.get(first.json()["next"], HTTP_AUTHORIZATION=f"Token {client.key}").json()
    assert second["next"] is None
    ids = [d["id"] for d in first.json()["deliveries"] + second["deliveries"]]
    assert len(set(ids)) == 3
    assert client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", {"status": "lost"}).status_code == 400
    assert client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", {"before": "x"}).status_code == 400


def test_update_and_delete(shop, receiver, settings):
    _, client = shop
    hook = create(client, receiver.url)
    changed = client.patch(
        f"/api/v1/webhooks/{hook['id']}", {"topics": ["scan", "exception"], "url": receiver.url + "2"}
    )
    assert changed.status_code == 200
    assert (changed.json()["topics"], changed.json()["url"]) == (["scan", "exception"], receiver.url + "2")
    settings.PHOENIX_WEBHOOK_ALLOW_LOOPBACK = False
    refused = client.patch(f"/api/v1/webhooks/{hook['id']}", {"url": "https://192.168.1.1/x"})
    assert refused.status_code == 400 and list(error_of(refused)["fields"]) == ["url"]
    assert WebhookEndpoint.objects.get(pk=hook["id"]).url == receiver.url + "2"
    paused = client.patch(f"/api/v1/webhooks/{hook['id']}", {"is_active": False}).json()
    assert paused["is_active"] is False and paused["disabled_at"]
    assert client.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 204
    assert client.get(f"/api/v1/webhooks/{hook['id']}").status_code == 404
    assert not WebhookEndpoint.objects.exists()


def test_it_needs_a_token(anonymous):
    assert anonymous.get("/api/v1/webhooks").status_code == 401
    assert anonymous.post("/api/v1/webhooks", {"url": "https://x.example.com", "topics": ["scan"]}).status_code == 401
