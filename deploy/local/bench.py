#!/usr/bin/env python3
"""`make bench`: measure Phoenix against the floor the framework and the database set.

One run, side by side, so that the ratios hold on a noisy machine:

1. start a throw-away MariaDB writer + replica (deploy/local/cluster.sh), migrate, seed 10,000
   shipments and measure lookup latency with one connection; seed up to BENCH_SCALE shipments
   (1,000,000 by default) and measure it again;
2. start four gunicorns under the production config (deploy/gunicorn.conf.py): one with the
   production settings, and one per router (Phoenix's, django-multidb-router, a single database)
   with the page cache off, and load them with wrk from a second process, each scenario
   BENCH_ROUNDS times in alternating order: the floor (a fixed body through the same middleware),
   the tracking page rendered for 5,000 numbers under each router, the tracking page for repeat
   visits to 200 numbers (the page cache), the 25-number lookup and the tracking API;
3. bulk event ingest through POST /api/v1/events (batches of 500) beside the raw floor of the
   same rows inserted with executemany through mysqlclient;
4. write the figures into docs/performance.md (section "bench") and docs/performance.png.

Environment: BENCH_SCALE (shipments, default 1000000), BENCH_SMALL_SCALE (default 10000),
BENCH_SECONDS (per wrk run, default 10 at full scale, else 5), BENCH_ROUNDS (runs per scenario,
default 5 at full scale, else 3; the median is reported), BENCH_CONNECTIONS (default 16),
BENCH_INGEST_BATCHES (default 20), BENCH_SEED_WORKERS (seed_demo --workers, default 2),
BENCH_WORKERS / BENCH_THREADS (gunicorn, default 2 x 4), BENCH_BUFFER_POOL (MariaDB, default
2G), BENCH_OUTPUT (markdown file, default docs/performance.md; the PNG goes beside it).

The scenarios' parts are in deploy/local/performance/ (the app, the profile, the ingest, the
report); the servers, processes and load come from deploy/local/lab/.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run by path: the deploy package sits at the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deploy.local.lab import REPO
from deploy.local.lab.load import Result, wrk
from deploy.local.lab.servers import Cluster
from deploy.local.performance import REPEAT_NUMBERS, log
from deploy.local.performance.app import App, app_env, manage
from deploy.local.performance.ingest import ingest_figures
from deploy.local.performance.profile import profile
from deploy.local.performance.report import write_report

SMALL_SCALE = 10_000
SMALL_DATABASE = "phoenix_small"
ROUTERS = ("phoenix", "multidb", "single")


def main() -> int:
    """Run the whole bench (see the module docstring) and write its report."""
    scale = int(os.environ.get("BENCH_SCALE", "1000000"))
    small = min(int(os.environ.get("BENCH_SMALL_SCALE", SMALL_SCALE)), scale)
    # 10 s per run at full scale; 5 s keeps a quick run under 5 minutes.
    seconds = int(os.environ.get("BENCH_SECONDS", "10" if scale >= 1_000_000 else "5"))
    connections = int(os.environ.get("BENCH_CONNECTIONS", "16"))
    # Runs of each scenario under load: the median of five survives two noisy runs; three keep a
    # quick run under 5 minutes.
    rounds_count = int(os.environ.get("BENCH_ROUNDS", "5" if scale >= 1_000_000 else "3"))
    batches = int(os.environ.get("BENCH_INGEST_BATCHES", "20"))
    output = Path(os.environ.get("BENCH_OUTPUT", REPO / "docs" / "performance.md"))
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: run `deploy/local/bootstrap.sh test` (apt-get install wrk)")
    # Stopped from outside (SIGTERM), still stop the servers this run started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    # A buffer pool that holds the full-scale tables, as the database instance class would.
    cluster = Cluster("phoenix-bench-cluster.", PHOENIX_BUFFER_POOL=os.environ.get("BENCH_BUFFER_POOL", "2G"))
    apps: list[App] = []
    results: dict[str, Result] = {}
    try:
        env = app_env(cluster)
        manage(env, "migrate", "--no-input", "-v0")
        # As on an instance: hashed static files for WhiteNoise, compiled translations.
        manage(env, "collectstatic", "--no-input", "-v0")
        manage(env, "compilemessages", "-v0", "--ignore=.venv*", "--ignore=node_modules")
        # Two databases on the same servers: `phoenix_small` with the small scale and `phoenix`
        # with the full one, so that the latency of both is measured in the same minutes.
        cluster.query(f"CREATE DATABASE {SMALL_DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        small_env = app_env(cluster, database=SMALL_DATABASE)
        manage(small_env, "migrate", "--no-input", "-v0")
        seed(small_env, small, seed=1)
        seed(env, scale, seed=2)
        cluster.wait_for_replica(log)
        # A quick run gives the servers a moment only: it is a smoke run, not the committed figures.
        cluster.settle(log, timeout=300 if scale >= 1_000_000 else 15)
        results.update(lookup_latency(cluster, {"small": small_env, "large": env}, seconds))

        numbers = sample_numbers(cluster, 5000)
        detail = [f"/track/{n}/" for n in numbers]
        lookup25 = ["/track/?numbers=" + ",".join(numbers[i : i + 25]) for i in range(0, len(numbers) - 24, 25)]
        api = [f"/api/v1/tracking/{n}" for n in numbers]
        # The production configuration ("cached": the page cache on) and the three routers side
        # by side with the page cache off (every request renders the page and reads the database,
        # which is what routing costs are measured on), each in its own gunicorn, all started
        # before any measurement; the runs alternate (ABC then CBA) so that a noisy neighbour
        # hurts all alike.
        routed = {"cached": App(app_env(cluster))}
        apps.append(routed["cached"])
        for router in ROUTERS:
            extra = {"PHOENIX_ROUTER": router, "PHOENIX_PAGE_CACHE_SECONDS": "0"}
            if router == "single":
                extra["DATABASE_READER_URL"] = ""
            routed[router] = App(app_env(cluster, **extra))
            apps.append(routed[router])
        for name, app in routed.items():
            status, _ = app.get(detail[0])
            if status != 200:
                raise RuntimeError(f"tracking page answered {status} in the {name} app")
        plan = [("floor", "cached", ["/bench/floor"])]
        plan += [(f"detail_{router}", router, detail) for router in ROUTERS]
        plan += [("detail_repeat", "cached", detail[:REPEAT_NUMBERS])]
        plan += [("lookup25", "cached", lookup25), ("api", "cached", api)]
        for key, app, paths in plan:  # warm-up: connections, caches, the replica's buffer pool
            wrk(key, routed[app].url, paths, seconds=max(1, seconds // 5), connections=connections, quiet=True, log=log)
        rounds = {key: [] for key, _, _ in plan}
        misses = []
        for order in [plan, plan[::-1]] * (rounds_count // 2) + [plan] * (rounds_count % 2):
            for key, app, paths in order:
                if key == "detail_repeat":
                    # Steady state: the repeat numbers were visited within the last minute (a pass
                    # of one second; the run's own misses are counted below).
                    wrk(key, routed[app].url, paths, seconds=1, connections=connections, quiet=True, log=log)
                before, cpu_before = cluster.reads(), cluster.cpu_seconds() + routed[app].cpu_seconds()
                run = wrk(key, routed[app].url, paths, seconds=seconds, connections=connections, log=log)
                cpu = cluster.cpu_seconds() + routed[app].cpu_seconds() - cpu_before
                run.cpu_ms = cpu * 1000 / max(1, run.requests)
                rounds[key].append(run)
                if key == "detail_repeat":  # a page cache miss is one read on the replica
                    misses.append((cluster.reads() - before, rounds[key][-1].requests))
        results.update({key: Result.median(runs) for key, runs in rounds.items()})
        results["detail_repeat"].hit_ratio = 1 - sum(m for m, _ in misses) / max(1, sum(n for _, n in misses))
        # Where a worker's time goes, for the report: the floor and the rendered tracking page.
        profiles = {
            "floor": profile(routed["cached"], ["/bench/floor"], seconds=seconds, connections=connections),
            "tracking page, rendered": profile(routed["phoenix"], detail, seconds=seconds, connections=connections),
        }
        for app in routed.values():
            app.stop()
        ingest = ingest_figures(cluster, env, numbers, batches)
    finally:
        for app in apps:
            app.stop()
        cluster.stop()
    elapsed = time.monotonic() - started
    write_report(
        output,
        results,
        ingest,
        profiles,
        scale=scale,
        small=small,
        seconds=seconds,
        connections=connections,
        rounds=rounds_count,
        elapsed=elapsed,
    )
    log(f"done in {elapsed / 60:.1f} minutes")
    return 0


def seed(env: dict[str, str], shipments: int, *, seed: int) -> None:
    """Seed ``shipments`` demo shipments into the database of ``env`` (seed_demo, in parallel)."""
    workers = os.environ.get("BENCH_SEED_WORKERS", "2")
    log(f"seeding {shipments:,} shipments ({workers} processes)")
    started = time.monotonic()
    manage(env, "seed_demo", "--shipments", str(shipments), "--seed", str(seed), "--workers", workers, quiet=True)
    log(f"seeded {shipments:,} shipments in {time.monotonic() - started:.0f} s")


def lookup_latency(cluster: Cluster, envs: dict[str, dict[str, str]], seconds: int) -> dict[str, Result]:
    """Return single-connection latency of the tracking page and the 25-number lookup per size.

    One app per database, both running; the runs alternate small, large, large, small and the
    figures are the means, so that the machine's noise falls on both sizes alike.
    """
    apps = {}
    try:
        plan = []
        for size, env in envs.items():
            database = SMALL_DATABASE if size == "small" else "phoenix"
            numbers = sample_numbers(cluster, 2500, database=database)
            # The page cache off: this measures the database path at each table size.
            apps[size] = App({**env, "PHOENIX_PAGE_CACHE_SECONDS": "0"})
            plan.append((f"detail_{size}", size, [f"/track/{n}/" for n in numbers]))
            plan.append(
                (
                    f"lookup25_{size}",
                    size,
                    ["/track/?numbers=" + ",".join(numbers[i : i + 25]) for i in range(0, len(numbers) - 24, 25)],
                )
            )
        for key, size, paths in plan:
            for path in paths[:4]:  # the workers' first pages (imports, template compilation)
                apps[size].get(path)
            wrk(key, apps[size].url, paths, seconds=max(1, seconds // 5), connections=1, quiet=True, log=log)
        runs = {key: [] for key, _, _ in plan}
        for kind in ("detail", "lookup25"):
            steps = [step for step in plan if step[0].startswith(kind + "_")]
            for key, size, paths in steps + steps[::-1]:
                runs[key].append(
                    wrk(f"{key}, 1 connection", apps[size].url, paths, seconds=seconds, connections=1, log=log)
                )
        return {key: Result.median(found) for key, found in runs.items()}
    finally:
        for app in apps.values():
            app.stop()


def sample_numbers(cluster: Cluster, count: int, database: str = "phoenix") -> list[str]:
    """Return ``count`` tracking numbers spread over the whole table (by id stride)."""
    table = f"{database}.tracking_shipment"
    (max_id,) = cluster.query(f"SELECT MAX(id) FROM {table}")[0]
    stride = max(1, max_id // count)
    rows = cluster.query(f"SELECT tracking_number FROM {table} WHERE id % {stride} = 0 LIMIT {count}")
    return [row[0] for row in rows]


if __name__ == "__main__":
    sys.exit(main())
