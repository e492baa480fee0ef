#!/usr/bin/env python3
"""Fault drills: start a throw-away HA stack, put a steady mixed load on it, break it, count.

    .venv/bin/python deploy/local/drills.py [--quick] [--report docs/reliability.md] [--json FILE]

Drills (each under load: customer page views, partner API lookups, partner event posts with
unique event ids, a staff user and a partner that write and read their writes back at once):

  1 reader   the replica stopped, then started again
  2 writer   the writer stopped, then started again
  3 failover the writer failed over to the replica (deploy/local/failover.sh), then back
  4 zone     one app instance (az-a) killed with SIGKILL, then started again
  5 lag      replication lag (the replica's SQL thread stopped for 10 s)

Slow or silent rather than gone (deploy/local/reliability/faults.py; the run re-executes itself
in a network namespace of its own, so iptables rules and floods touch only its stack):

  6 writer-blackhole   every packet to and from the cluster endpoint dropped (no RST)
  7 reader-blackhole   the same for the reader endpoint
  8 writer-hung        FLUSH TABLES WITH READ LOCK held on the writer
  9 reader-slow        the reader endpoint through a forwarder adding 0.5 s each way (1 s a round trip)
 10 replica-stopped    the replica's SQL thread stopped three times as long as drill 5 (lag grows)
 11 reader-full        the reader at max_connections (1040), the app's sessions cut
 12 writer-full        the writer at max_connections (1040), the app's sessions cut
 13 overload           clients asking for pages back to back, four per thread of the instances

Every request is recorded (start time, kind, status, latency, event id). After each drill the
writer is asked for every event id the load generator posted: an id acknowledged with a 2xx but
absent is a lost write, an id stored twice a duplicated one. --quick runs drills 1, 3 and 5 at a
reduced load (the test suite runs it). Everything stays on 127.0.0.1 and stops by itself.

The parts are in deploy/local/reliability/ (the stack, the load, the figures, the report); the
HTTP client, the form parser and root SQL come from deploy/local/lab/.
"""

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run by path: the deploy package sits at the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deploy.local.lab.processes import partner_token
from deploy.local.lab.report import say
from deploy.local.reliability import faults
from deploy.local.reliability.figures import Drill, count, verdicts
from deploy.local.reliability.load import Load
from deploy.local.reliability.report import report
from deploy.local.reliability.stack import Stack, app_log_offsets, app_log_problems

MAX_REQUESTS = 60_000  # a hard bound on the whole run, whatever the phases say


class Stopped(Exception):
    """The run was stopped from outside (SIGTERM): the stack is still stopped on the way out."""


def _on_sigterm(signum, frame):
    raise Stopped(f"signal {signum}")


def prepare(stack: Stack) -> dict:
    """Partners, tokens and the numbers the load uses."""

    def token(name: str, hubs: list[str]) -> str:
        # A partner writes only its own shipments unless it holds a scope: the scanners and the
        # partner that post events get a hub scope for every facility the load scans at.
        return partner_token(stack.manage("create_partner", name, *[arg for code in hubs for arg in ("--hub", code)]))

    writer, _reader = stack.roles()
    numbers = [
        row[0]
        for row in stack.sql(writer, "SELECT tracking_number FROM phoenix.tracking_shipment ORDER BY id LIMIT 200")
    ]
    in_flight = [
        row[0]
        for row in stack.sql(
            writer,
            "SELECT tracking_number FROM phoenix.tracking_shipment WHERE milestone IN "
            "('label_created', 'picked_up', 'in_transit', 'at_destination') ORDER BY id LIMIT 100",
        )
    ]
    facilities = [row[0] for row in stack.sql(writer, "SELECT code FROM phoenix.tracking_facility ORDER BY code")]
    facility_id = stack.sql(writer, "SELECT id FROM phoenix.tracking_facility ORDER BY code DESC LIMIT 1")[0][0]
    return {
        "numbers": numbers,
        "in_flight": in_flight,
        "facilities": facilities,
        "staff_facility_id": facility_id,
        "shop_token": token("Drill shop", []),
        "scanner_token": token("Drill hub scanner", facilities),
        "partner_token": token("Drill partner", facilities),
        "admin_user": stack.env["PHOENIX_ADMIN_USER"],
        "admin_password": stack.env["PHOENIX_ADMIN_PASSWORD"],
    }


def run_drill(stack: Stack, data: dict, drill: Drill, *, scale: float, phase: float, budget: list[int]) -> None:
    """Load on, settle, break, wait, mend, settle, load off, then count."""
    say(f"drill {drill.number}: {drill.title}")
    offsets = app_log_offsets(stack)
    load = Load(stack, data, scale=scale, budget=budget)
    balancer = faults.BalancerWatch(stack)
    load.start()
    balancer.start()
    try:
        time.sleep(phase / 2)
        writer, reader = stack.roles()

        def did(what: str) -> None:
            drill.actions.append((time.time(), what))

        if drill.name == "reader":
            stack.sh("node-stop", reader)
            did(f"reader {reader} stopped")
            time.sleep(phase)
            stack.sh("node-start", reader)
            did(f"reader {reader} started")
            stack.wait_replica_caught_up()
            did("replica caught up")
        elif drill.name == "writer":
            stack.sh("node-stop", writer)
            did(f"writer {writer} stopped")
            time.sleep(phase)
            stack.sh("node-start", writer)
            drill.recovered = time.time()
            did(f"writer {writer} started")
            stack.wait_replica_caught_up()
            did("replica caught up")
        elif drill.name == "failover":
            drill.moves.append(stack.failover())
            did(f"failover done: writer {writer} -> {reader}")
            time.sleep(phase)
            drill.moves.append(stack.failover())
            did(f"failback done: writer {reader} -> {writer}")
        elif drill.name == "zone":
            stack.sh("app-kill", "az-a")
            did("az-a killed")
            time.sleep(phase)
            stack.sh("app-start", "az-a")
            did("az-a started (answers /healthz)")
            stack.wait_alb_servers_up()
            did("the ALB sees az-a up")
        elif drill.name == "lag":
            stack.sql(reader, "STOP SLAVE SQL_THREAD")
            did(f"replica {reader} SQL thread stopped")
            time.sleep(10.0)
            drill.replica_behind = events_behind(stack)
            stack.sql(reader, "START SLAVE SQL_THREAD")
            did(f"replica {reader} SQL thread started")
            stack.wait_replica_caught_up()
            did("replica caught up")
        else:
            slow_or_silent(stack, data, drill, phase=phase, did=did)
        time.sleep(phase / 2)
    finally:
        drill.balancer = balancer.stop()
        drill.records = load.stop()
    if load.staff_error:
        drill.notes.append(load.staff_error)
    stack.wait_replica_caught_up()
    drill.figures = count(stack, drill)
    drill.app_log = app_log_problems(offsets)


def slow_or_silent(stack: Stack, data: dict, drill: Drill, *, phase: float, did) -> None:
    """Drills 6 to 13: hold the fault for ``phase`` seconds (drill.fault is its window)."""
    writer, reader = stack.roles()
    ports = {"writer": int(stack.env["PHOENIX_CLUSTER_PORT"]), "reader": int(stack.env["PHOENIX_READER_PORT"])}
    if drill.name in ("writer-blackhole", "reader-blackhole"):
        role = drill.name.split("-")[0]
        fault = faults.blackholed(ports[role])
    elif drill.name == "writer-hung":
        fault = faults.read_lock_held(stack, writer)
    elif drill.name == "reader-slow":
        fault = faults.slowed(stack, reader, 0.5)
    elif drill.name in ("reader-full", "writer-full"):
        fault = faults.server_full(stack, reader if drill.name == "reader-full" else writer)
    elif drill.name == "replica-stopped":
        phase *= 3
        fault = _replica_stopped(stack, reader)
    elif drill.name == "overload":
        threads = 2 * int(stack.env.get("PHOENIX_STACK_WORKERS", 2)) * int(stack.env.get("PHOENIX_STACK_THREADS", 4))
        fault = faults.Flood(stack, data["numbers"], clients=4 * threads)
    else:
        raise ValueError(drill.name)
    with fault as held:
        start = time.time()
        did(f"{drill.title}: on")
        time.sleep(phase)
        drill.fault = (start, time.time())
        if drill.name == "replica-stopped":
            drill.replica_behind = events_behind(stack)
    did(f"{drill.title}: off")
    if drill.name == "overload":
        drill.flood = held.summary()
    if isinstance(held, int):
        drill.notes.append(f"{held} idle connections filled the server")
    if drill.name == "replica-stopped":
        stack.wait_replica_caught_up()
        did("replica caught up")


def events_behind(stack: Stack) -> int:
    """Return how many scan events the writer has that the replica has not applied yet."""
    writer, reader = stack.roles()
    statement = "SELECT COUNT(*) FROM phoenix.tracking_trackingevent"
    return stack.sql(writer, statement)[0][0] - stack.sql(reader, statement)[0][0]


class _replica_stopped:
    def __init__(self, stack: Stack, node: str):
        self.stack, self.node = stack, node

    def __enter__(self):
        self.stack.sql(self.node, "STOP SLAVE SQL_THREAD")

    def __exit__(self, *exc_info):
        self.stack.sql(self.node, "START SLAVE SQL_THREAD")


DRILLS = [
    (1, "reader", "reader stopped, then restarted"),
    (2, "writer", "writer stopped, then restarted"),
    (3, "failover", "failover while writes continue, then failback"),
    (4, "zone", "app instance az-a killed (SIGKILL), then restarted"),
    (5, "lag", "replication lag of 10 s while staff and partners write and read back"),
    (6, "writer-blackhole", "writer endpoint blackholed (packets dropped, no RST)"),
    (7, "reader-blackhole", "reader endpoint blackholed (packets dropped, no RST)"),
    (8, "writer-hung", "writer hung (FLUSH TABLES WITH READ LOCK held)"),
    (9, "reader-slow", "reader slow (0.5 s added each way)"),
    (10, "replica-stopped", "replica SQL thread stopped, lag growing past the bound"),
    (11, "reader-full", "reader full (max_connections reached, 1040)"),
    (12, "writer-full", "writer full (max_connections reached, 1040)"),
    (13, "overload", "overload (four clients per thread asking for pages back to back)"),
]
SLOW_OR_SILENT = {number for number, _name, _title in DRILLS if number >= 6}


def main(argv=None) -> int:
    """Run the chosen drills on a fresh stack; write the report and the JSON; 1 if a target was missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="drills 1, 3 and 5 at a reduced load")
    parser.add_argument("--drills", help="comma-separated drill numbers (default: all, or 1,3,5 with --quick)")
    parser.add_argument("--report", type=Path, help="write the Markdown report here (docs/reliability.md)")
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    parser.add_argument("--keep", action="store_true", help="leave the stack running at the end (to look around)")
    args = parser.parse_args(argv)
    chosen = {1, 3, 5} if args.quick else {number for number, _name, _title in DRILLS}
    if args.drills:
        chosen = {int(n) for n in args.drills.split(",")}
    if chosen & SLOW_OR_SILENT and not faults.in_netns():
        # The whole run, stack and load, in a network namespace of its own (see faults.py).
        return faults.reexec_in_netns([str(Path(__file__).resolve()), *(sys.argv[1:] if argv is None else argv)])
    scale, phase, shipments = (0.5, 5.0, 120) if args.quick else (1.0, 8.0, 400)

    signal.signal(signal.SIGTERM, _on_sigterm)
    started = datetime.now(UTC)
    clock = time.monotonic()
    directory = Path(tempfile.mkdtemp(prefix="phoenix-drills."))
    stack = Stack(directory / "stack")
    drills = [Drill(n, name, title) for n, name, title in DRILLS if n in chosen]
    budget = [MAX_REQUESTS]
    try:
        say(f"starting a stack in {stack.dir}")
        stack.start(shipments=shipments)
        data = prepare(stack)
        say(f"  stack ready after {time.monotonic() - clock:.0f} s")
        for drill in drills:
            run_drill(stack, drill=drill, data=data, scale=scale, phase=phase, budget=budget)
            f = drill.figures
            say(
                f"  after {time.monotonic() - clock:.0f} s: requests {f['requests']}, failed GETs {f['failed_gets']}, writes 503 {f['writes_503']}, "
                f"lost {f['writes_lost']}, duplicated {f['writes_duplicated']}, resume {f['resume_seconds']}, "
                f"stale own reads {f['stale_own_reads']}"
            )
    finally:
        if args.keep:
            say(f"the stack keeps running: deploy/local/stack.sh stop {stack.dir}")
        else:
            stack.stop()
            shutil.rmtree(directory, ignore_errors=True)
    elapsed = time.monotonic() - clock
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "elapsed": elapsed,
                    "drills": [
                        {
                            "number": d.number,
                            "name": d.name,
                            "figures": d.figures,
                            "notes": d.notes,
                            "actions": d.actions,
                            "app_log": d.app_log,
                            "verdicts": verdicts(d),
                            "records": [asdict(r) for r in d.records],
                        }
                        for d in drills
                    ],
                },
                indent=1,
            )
        )
    if args.report:
        args.report.write_text(report(drills, quick=args.quick, elapsed=elapsed, started=started))
        say(f"wrote {args.report}")
    missed = [(d.number, t) for d in drills for t, met, _f in verdicts(d) if not met]
    for number, target in missed:
        say(f"drill {number}: target missed: {target}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
