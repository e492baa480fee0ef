"""The real worker (`manage.py db_worker`) killed with SIGKILL in the middle of a batch.

Nothing is lost and nothing is sent twice: every e-mail reaches the SMTP server exactly once,
and every webhook event id is accepted by the receiver (the one in flight at the kill is
posted again with the same id, which is the documented at-least-once-with-dedupe contract).
"""

import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection
from django.utils import timezone

from tests import factories
from tests.tracking.notify.support import wait_for
from tracking.models import EmailNotification, WebhookDelivery
from tracking.notify import webhooks
from tracking.services import event_record

REPO = Path(__file__).resolve().parents[3]
WORKER_ID = "test-host"
SHIPMENTS = 20


def worker_env(smtp_server, receiver, reader: bool = False) -> dict:
    """Return the worker's environment on this test's database: the writer alone, or, with
    ``reader``, the writer and the real replica (which replicates the test database), as in
    production."""
    name = connection.settings_dict["NAME"]
    url = urlsplit(os.environ["DATABASE_URL"])
    env = dict(os.environ)
    env.pop("DATABASE_READER_URL", None)
    if reader:
        env["DATABASE_READER_URL"] = urlunsplit(urlsplit(os.environ["DATABASE_READER_URL"])._replace(path="/" + name))
    env.update(
        DATABASE_URL=urlunsplit(url._replace(path="/" + name)),
        PHOENIX_EMAIL_BACKEND="smtp",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_server.port),
        PHOENIX_WEBHOOK_ALLOW_LOOPBACK="1",
        PHOENIX_SITE_URL="https://tracking.qualitypost.test",
        PHOENIX_LOG_LEVEL="WARNING",
    )
    return env


def start_worker(env: dict, log: Path) -> subprocess.Popen:
    """Start the worker as systemd does: release what this worker id held, then db_worker."""
    manage = [sys.executable, str(REPO / "manage.py")]
    subprocess.run([*manage, "notifications_recover", "--worker-id", WORKER_ID], env=env, check=True, cwd=REPO)
    with log.open("ab") as out:
        return subprocess.Popen(
            [*manage, "db_worker", "--worker-id", WORKER_ID, "--interval", "0.1", "--no-startup-delay", "--no-reload"],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(30)


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(smtp_server, receiver, tmp_path):
    partner = factories.partner()
    _endpoint, receiver.secret = webhooks.endpoint_create(partner=partner, url=receiver.url, topics=["milestone"])
    addresses = []
    for i in range(SHIPMENTS):
        shipment = factories.shipment(partner=partner)
        address = f"customer{i}@example.com"
        factories.subscription(shipment, email=address, topics=["out_for_delivery"], language="en")
        addresses.append(address)
        event_record(shipment=shipment, code="out_for_delivery", occurred_at=timezone.now())
    assert EmailNotification.objects.count() == WebhookDelivery.objects.count() == SHIPMENTS

    env = worker_env(smtp_server, receiver)
    log = tmp_path / "worker.log"
    worker = None
    try:
        # 1. Kill while the 5th e-mail is on the wire: the server has it, the worker has no reply.
        smtp_server.hold_at = 5
        worker = start_worker(env, log)
        wait_for(smtp_server.holding.is_set, "the worker to be in the middle of the 5th e-mail")
        kill(worker)
        smtp_server.release.set()
        assert len(smtp_server.messages) == 5

        # 2. Restart; kill while the 3rd webhook is being answered.
        receiver.hold_at = 3
        worker = start_worker(env, log)
        wait_for(receiver.holding.is_set, "the worker to be in the middle of the 3rd webhook")
        kill(worker)
        receiver.release.set()

        # 3. Restart and let it finish.
        worker = start_worker(env, log)
        wait_for(
            lambda: (
                WebhookDelivery.objects.filter(status="sent").count() == SHIPMENTS
                and not EmailNotification.objects.filter(status__in=["pending", "claimed", "sending"]).exists()
            ),
            "every notification to be settled",
        )
    finally:
        if worker and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
        print(log.read_text() if log.exists() else "")

    received = sorted(message["To"] for message in smtp_server.messages)
    assert received == sorted(addresses)  # all twenty, none twice
    statuses = sorted(EmailNotification.objects.values_list("status", flat=True))
    # The one on the wire at the kill is recorded as uncertain and not sent again (at most once).
    assert statuses == ["sent"] * (SHIPMENTS - 1) + ["uncertain"]

    assert all(r["signature_ok"] for r in receiver.requests)
    ids = [r["id"] for r in receiver.requests]
    assert len(set(ids)) == SHIPMENTS  # every event delivered
    repeated = {i for i in ids if ids.count(i) > 1}
    assert repeated == {receiver.requests[2]["id"]}  # only the one in flight, with the same id
    assert len(ids) == SHIPMENTS + 1


@pytest.mark.cluster
@pytest.mark.django_db(transaction=True)
def test_the_worker_delivers_with_the_reader_configured(smtp_server, receiver, tmp_path):
    # Production sets DATABASE_READER_URL: the worker must still claim its queue on the writer
    # (reading it from the replica inside its transaction used to crash it at the first poll).
    shipment = factories.shipment()
    factories.subscription(shipment, email="reader-configured@example.com", topics=["out_for_delivery"], language="en")
    event_record(shipment=shipment, code="out_for_delivery", occurred_at=timezone.now())

    log = tmp_path / "worker.log"
    worker = start_worker(worker_env(smtp_server, receiver, reader=True), log)
    try:
        wait_for(lambda: smtp_server.messages or worker.poll() is not None, "the e-mail or the worker's exit")
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
    output = log.read_text()
    assert [message["To"] for message in smtp_server.messages] == ["reader-configured@example.com"], output
    assert "Traceback" not in output and "TransactionManagementError" not in output
