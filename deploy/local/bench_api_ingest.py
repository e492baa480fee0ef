#!/usr/bin/env python3
"""Benchmark: scan events per second through POST /api/v1/events, against a raw insert floor.

    deploy/local/bench_api_ingest.py [--events 50000] [--batch 500] [--shipments 5000] [--write]

Runs against DATABASE_URL when it is set (a migrated database); otherwise it starts a
throw-away MariaDB writer + replica with deploy/local/cluster.sh, migrates it, and stops it at
the end. The API path is the whole Django stack in this process (middleware, routing, token
authentication, JSON parsing, validation, ``events_ingest``) driven by Django's test client,
without the HTTP server. The floor inserts the same rows with mysqlclient's ``executemany``
(one multi-row INSERT per batch, one commit per batch), with no checks and no milestone
updates. ``--write`` rewrites the section ``api-ingest`` of docs/performance.md.
"""

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

if __package__ in (None, ""):  # run by path: the deploy package sits at the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deploy.local.lab import REPO
from deploy.local.lab.report import cores_and_memory, marked, write_marked
from deploy.local.lab.servers import Cluster

SECTION = "api-ingest"
CODES = ("arrived_at_facility", "departed_facility", "in_transit", "at_destination", "out_for_delivery")


def run(events: int, batch: int, shipments: int, prepare=None) -> dict:
    """Measure the API and the floor on the configured database; return the figures.

    ``prepare(shipment_ids)``, when given, runs on the seeded shipments before the API is timed
    (deploy/local/bench_phone_queue.py subscribes a phone to each).
    """
    import json

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections
    from django.test import Client
    from django.test.utils import override_settings
    from django.utils import timezone

    from tracking.api.tokens import partner_token_create
    from tracking.models import Facility, Partner, PartnerScope, Shipment, TrackingEvent

    stamp = f"{os.getpid()}-{int(time.time())}"
    call_command("seed_demo", "--shipments", str(shipments), "--quiet", stdout=open(os.devnull, "w"))  # noqa: SIM115
    pool = list(Shipment.objects.using("default").order_by("-id").values_list("id", "tracking_number")[:shipments])
    facility = Facility.objects.using("default").order_by("id").first()
    api_partner = Partner.objects.using("default").create(name=f"bench api {stamp}")
    floor_partner = Partner.objects.using("default").create(name=f"bench floor {stamp}")
    _, key = partner_token_create(partner=api_partner, name="benchmark")
    # The seeded shipments have no partner: a hub scope lets the benchmark's partner write them.
    PartnerScope.objects.using("default").create(partner=api_partner, kind=PartnerScope.Kind.HUB, facility=facility)
    if prepare:
        prepare([shipment_id for shipment_id, _number in pool])

    start = timezone.now() - timedelta(days=2)
    batches = []
    for first in range(0, events, batch):
        items = []
        for index in range(first, min(first + batch, events)):
            shipment_id, number = pool[index % len(pool)]
            items.append(
                {
                    "id": f"bench-{index}",
                    "tracking_number": number,
                    "code": CODES[index % len(CODES)],
                    "occurred_at": (start + timedelta(seconds=index)).isoformat(),
                    "facility": facility.code,
                    "note": "",
                    "_shipment_id": shipment_id,
                }
            )
        batches.append(items)

    # API: the whole Django stack, one request per batch, throttles out of the way.
    client = Client(HTTP_AUTHORIZATION=f"Token {key}", SERVER_NAME="localhost")
    rest = json.loads(json.dumps(settings.REST_FRAMEWORK))
    rest["DEFAULT_THROTTLE_RATES"] = {"partner": "1000000/minute", "ip": "1000000/minute"}
    bodies = [json.dumps({"events": [{k: v for k, v in e.items() if k != "_shipment_id"} for e in b]}) for b in batches]
    with override_settings(REST_FRAMEWORK=rest, SECURE_SSL_REDIRECT=False):
        started = time.perf_counter()
        accepted = 0
        for body in bodies:
            response = client.post("/api/v1/events", body, content_type="application/json")
            if response.status_code != 200:
                raise RuntimeError(f"the API answered {response.status_code}: {response.content[:300]!r}")
            accepted += response.json()["accepted"]
        api_seconds = time.perf_counter() - started
    if accepted != events:
        raise RuntimeError(f"the API accepted {accepted} of {events} events")

    # Floor: the same rows through mysqlclient's executemany, one commit per batch.
    connection = connections["default"]
    connection.ensure_connection()
    raw = connection.connection
    table = TrackingEvent._meta.db_table
    columns = (
        "shipment_id, code, milestone, reason, close_exception, occurred_at, recorded_at, facility_id, note, source, "
        "partner_id, partner_event_id"
    )
    sql = f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    now = timezone.now().replace(tzinfo=None)
    rows = [
        [
            (
                e["_shipment_id"],
                e["code"],
                "in_transit",
                "",
                0,
                (start + timedelta(seconds=int(e["id"].split("-")[1]))).replace(tzinfo=None),
                now,
                facility.pk,
                "",
                "api",
                floor_partner.pk,
                e["id"],
            )
            for e in items
        ]
        for items in batches
    ]
    started = time.perf_counter()
    cursor = raw.cursor()
    for chunk in rows:
        cursor.executemany(sql, chunk)
        raw.commit()
    cursor.close()
    floor_seconds = time.perf_counter() - started
    return {
        "events": events,
        "batch": batch,
        "shipments": len(pool),
        "api_seconds": api_seconds,
        "floor_seconds": floor_seconds,
        "api_rate": events / api_seconds,
        "floor_rate": events / floor_seconds,
    }


def render(figures: dict, command: str) -> str:
    """Return this benchmark's section of docs/performance.md, markers included."""
    ratio = figures["api_rate"] / figures["floor_rate"]
    body = (
        "## Partner API: bulk scan-event ingest\n\n"
        f"Machine: {cores_and_memory()}; the local MariaDB writer + replica (deploy/local/cluster.sh).\n"
        f"Command: `{command}`. {figures['events']:,} events in batches of {figures['batch']} over "
        f"{figures['shipments']:,} shipments, each event new (no replays). API: POST /api/v1/events "
        "through the whole Django stack in one process (middleware, routing, token, validation, "
        "`events_ingest`: lock, insert, milestone update), without the HTTP server. Floor: the same "
        "rows inserted with mysqlclient `executemany`, one commit per batch, nothing else.\n\n"
        "| path | seconds | events/s | / floor |\n"
        "| --- | ---: | ---: | ---: |\n"
        f"| floor: executemany | {figures['floor_seconds']:.2f} | {figures['floor_rate']:,.0f} | 1.00 |\n"
        f"| POST /api/v1/events | {figures['api_seconds']:.2f} | {figures['api_rate']:,.0f} | {ratio:.2f} |\n"
    )
    return marked(SECTION, body) + "\n"


def write_section(path: Path, text: str) -> None:
    """Replace this benchmark's section of ``path`` (or add it), leaving the others alone."""
    write_marked(path, SECTION, text)


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "phoenix.settings")
    import django

    django.setup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--shipments", type=int, default=5_000)
    parser.add_argument("--write", action="store_true", help="rewrite the api-ingest section of docs/performance.md")
    args = parser.parse_args()
    if not (1 <= args.batch <= 500 and args.events >= 1 and args.shipments >= 1):
        parser.error("--batch is 1 to 500; --events and --shipments at least 1")
    command = "deploy/local/bench_api_ingest.py " + " ".join(sys.argv[1:])
    cluster = None
    if not os.environ.get("DATABASE_URL"):
        cluster = Cluster("phoenix-bench-api-")
        os.environ.update(cluster.env)
    os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only-secret-key-not-for-production-0123456789")
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
    try:
        _setup_django()
        from django.core.management import call_command

        call_command("migrate", "--no-input", verbosity=0)
        figures = run(args.events, args.batch, args.shipments)
    finally:
        if cluster:
            cluster.stop()
    text = render(figures, command.strip())
    print(text)
    if args.write:
        write_section(REPO / "docs/performance.md", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
