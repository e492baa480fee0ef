"""The sandbox: phxt_ tokens, magic numbers that walk scripts on request, real signed webhooks
to the sandbox partner's endpoint, and no e-mail for test shipments."""

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests import factories
from tests.tracking.api.support import ApiClient, error_of
from tracking import numbers
from tracking.api import sandbox
from tracking.models import EmailNotification, Partner, Shipment, WebhookDelivery
from tracking.notify import sender, webhooks
from tracking.services import event_record
from tracking.site import lookup

pytestmark = pytest.mark.django_db


@pytest.fixture
def facilities():
    return factories.facility("MEX01", city="Ciudad de México"), factories.facility("GDL01")


@pytest.fixture
def sandbox_partner():
    partner = factories.partner(is_sandbox=True)
    _, key = factories.partner_token(partner)
    return partner, ApiClient(key), key


def new_shipment(client, script, **fields):
    response = client.post("/api/v1/sandbox/shipments", {"script": script, **fields})
    assert response.status_code == 201, response.content
    return response.json()


def advance(client, number):
    return client.post(f"/api/v1/sandbox/shipments/{number}/advance")


def test_sandbox_tokens_are_marked_and_a_marker_that_does_not_match_is_refused(sandbox_partner):
    _, client, key = sandbox_partner
    assert key.startswith("phxt_")
    _, live_key = factories.partner_token()
    assert live_key.startswith("phx_")
    assert client.get("/api/v1/webhooks").status_code == 200
    swapped = [ApiClient("phx_" + key.removeprefix("phxt_")), ApiClient("phxt_" + live_key.removeprefix("phx_"))]
    assert [c.get("/api/v1/webhooks").status_code for c in swapped] == [401, 401]


def test_magic_numbers_name_their_script_and_have_valid_check_digits(sandbox_partner, facilities):
    _, client, _ = sandbox_partner
    for script, (digit, steps) in sandbox.SCRIPTS.items():
        body = new_shipment(client, script)
        number = body["tracking_number"]
        assert numbers.parse(number) == number
        assert number.startswith(f"QP99{digit}")
        assert body["steps"] == [step.code for step in steps] and body["milestone"] == "label_created"
        assert Shipment.objects.get(tracking_number=number).is_test


def test_live_numbers_are_never_drawn_in_the_sandbox_range(monkeypatch):
    drawn = iter("99" + "0" * 9 + "12" + "3" * 9)  # a first body in the range, then one outside
    monkeypatch.setattr(numbers.secrets, "choice", lambda digits: next(drawn))
    assert numbers.generate().startswith("QP12")


@pytest.mark.parametrize(
    ("script", "milestones", "exceptions"),
    [
        (
            "delivered",
            ["picked_up", "in_transit", "at_destination", "out_for_delivery", "delivered"],
            [False] * 5,
        ),
        (
            "exception_then_delivered",
            [
                "picked_up",
                "in_transit",
                "out_for_delivery",
                "delivery_attempted",
                "delivery_attempted",
                "out_for_delivery",
                "delivered",
            ],
            [False, False, False, True, False, False, False],
        ),
        (
            "returned",
            ["picked_up", "in_transit", "in_transit", "returning_to_sender", "returned_to_sender"],
            [False, False, True, True, False],
        ),
        ("lost", ["picked_up", "in_transit", "in_transit", "lost"], [False, False, True, True]),
    ],
)
def test_each_script_walks_on_request_firing_signed_webhooks(
    script, milestones, exceptions, sandbox_partner, facilities, receiver
):
    partner, client, _ = sandbox_partner
    hook = client.post("/api/v1/webhooks", {"url": receiver.url, "topics": ["scan"]}).json()
    receiver.secret = hook["secret"]
    number = new_shipment(client, script)["tracking_number"]
    seen = []
    for step in range(1, len(milestones) + 1):
        answer = advance(client, number).json()
        assert (answer["step"], answer["steps_left"]) == (step, len(milestones) - step)
        seen.append((answer["milestone"], answer["exception_open"]))
    assert seen == list(zip(milestones, exceptions, strict=True))
    finished = advance(client, number)
    assert finished.status_code == 409 and error_of(finished)["code"] == "script_finished"
    sender.deliveries_run(worker="test-worker")
    assert len(receiver.requests) == len(milestones)
    assert all(r["signature_ok"] for r in receiver.requests)
    assert [r["payload"]["data"]["milestone"] for r in receiver.requests] == milestones
    assert {r["payload"]["data"]["tracking_number"] for r in receiver.requests} == {number}


def test_test_shipments_email_nobody_but_webhooks_still_fire(sandbox_partner, facilities, receiver):
    partner, client, _ = sandbox_partner
    webhooks.endpoint_create(partner=partner, url=receiver.url, topics=["milestone"])
    shipment = Shipment.objects.get(tracking_number=new_shipment(client, "delivered")["tracking_number"])
    factories.subscription(shipment, topics=["picked_up", "delivered", "exception"])
    live = factories.shipment(partner=factories.partner())
    factories.subscription(live, topics=["picked_up"])
    advance(client, shipment.tracking_number)
    event_record(shipment=live, code="picked_up", occurred_at=timezone.now())
    assert not EmailNotification.objects.filter(subscription__shipment=shipment).exists()
    assert EmailNotification.objects.filter(subscription__shipment=live).count() == 1
    assert WebhookDelivery.objects.filter(event__shipment=shipment).count() == 1


def test_the_sandbox_refuses_live_tokens_and_other_partners_numbers(sandbox_partner, facilities):
    partner, client, _ = sandbox_partner
    number = new_shipment(client, "lost")["tracking_number"]
    _, live_key = factories.partner_token()
    live = ApiClient(live_key)
    for response in (live.post("/api/v1/sandbox/shipments", {"script": "lost"}), advance(live, number)):
        assert response.status_code == 403 and error_of(response)["code"] == "sandbox_only"
    other = ApiClient(factories.partner_token(factories.partner(is_sandbox=True))[1])
    assert advance(other, number).status_code == 404
    ordinary = factories.shipment(partner=partner)  # the sandbox partner's own, but not a magic number
    assert advance(client, ordinary.tracking_number).status_code == 404
    assert advance(client, "QP123").status_code == 400
    bad = client.post("/api/v1/sandbox/shipments", {"script": "teleported"})
    assert bad.status_code == 400 and "script" in error_of(bad)["fields"]
    unknown = client.post("/api/v1/sandbox/shipments", {"script": "lost", "origin_facility": "NOPE1"})
    assert unknown.status_code == 400 and "origin_facility" in error_of(unknown)["fields"]


def test_create_partner_makes_a_sandbox_partner(capsys):
    call_command("create_partner", "Tienda de Pruebas", "--sandbox")
    partner = Partner.objects.get(name="Tienda de Pruebas")
    assert partner.is_sandbox
    assert "phxt_" in capsys.readouterr().out


def test_test_shipments_are_invisible_to_the_public_and_other_partners(sandbox_partner, facilities, client):
    _, owner, _ = sandbox_partner
    number = new_shipment(owner, "delivered")["tracking_number"]
    live = factories.shipment()
    assert client.get(f"/track/{live.tracking_number}/").status_code == 200
    assert client.get(f"/track/{number}/").status_code == 404
    assert client.get(f"/track/{number}/notify/").status_code == 404
    assert set(lookup.shipments_many([number, live.tracking_number])) == {live.tracking_number}  # the list page's
    assert ApiClient().get(f"/api/v1/tracking/{number}").status_code == 404
    other = ApiClient(factories.partner_token()[1])
    assert other.get(f"/api/v1/tracking/{number}").status_code == 404
    listed = ApiClient().get("/api/v1/tracking", {"numbers": number}).json()["results"]
    assert [item["status"] for item in listed] == ["not_found"]
    assert owner.get(f"/api/v1/tracking/{number}").json()["private"]["reference"] == "sandbox-delivered"
