"""The real worker (`manage.py db_worker`, on the writer and the real replica) killed with SIGKILL
while a WhatsApp request is on the wire: no message is sent twice, nothing else is lost.

The platform has no idempotency key for a send, so a message is sent at most once: the one in
flight at the kill is recorded ``uncertain`` and not sent again; every other number gets its
message exactly once, on WhatsApp or, for numbers without it, by SMS on moto's SNS.
"""

import signal
from types import SimpleNamespace

import pytest
from django.utils import timezone

from tests import factories
from tests.tracking.notify import whatsapp as standin
from tests.tracking.notify.support import wait_for
from tests.tracking.notify.test_worker import kill, start_worker, worker_env
from tracking.models import PhoneMessage
from tracking.services import event_record

SHIPMENTS = 10
NO_WHATSAPP = {"525512345602", "525512345607"}


@pytest.mark.cluster
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_whatsapp_request_sends_nothing_twice(whatsapp, sns, settings, tmp_path):
    whatsapp.not_on_whatsapp.update(NO_WHATSAPP)
    numbers = [f"5255123456{i:02d}" for i in range(SHIPMENTS)]
    for number in numbers:
        shipment = factories.shipment()
        factories.phone_subscription(shipment, phone="+" + number, first_name="Ana")
        event_record(shipment=shipment, code="out_for_delivery", occurred_at=timezone.now())
    assert PhoneMessage.objects.count() == SHIPMENTS

    env = worker_env(SimpleNamespace(port=1), None, reader=True)
    env.update(
        PHOENIX_WHATSAPP_API_URL=whatsapp.url,
        PHOENIX_WHATSAPP_API_VERSION=standin.VERSION,
        PHOENIX_WHATSAPP_PHONE_NUMBER_ID=standin.PHONE_NUMBER_ID,
        PHOENIX_WHATSAPP_TOKEN=standin.TOKEN,
        AWS_SNS_ENDPOINT_URL=settings.AWS_SNS_ENDPOINT_URL,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        PHOENIX_SMS_SENDER_IDS="MX=QPOST",
    )
    log = tmp_path / "worker.log"
    worker = None
    try:
        # Kill while the 4th request to the Graph API waits for its answer.
        whatsapp.hold_at = 4
        worker = start_worker(env, log)
        wait_for(whatsapp.holding.is_set, "the worker to be in the middle of the 4th WhatsApp request")
        kill(worker)
        whatsapp.release.set()
        in_flight = whatsapp.requests[-1]["to"]

        worker = start_worker(env, log)
        wait_for(
            lambda: not PhoneMessage.objects.filter(status__in=["pending", "claimed", "sending"]).exists(),
            "every message to be settled",
        )
    finally:
        if worker and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
        print(log.read_text() if log.exists() else "")

    on_whatsapp = [request["to"] for request in whatsapp.requests]
    by_sms = [phone.lstrip("+") for phone, _text in sns.sms_messages.values()]
    assert sorted(on_whatsapp) == sorted(set(numbers) - NO_WHATSAPP)  # each once, none twice
    assert sorted(by_sms) == sorted(NO_WHATSAPP)
    statuses = dict(PhoneMessage.objects.values_list("subscription__phone_masked", "status"))
    assert sorted(PhoneMessage.objects.values_list("status", flat=True)) == ["sent"] * (SHIPMENTS - 1) + ["uncertain"]
    assert statuses[f"+52 ••• {in_flight[-2:]}"] == "uncertain"
