"""Bulk event ingest under `make bench`: POST /api/v1/events through gunicorn beside raw executemany."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse

import MySQLdb

from deploy.local.lab.processes import partner_token
from deploy.local.lab.servers import Cluster
from deploy.local.performance import log
from deploy.local.performance.app import App, manage

INGEST_BATCH = 500


def ingest_figures(cluster: Cluster, env: dict[str, str], numbers: list[str], batches: int) -> dict:
    """Return events/s (and per-batch latency) through POST /api/v1/events and through raw executemany.

    Both insert the same kind of rows, ``batches`` batches of 500, one batch at a time: the API
    through gunicorn with a partner token (validation, idempotency check, shipment locks,
    milestone updates), the floor as one ``executemany`` and commit per batch through mysqlclient.
    """
    # The seeded shipments have no partner: a hub scope lets the benchmark's scanner write them.
    token = partner_token(manage(env, "create_partner", "bench-ingest", "--hub", "MEX01", quiet=True))
    (facility_id,) = cluster.query("SELECT id FROM tracking_facility WHERE code = 'MEX01'")[0]
    occurred = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 3600))

    def batch(kind: str, b: int) -> list[dict]:
        return [
            {
                "id": f"bench-{kind}-{b}-{i}",
                "tracking_number": numbers[(b * INGEST_BATCH + i) % len(numbers)],
                "code": "arrived_at_facility",
                "occurred_at": occurred,
                "facility": "MEX01",
            }
            for i in range(INGEST_BATCH)
        ]

    app = App(env)
    try:
        api_times = []
        connection = http.client.HTTPConnection("127.0.0.1", app.port, timeout=120)
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/json", "X-Forwarded-Proto": "https"}
        started = time.perf_counter()
        for b in range(batches):
            body = json.dumps({"events": batch("api", b)})
            t0 = time.perf_counter()
            connection.request("POST", "/api/v1/events", body=body, headers=headers)
            response = connection.getresponse()
            answer = json.loads(response.read())
            api_times.append(time.perf_counter() - t0)
            if response.status != 200 or answer.get("accepted") != INGEST_BATCH:
                raise RuntimeError(f"ingest batch {b} answered {response.status}: {str(answer)[:300]}")
        api_elapsed = time.perf_counter() - started
        connection.close()
    finally:
        app.stop()

    ids = dict(
        cluster.query(
            "SELECT tracking_number, id FROM tracking_shipment WHERE tracking_number IN ({})".format(
                ",".join(f"'{n}'" for n in set(numbers))
            )
        )
    )
    raw_times = []
    writer = _writer_connection(env)
    try:
        started = time.perf_counter()
        with writer.cursor() as cursor:
            for b in range(batches):
                rows = [
                    (
                        ids[e["tracking_number"]],
                        e["code"],
                        "in_transit",
                        "",
                        0,
                        occurred[:19],
                        occurred[:19],
                        facility_id,
                        "",
                        "api",
                        e["id"],
                    )
                    for e in batch("raw", b)
                ]
                t0 = time.perf_counter()
                cursor.executemany(
                    "INSERT INTO tracking_trackingevent (shipment_id, code, milestone, reason, close_exception,"
                    " occurred_at, recorded_at, facility_id, note, source, partner_event_id)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    rows,
                )
                writer.commit()
                raw_times.append(time.perf_counter() - t0)
        raw_elapsed = time.perf_counter() - started
    finally:
        writer.close()
    events = batches * INGEST_BATCH
    figures = {
        "api_events_per_s": events / api_elapsed,
        "raw_events_per_s": events / raw_elapsed,
        "api_batch_ms": _percentiles(api_times),
        "raw_batch_ms": _percentiles(raw_times),
        "events": events,
    }
    log(f"ingest: API {figures['api_events_per_s']:,.0f} events/s, raw executemany {figures['raw_events_per_s']:,.0f}")
    return figures


def _writer_connection(env: dict[str, str]):
    """Return a mysqlclient connection to the writer as the app user (as the app connects)."""

    url = urllib.parse.urlparse(env["DATABASE_URL"])
    return MySQLdb.connect(
        host=url.hostname,
        port=url.port,
        user=url.username,
        password=url.password,
        database=url.path.lstrip("/"),
        charset="utf8mb4",
    )


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    """Return (p50, p99) in milliseconds."""
    ordered = sorted(seconds)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return pick(0.5), pick(0.99)
