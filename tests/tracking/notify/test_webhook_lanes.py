"""Webhook lanes and the per-attempt deadline, with real receivers on loopback: one that trickles
its answer a header byte every 2 s (as issue 17's attack did) and one that answers at once."""

import socket
import threading

import pytest
from django.utils import timezone

from tests import factories
from tests.tracking.notify.support import WAIT_SECONDS, WebhookReceiver, wait_for
from tracking.models import OutboxStatus, WebhookDelivery
from tracking.notify import sender, webhooks
from tracking.services import event_record

pytestmark = pytest.mark.django_db

# Enough trickled bytes to outlast any deadline below by far; a sender without a wall-clock
# deadline (a socket timeout per read) would read them all and see a complete 200 at the end.
TRICKLE = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 40 + b"\r\nContent-Length: 0\r\n\r\n"


class TricklingReceiver:
    """Reads a request, then sends its answer one byte every ``gap`` seconds; logs what happens."""

    def __init__(self, log: list[str], gap: float = 2.0):
        self.log = log
        self.gap = gap
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/slow"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        with conn:
            conn.recv(65536)
            self.log.append("slow: request in")
            for byte in TRICKLE:
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    self.log.append("slow: cut off")
                    return
                if self.stop.wait(self.gap):
                    return
                # The sender hung up: a send would only fail later, so look for the close now.
                conn.setblocking(False)
                try:
                    if conn.recv(1) == b"":
                        self.log.append("slow: cut off")
                        return
                except BlockingIOError:
                    pass
                finally:
                    conn.setblocking(True)
            self.log.append("slow: answer complete")

    def close(self):
        self.stop.set()
        self.listener.close()


@pytest.fixture
def log():
    return []


@pytest.fixture
def slow(settings, log):
    settings.PHOENIX_WEBHOOK_ALLOW_LOOPBACK = True
    settings.PHOENIX_WEBHOOK_TIMEOUT = 5
    server = TricklingReceiver(log)
    yield server
    server.close()


@pytest.fixture
def fast(settings, log):
    server = WebhookReceiver()
    settings.PHOENIX_WEBHOOK_ALLOW_LOOPBACK = True
    server.on_request = lambda header, body: log.append("fast: delivery")
    yield server
    server.close()


def test_a_trickling_receiver_is_cut_off_at_the_deadline(slow, log):
    partner = factories.partner()
    webhooks.endpoint_create(partner=partner, url=slow.url, topics=["scan"])
    event_record(shipment=factories.shipment(partner=partner), code="note", note="x", occurred_at=timezone.now())
    summary = sender.deliveries_run(worker="test-worker")
    assert summary.retried == 1
    row = WebhookDelivery.objects.get()
    assert row.status == OutboxStatus.PENDING
    assert row.last_error == "deadline: no complete answer within 5 s"
    wait_for(lambda: "slow: cut off" in log, "the receiver to see the sender hang up", WAIT_SECONDS)
    assert "slow: answer complete" not in log


def test_a_slow_receiver_delays_nobody_elses_deliveries(slow, fast, log):
    slow_partner, fast_partner = factories.partner(), factories.partner()
    webhooks.endpoint_create(partner=slow_partner, url=slow.url, topics=["scan"])
    _, fast.secret = webhooks.endpoint_create(partner=fast_partner, url=fast.url, topics=["scan"])
    # The slow partner's delivery is the oldest, so it is claimed and started first.
    slow_shipment = factories.shipment(partner=slow_partner)
    event_record(shipment=slow_shipment, code="note", note="first", occurred_at=timezone.now())
    fast_shipment = factories.shipment(partner=fast_partner)
    for note in ("a", "b", "c"):
        event_record(shipment=fast_shipment, code="note", note=note, occurred_at=timezone.now())
    sender.deliveries_run(worker="test-worker")
    # All three of the fast partner's deliveries arrived after the slow one began trickling and
    # before the slow one's attempt was cut off at its deadline.
    assert log[0] == "slow: request in"
    assert log[1:4] == ["fast: delivery"] * 3
    assert all(r["signature_ok"] for r in fast.requests)
    assert WebhookDelivery.objects.filter(endpoint__partner=fast_partner, status=OutboxStatus.SENT).count() == 3
    wait_for(lambda: "slow: cut off" in log, "the slow receiver to be cut off", WAIT_SECONDS)
    assert log.index("slow: cut off") > 3


def test_a_failing_endpoint_costs_one_attempt_per_retry_not_one_per_delivery(settings):
    settings.PHOENIX_WEBHOOK_ALLOW_LOOPBACK = True
    down = WebhookReceiver()
    down.always_fail = True
    try:
        partner = factories.partner()
        webhooks.endpoint_create(partner=partner, url=down.url, topics=["scan"])
        shipment = factories.shipment(partner=partner)
        for note in ("a", "b", "c", "d"):
            event_record(shipment=shipment, code="note", note=note, occurred_at=timezone.now())
        sender.deliveries_run(worker="test-worker")
    finally:
        down.close()
    assert len(down.requests) == 1
    rows = WebhookDelivery.objects.order_by("pk")
    assert [r.status for r in rows] == [OutboxStatus.PENDING] * 4
    assert [r.attempts for r in rows] == [1, 0, 0, 0]
    # The others wait for the failed one's retry time, not less.
    assert {r.next_attempt_at for r in rows[1:]} == {rows[0].next_attempt_at}
