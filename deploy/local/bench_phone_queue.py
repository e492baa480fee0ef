#!/usr/bin/env python3
"""Benchmark: WhatsApp/SMS messages queued per second by bulk ingest, and its cost to ingest.

    deploy/local/bench_phone_queue.py [--events 20000] [--batch 500] [--shipments 4999] [--rounds 3] [--write]

The scenario of deploy/local/bench_api_ingest.py (POST /api/v1/events through the whole Django
stack, against a raw ``executemany`` floor), with an active phone subscription on every
shipment, so that each event that reaches out for delivery queues a ``PhoneMessage`` in the
ingest's own transaction. Reported: messages queued per second of ingest, and the ingest's
ratio to the floor with the messages (the bar is 0.15, bench_api_ingest's figure without).
``--write`` rewrites the section ``phone-queue`` of docs/performance.md.
"""

import argparse
import os
import statistics
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


def render(rounds: list[tuple[dict, dict, int]], command: str) -> str:
    """Return the section: each round's two runs, then the medians of the per-round ratios."""
    first = rounds[0][1]
    lines = []
    plain_ratios, phone_ratios, rates = [], [], []
    for number, (plain, phoned, queued) in enumerate(rounds, start=1):
        plain_ratios.append(plain["api_rate"] / plain["floor_rate"])
        phone_ratios.append(phoned["api_rate"] / phoned["floor_rate"])
        rates.append(queued / phoned["api_seconds"])
        lines.append(
            f"| {number} | {plain['api_rate']:,.0f} / {plain['floor_rate']:,.0f} | {plain_ratios[-1]:.2f} "
            f"| {phoned['api_rate']:,.0f} / {phoned['floor_rate']:,.0f} | {phone_ratios[-1]:.2f} "
            f"| {queued:,} | {rates[-1]:,.0f} |"
        )
    body = (
        "## Bulk ingest queueing WhatsApp/SMS messages\n\n"
        f"Machine: {cores_and_memory()}; the local MariaDB writer + replica (deploy/local/cluster.sh).\n"
        f"Command: `{command}`. bench_api_ingest's scenario ({first['events']:,} events in batches of "
        f"{first['batch']} over {first['shipments']:,} shipments, POST /api/v1/events through the whole "
        "Django stack against an `executemany` floor measured right after it), run twice per round: "
        "without phone subscriptions, then with an active one on every shipment, so that each event "
        "that moves a shipment to out for delivery queues a message (an outbox row and the worker's "
        "task, in the ingest's own transaction; nothing is sent). Both runs put their shipments in "
        "transit first. Rounds alternate so that the machine's drift hits both alike; the figures "
        "are the medians of the per-round values.\n\n"
        "| round | no phones: API / floor events/s | ratio | phones: API / floor events/s | ratio "
        "| messages queued | messages/s |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n" + "\n".join(lines) + "\n\n"
        f"Median ratio to the floor: **{statistics.median(plain_ratios):.2f}** without phones, "
        f"**{statistics.median(phone_ratios):.2f}** with phones; messages queued per second of ingest: "
        f"**{statistics.median(rates):,.0f}**. Load average (1 min) at the end: {os.getloadavg()[0]:.1f}.\n"
    )
    return marked(SECTION, body) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    # Not a multiple of bench_api_ingest's five event codes, so every shipment gets each code.
    parser.add_argument("--shipments", type=int, default=4_999)
    parser.add_argument("--rounds", type=int, default=3)
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
        rounds = []
        for _round in range(args.rounds):
            plain = bench_api_ingest.run(args.events, args.batch, args.shipments, prepare=on_the_way)
            before = PhoneMessage.objects.count()
            phoned = bench_api_ingest.run(args.events, args.batch, args.shipments, prepare=subscribe_all)
            rounds.append((plain, phoned, PhoneMessage.objects.count() - before))
    finally:
        if cluster:
            cluster.stop()
    text = render(rounds, command.strip())
    print(text)
    if args.write:
        write_marked(REPO / "docs/performance.md", SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
