"""The admin's phone screens: staff add a number with the consent, see each message's state and the daily counts."""

import pytest
from django.test import Client

from tests import factories
from tests.tracking.admin.conftest import staff
from tests.tracking.notify.test_phone_messages import MOBILE, WA_ID, run, scan
from tracking import sealing
from tracking.models import PhoneSubscription

pytestmark = pytest.mark.django_db


def test_customer_service_adds_a_number_with_the_consent_and_sees_it_masked(client):
    client.force_login(staff("Customer service"))
    shipment = factories.shipment()
    form = {
        "shipment": shipment.pk,
        "phone": "33 1234 5678",
        "first_name": "Rosa",
        "channel": "whatsapp",
        "language": "es",
        "consent_source": "phone call, ticket 4411",
        "consent_at_0": "2026-12-01",
        "consent_at_1": "10:00:00",
    }
    response = client.post("/admin/tracking/phonesubscription/add/", form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    subscription = PhoneSubscription.objects.get()
    assert (subscription.source, subscription.status) == ("admin", "active")
    assert sealing.unseal(subscription.phone_encrypted) == "+523312345678"
    page = client.get("/admin/tracking/phonesubscription/").content.decode()
    assert "+52 ••• 78" in page and "3312345678" not in page


def test_a_landline_is_a_form_error(client):
    client.force_login(staff("Customer service"))
    shipment = factories.shipment()
    form = {"shipment": shipment.pk, "phone": "+1 800 555 0199", "channel": "sms", "language": "en"}
    response = client.post("/admin/tracking/phonesubscription/add/", {**form, "consent_source": "x"})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "not a mobile number" in errors["phone"][0]
    assert "consent_at" in errors
    assert not PhoneSubscription.objects.exists()


def test_the_message_list_shows_states_receipts_and_daily_counts(client, whatsapp, sns):
    client.force_login(staff("Customer service"))
    shipment = factories.shipment()
    factories.phone_subscription(shipment, phone=MOBILE)
    scan(shipment, "out_for_delivery")
    run()
    body, signature = whatsapp.status_webhook(whatsapp.requests[0]["id"], "delivered", to=WA_ID)
    Client().post(
        "/notify/whatsapp/webhook/", body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=signature
    )
    page = client.get("/admin/tracking/phonemessage/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Messages per day and channel" in page
    assert '<meter min="0" max="1" value="1"' in page  # today's one WhatsApp message
    assert "milestone:out_for_delivery" in page and "Delivered" in page
