"""WhatsApp/SMS from the page: a number, a one-time code by the chosen channel, then updates.

The code is stored hashed (and sealed on its outbox row until sent), lives 10 minutes and
allows 5 wrong tries; the same page limits as e-mail apply.
"""

from datetime import timedelta

import pytest
from django.test import Client

from tests import factories
from tests.tracking.notify.test_phone_messages import MOBILE, WA_ID, run, scan
from tracking import sealing
from tracking.models import PhoneMessage, PhoneOptOut, PhoneSubscription

pytestmark = pytest.mark.django_db


def url(shipment, tail: str = "") -> str:
    return f"/track/{shipment.tracking_number}/notify/phone/{tail}"


def ask(client, shipment, phone=MOBILE, channel="whatsapp", topics=("out_for_delivery", "delivered"), **headers):
    return client.post(url(shipment), {"phone": phone, "channel": channel, "topics": list(topics)}, **headers)


def test_the_page_offers_email_whatsapp_and_sms_in_spanish_and_english(db):
    shipment = factories.shipment()
    email_page = Client().get(f"/track/{shipment.tracking_number}/notify/").content.decode()
    assert "Correo electrónico" in email_page and "WhatsApp o SMS" in email_page
    page = Client().get(url(shipment)).content.decode()
    assert "Número de celular" in page and "WhatsApp (SMS si el número no tiene WhatsApp)" in page
    english = Client().get(url(shipment), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Mobile number" in english and "Send me the code" in english


def test_a_code_goes_out_by_whatsapp_and_typing_it_starts_the_updates(whatsapp, sns):
    shipment = factories.shipment()
    client = Client()
    response = ask(client, shipment, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302 and response.url == url(shipment, "code/")
    subscription = PhoneSubscription.objects.get()
    assert subscription.status == "pending" and len(subscription.code_hash) == 64
    assert run().sent == 1
    [request] = whatsapp.requests
    assert (request["template"], request["language"], request["to"]) == ("qp_phone_code", "en_US", WA_ID)
    code = request["body"][0]
    assert len(code) == 6 and code.isdigit() and code not in subscription.code_hash
    assert PhoneMessage.objects.get().secret_encrypted == ""  # not kept once sent

    page = client.get(url(shipment, "code/"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "+52 ••• 78" in page and "5512345678" not in page
    response = client.post(url(shipment, "code/"), {"code": f"{code[:3]} {code[3:]}"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200 and "Number confirmed" in response.content.decode()
    subscription.refresh_from_db()
    assert (subscription.status, subscription.source) == ("active", "page")
    assert subscription.consent_source == "tracking page, one-time code confirmed" and subscription.consent_at

    scan(shipment, "out_for_delivery")
    assert run().sent == 1
    assert whatsapp.requests[-1]["template"] == "qp_out_for_delivery"


def test_an_sms_code_reaches_moto_and_the_number_is_stored_sealed(whatsapp, sns):
    shipment = factories.shipment()
    ask(Client(), shipment, phone="+1 415 555 2671", channel="sms")
    run()
    [(phone, text)] = sns.sms_messages.values()
    assert phone == "+14155552671" and "codigo es" in text
    subscription = PhoneSubscription.objects.get()
    assert sealing.unseal(subscription.phone_encrypted) == "+14155552671"


def test_wrong_codes_are_counted_and_stop_after_five(whatsapp, sns):
    shipment = factories.shipment()
    client = Client()
    ask(client, shipment)
    run()
    code = whatsapp.requests[0]["body"][0]
    wrong = "000000" if code != "000000" else "111111"
    statuses = [client.post(url(shipment, "code/"), {"code": wrong}).status_code for _try in range(5)]
    assert statuses == [400, 400, 400, 400, 429]
    assert client.post(url(shipment, "code/"), {"code": code}).status_code == 429  # even the right one, now
    assert PhoneSubscription.objects.get().status == "pending"


def test_an_expired_code_is_refused(whatsapp, sns):
    shipment = factories.shipment()
    client = Client()
    ask(client, shipment)
    run()
    PhoneSubscription.objects.update(code_expires_at=PhoneSubscription.objects.get().created_at - timedelta(minutes=1))
    response = client.post(url(shipment, "code/"), {"code": whatsapp.requests[0]["body"][0]})
    assert response.status_code == 410
    assert PhoneSubscription.objects.get().status == "pending"


def test_a_code_without_a_request_in_this_session_is_not_found(db):
    shipment = factories.shipment()
    assert Client().post(url(shipment, "code/"), {"code": "123456"}).status_code == 404


@pytest.mark.parametrize(
    "phone, message",
    [
        ("+1 800 555 0199", "no es un celular"),
        ("+34 600 000 000", "Solo los números de México"),
        ("hola", "no es un número"),
    ],
)
def test_a_number_that_cannot_get_messages_is_a_400_in_spanish(db, phone, message):
    shipment = factories.shipment()
    response = ask(Client(), shipment, phone=phone)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not PhoneSubscription.objects.exists()


def test_a_number_that_said_stop_gets_no_code(db):
    shipment = factories.shipment()
    PhoneOptOut.objects.create(
        phone_hash=sealing.digest("+525512345678", purpose="notify.phone"), channel="sms", keyword="BAJA"
    )
    response = ask(Client(), shipment)
    assert response.status_code == 409
    assert not PhoneMessage.objects.exists()


def test_codes_to_one_number_are_limited(db, settings):
    shipment = factories.shipment()
    statuses = [ask(Client(), shipment).status_code for _i in range(4)]
    assert statuses == [302, 302, 302, 429]
    assert PhoneMessage.objects.filter(key__startswith="code:").count() == 3


def test_a_finished_shipment_or_no_update_chosen_is_a_400(db):
    shipment = factories.shipment()
    assert ask(Client(), shipment, topics=()).status_code == 400
    scan(shipment, "delivered")
    assert ask(Client(), shipment).status_code == 400
    assert not PhoneSubscription.objects.exists()
