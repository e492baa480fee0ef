#!/usr/bin/env python3
"""Benchmark: WhatsApp/SMS messages queued per second by bulk ingest, and its cost to ingest.

    deploy/local/bench_phone_queue.py [--events 50000] [--batch 500] [--shipments 5000] [--write]

The scenario of deploy/local/bench_api_ingest.py (POST /api/v1/events through the whole Django
stack, against a raw ``executemany`` floor), with an active phone subscription on every
shipment, so that each event that reaches out for delivery queues a ``PhoneMessage`` in the
ingest's own transaction. Reported: messages queued per second of ingest, and the ingest's
ratio to the floor with the messages (the bar is 0.15, bench_api_ingest's figure without).
``--write`` rewrites the section ``phone-queue`` of docs/performance.md.
"""

import argparse
import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # run by path: the deploy package sits at the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deploy.local import bench_api_ingest
from deploy.local.lab import REPO
from deploy.local.lab.report import cores_and_memory, marked, write_marked
from deploy.local.lab.servers import Cluster

SECTION = "phone-queue"


def on_the_way(shipment_ids: list[int]) -> None:
    """Put the shipments in transit, so that an out-for-delivery event moves each one (both runs)."""
    from tracking.models import Shipment

    Shipment.objects.filter(pk__in=shipment_ids).update(
        milestone="in_transit", exception_open=False, exception_reason="", delivered_at=None
    )


def subscribe_all(shipment_ids: list[int]) -> None:
    """Put the shipments in transit and give each an active WhatsApp subscription, in bulk."""
    from django.utils import timezone

    from tracking import phones, sealing
    from tracking.models import PhoneSubscription
    from tracking.services import PHONE_TOPICS

    on_the_way(shipment_ids)
    now = timezone.now()
    rows = []
    for index, shipment_id in enumerate(shipment_ids):
        e164 = f"+5255{index:08d}"
        rows.append(
            PhoneSubscription(
                shipment_id=shipment_id,
                phone_encrypted=sealing.seal(e164),
                phone_hash=sealing.digest(e164, purpose="notify.phone"),
                phone_masked=phones.phone_mask(e164),
                country="MX",
                topics=list(PHONE_TOPICS),
                language="es",
                status=PhoneSubscription.Status.ACTIVE,
                source=PhoneSubscription.Source.API,
                consent_source="benchmark",
                consent_at=now,
            )
        )
    PhoneSubscription.objects.bulk_create(rows, batch_size=1000)


def render(plain: dict, figures: dict, queued: int, command: str) -> str:
    ratio = figures["api_rate"] / figures["floor_rate"]
    plain_ratio = plain["api_rate"] / plain["floor_rate"]
    body = (
        "## Bulk ingest queueing WhatsApp/SMS messages\n\n"
        f"Machine: {cores_and_memory()}; the local MariaDB writer + replica (deploy/local/cluster.sh).\n"
        f"Command: `{command}`. bench_api_ingest's scenario ({figures['events']:,} events in batches of "
        f"{figures['batch']} over {figures['shipments']:,} shipments), with an active phone subscription "
        "on every shipment: each event that moves a shipment to out for delivery queues a message "
        "(an outbox row and the worker's task, in the ingest's transaction). Nothing is sent here. "
        "Both runs put their shipments in transit first, so that the same events move them the same "
        "way; each run has its own floor, measured right after it.\n\n"
        "| path | seconds | events/s | messages queued | messages/s | / floor |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: |\n"
        f"| floor: executemany | {plain['floor_seconds']:.2f} | {plain['floor_rate']:,.0f} | - | - | 1.00 |\n"
        f"| POST /api/v1/events, no phones | {plain['api_seconds']:.2f} | {plain['api_rate']:,.0f} | 0 | - "
        f"| {plain_ratio:.2f} |\n"
        f"| floor: executemany | {figures['floor_seconds']:.2f} | {figures['floor_rate']:,.0f} | - | - | 1.00 |\n"
        f"| POST /api/v1/events, phones subscribed | {figures['api_seconds']:.2f} | {figures['api_rate']:,.0f} "
        f"| {queued:,} | {queued / figures['api_seconds']:,.0f} | {ratio:.2f} |\n"
    )
    return marked(SECTION, body) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--shipments", type=int, default=5_000)
    parser.add_argument("--write", action="store_true", help="rewrite the phone-queue section of docs/performance.md")
    args = parser.parse_args()
    if not (1 <= args.batch <= 500 and args.events >= 1 and args.shipments >= 1):
        parser.error("--batch is 1 to 500; --events and --shipments at least 1")
    command = "deploy/local/bench_phone_queue.py " + " ".join(sys.argv[1:])
    cluster = None
    if not os.environ.get("DATABASE_URL"):
        cluster = Cluster("phoenix-bench-phone-")
        os.environ.update(cluster.env)
    os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only-secret-key-not-for-production-0123456789")
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
    try:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "phoenix.settings")
        import django

        django.setup()
        from django.core.management import call_command

        from tracking.models import PhoneMessage

        call_command("migrate", "--no-input", verbosity=0)
        plain = bench_api_ingest.run(args.events, args.batch, args.shipments, prepare=on_the_way)
        before = PhoneMessage.objects.count()
        figures = bench_api_ingest.run(args.events, args.batch, args.shipments, prepare=subscribe_all)
        queued = PhoneMessage.objects.count() - before
    finally:
        if cluster:
            cluster.stop()
    text = render(plain, figures, queued, command.strip())
    print(text)
    if args.write:
        write_marked(REPO / "docs/performance.md", SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
