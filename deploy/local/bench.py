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
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
SMALL_SCALE = 10_000

ROTATE_LUA = """
local paths = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  i = math.random(#paths)
end
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], {["X-Forwarded-Proto"] = "https"})
end
"""


def log(message: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    runs: int = 1
    hit_ratio: float | None = None  # page cache hits / requests, where it applies
    cpu_ms: float | None = None  # CPU per request: the app's processes and both database servers
    runs_rps: tuple[float, ...] = ()  # each run's req/s, in round order (for paired ratios)

    @classmethod
    def median(cls, results: list[Result]) -> Result:
        """Return the median of several runs of one scenario (requests and errors summed): one run
        that a noisy neighbour slowed down does not move it."""
        return cls(
            results[0].name,
            statistics.median(r.rps for r in results),
            statistics.median(r.p50_ms for r in results),
            statistics.median(r.p99_ms for r in results),
            sum(r.requests for r in results),
            sum(r.errors for r in results),
            len(results),
            cpu_ms=statistics.median(r.cpu_ms for r in results) if all(r.cpu_ms for r in results) else None,
            runs_rps=tuple(r.rps for r in results),
        )


def _cpu_seconds(pids: list[str]) -> float:
    """Return the CPU time (user + system) the processes ``pids`` have used so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


class Cluster:
    """The local writer + replica, started and stopped by deploy/local/cluster.sh."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="phoenix-bench-cluster.")
        # A buffer pool that holds the full-scale tables, as the database instance class would.
        pool = os.environ.get("BENCH_BUFFER_POOL", "2G")
        subprocess.run(
            [str(ROOT / "deploy/local/cluster.sh"), "start", self.dir],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "PHOENIX_BUFFER_POOL": pool},
        )
        self.env = dict(line.split("=", 1) for line in Path(self.dir, "env").read_text().split())

    def stop(self) -> None:
        subprocess.run([str(ROOT / "deploy/local/cluster.sh"), "stop", self.dir], check=False)

    def cpu_seconds(self) -> float:
        """Return the CPU time the writer and the replica have used so far."""
        return _cpu_seconds([Path(self.dir, node, "mysqld.pid").read_text().strip() for node in ("writer", "replica")])

    def reads(self) -> int:
        """Return the replica's SELECT count so far (Com_select)."""
        import MySQLdb

        connection = MySQLdb.connect(unix_socket=self.env["PHOENIX_REPLICA_SOCKET"], user="root")
        try:
            with connection.cursor() as cursor:
                cursor.execute("SHOW GLOBAL STATUS LIKE 'Com_select'")
                return int(cursor.fetchone()[1])
        finally:
            connection.close()

    def query(self, sql: str) -> list[tuple]:
        import MySQLdb

        connection = MySQLdb.connect(unix_socket=self.env["PHOENIX_WRITER_SOCKET"], user="root", database="phoenix")
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall())
        finally:
            connection.close()


def app_env(cluster: Cluster, database: str = "phoenix", **extra: str) -> dict[str, str]:
    """Return the app's environment: production settings on the bench cluster's ``database``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "PHOENIX_", "GUNICORN_"))}
    env.update(
        DATABASE_URL=_with_database(cluster.env["DATABASE_URL"], database),
        DATABASE_READER_URL=_with_database(cluster.env["DATABASE_READER_URL"], database),
        DJANGO_SECRET_KEY="bench-only-secret-key-" + "x" * 40,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        PHOENIX_BENCH="1",
        PHOENIX_LOG_LEVEL="WARNING",
        # Lookups and the API are limited per client IP and per token; wrk is one client.
        PHOENIX_LOOKUP_BUDGET=str(10**12),
        PHOENIX_API_RATE_PARTNER="1000000/second",
        PHOENIX_API_RATE_IP="1000000/second",
    )
    env.update(extra)
    return env


def _with_database(url: str, database: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + database


def manage(env: dict[str, str], *args: str, quiet: bool = False) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, text=True, stdout=subprocess.PIPE
    )
    if not quiet:
        sys.stderr.write(result.stdout)
    return result.stdout


class App:
    """gunicorn under the production config, on a free port."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **env,
            # Marks the processes of this run, so that a test can tell none is left behind.
            "PHOENIX_BENCH_RUN": os.environ.get("PHOENIX_BENCH_RUN", "1"),
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_WORKERS": os.environ.get("BENCH_WORKERS", "2"),
            "GUNICORN_THREADS": os.environ.get("BENCH_THREADS", "4"),
            "FORWARDED_ALLOW_IPS": "127.0.0.1",
            # A worker recycled mid-run would re-import Django inside a measurement.
            "GUNICORN_MAX_REQUESTS": "0",
        }
        # The access log (production writes it to stdout) and errors go to a file: a run with
        # errors reports which statuses they were.
        self.log = tempfile.NamedTemporaryFile(prefix="phoenix-bench-gunicorn.", suffix=".log", delete=False)  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            [GUNICORN, "-c", str(ROOT / "deploy/gunicorn.conf.py")],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not answer /healthz within 60 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if not self.log.closed:
            self.log.close()
            statuses = Counter(re.findall(rb'"status":(\d+)', Path(self.log.name).read_bytes()))
            failures = {int(code): n for code, n in statuses.items() if not code.startswith((b"2", b"3"))}
            if failures:
                log(f"gunicorn on port {self.port} answered {failures} (status: count); log kept in {self.log.name}")
            else:
                os.unlink(self.log.name)

    def cpu_seconds(self) -> float:
        """Return the CPU time gunicorn's master and workers have used so far."""
        workers = subprocess.run(["pgrep", "-P", str(self.process.pid)], text=True, capture_output=True).stdout.split()
        return _cpu_seconds([str(self.process.pid), *workers])

    def get(self, path: str) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path, headers={"X-Forwarded-Proto": "https"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


def wrk(name: str, base_url: str, paths: list[str], *, seconds: int, connections: int, quiet: bool = False) -> Result:
    """Run wrk against ``paths`` in turn and return its figures."""
    with tempfile.TemporaryDirectory() as tmp:
        script, paths_file = _rotate_script(tmp), _paths_file(tmp, paths)
        output = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                # A slow answer is a slow answer, not an error: wrk's default is 2 s.
                "--timeout",
                "30s",
                "-s",
                str(script),
                base_url,
                "--",
                str(paths_file),
            ],
            check=True,
            text=True,
            stdout=subprocess.PIPE,
        ).stdout
    if not re.search(r"[1-9]\d* requests in", output) and seconds < 60:
        log(f"{name}: no request completed in {seconds} s; running it again for {seconds * 3} s")
        return wrk(name, base_url, paths, seconds=seconds * 3, connections=connections, quiet=quiet)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", output, re.MULTILINE))
    result = Result(name, rps, _ms(latency["50"]), _ms(latency["99"]), requests, errors)
    if not quiet:
        log(f"{name}: {rps:,.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, errors {errors}")
    return result


def _rotate_script(directory: str) -> str:
    script = Path(directory, "rotate.lua")
    script.write_text(ROTATE_LUA)
    return str(script)


def _paths_file(directory: str, paths: list[str]) -> str:
    paths_file = Path(directory, "paths.txt")
    paths_file.write_text("\n".join(paths) + "\n")
    return str(paths_file)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def sample_numbers(cluster: Cluster, count: int, database: str = "phoenix") -> list[str]:
    """Return ``count`` tracking numbers spread over the whole table (by id stride)."""
    table = f"{database}.tracking_shipment"
    (max_id,) = cluster.query(f"SELECT MAX(id) FROM {table}")[0]
    stride = max(1, max_id // count)
    rows = cluster.query(f"SELECT tracking_number FROM {table} WHERE id % {stride} = 0 LIMIT {count}")
    return [row[0] for row in rows]


def wait_for_replica(cluster: Cluster, timeout: int = 1800) -> None:
    """Wait until the replica has applied everything the writer wrote (seeding is bulk)."""
    import MySQLdb

    (gtid,) = cluster.query("SELECT @@gtid_binlog_pos")[0]
    replica = MySQLdb.connect(unix_socket=cluster.env["PHOENIX_REPLICA_SOCKET"], user="root")
    started = time.monotonic()
    try:
        with replica.cursor() as cursor:
            while True:
                cursor.execute("SELECT MASTER_GTID_WAIT(%s, 30)", [gtid])
                if cursor.fetchone()[0] == 0:
                    break
                if time.monotonic() - started > timeout:
                    raise RuntimeError(f"the replica did not catch up with {gtid} within {timeout} s")
                log("waiting for the replica to catch up")
    finally:
        replica.close()
    if time.monotonic() - started > 5:
        log(f"the replica caught up in {time.monotonic() - started:.0f} s")


def settle(cluster: Cluster, timeout: int = 300) -> None:
    """Wait until both servers have written the seed's dirty pages and purged its undo log.

    Right after a million shipments were inserted, InnoDB flushes and purges in the background
    for minutes: the first runs of a full-scale bench measured that (the same scenario moved by
    2x between rounds). A production database serves reads without such a backlog.
    """
    import MySQLdb

    started = time.monotonic()
    nodes = [cluster.env["PHOENIX_WRITER_SOCKET"], cluster.env["PHOENIX_REPLICA_SOCKET"]]
    connections = [MySQLdb.connect(unix_socket=socket_path, user="root", autocommit=True) for socket_path in nodes]
    try:
        for connection in connections:
            connection.cursor().execute("SET GLOBAL innodb_max_dirty_pages_pct = 0")
        while time.monotonic() - started < timeout:
            busy = []
            for connection in connections:
                cursor = connection.cursor()
                cursor.execute(
                    "SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_buffer_pool_pages_dirty',"
                    " 'Innodb_buffer_pool_pages_total', 'Innodb_history_list_length')"
                )
                status = {name: int(value) for name, value in cursor.fetchall()}
                dirty = status["Innodb_buffer_pool_pages_dirty"] / max(1, status["Innodb_buffer_pool_pages_total"])
                busy.append(dirty > 0.01 or status.get("Innodb_history_list_length", 0) > 1000)
            if not any(busy):
                break
            time.sleep(2)
        else:
            log(f"the servers were still flushing after {timeout} s; measuring anyway")
    finally:
        for connection in connections:
            connection.cursor().execute("SET GLOBAL innodb_max_dirty_pages_pct = DEFAULT")
            connection.close()
    if time.monotonic() - started > 5:
        log(f"the servers settled (dirty pages written, undo purged) in {time.monotonic() - started:.0f} s")


def main() -> int:
    scale = int(os.environ.get("BENCH_SCALE", "1000000"))
    small = min(int(os.environ.get("BENCH_SMALL_SCALE", SMALL_SCALE)), scale)
    # 10 s per run at full scale; 5 s keeps a quick run under 5 minutes.
    seconds = int(os.environ.get("BENCH_SECONDS", "10" if scale >= 1_000_000 else "5"))
    connections = int(os.environ.get("BENCH_CONNECTIONS", "16"))
    # Runs of each scenario under load: the median of five survives two noisy runs; three keep a
    # quick run under 5 minutes.
    rounds_count = int(os.environ.get("BENCH_ROUNDS", "5" if scale >= 1_000_000 else "3"))
    batches = int(os.environ.get("BENCH_INGEST_BATCHES", "20"))
    output = Path(os.environ.get("BENCH_OUTPUT", ROOT / "docs" / "performance.md"))
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: run `deploy/local/bootstrap.sh test` (apt-get install wrk)")
    # Stopped from outside (SIGTERM), still stop the servers this run started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    cluster = Cluster()
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
        wait_for_replica(cluster)
        # A quick run gives the servers a moment only: it is a smoke run, not the committed figures.
        settle(cluster, timeout=300 if scale >= 1_000_000 else 15)
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
            wrk(key, routed[app].url, paths, seconds=max(1, seconds // 5), connections=connections, quiet=True)
        rounds = {key: [] for key, _, _ in plan}
        misses = []
        for order in [plan, plan[::-1]] * (rounds_count // 2) + [plan] * (rounds_count % 2):
            for key, app, paths in order:
                if key == "detail_repeat":
                    # Steady state: the repeat numbers were visited within the last minute (a pass
                    # of one second; the run's own misses are counted below).
                    wrk(key, routed[app].url, paths, seconds=1, connections=connections, quiet=True)
                before, cpu_before = cluster.reads(), cluster.cpu_seconds() + routed[app].cpu_seconds()
                run = wrk(key, routed[app].url, paths, seconds=seconds, connections=connections)
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


ROUTERS = ("phoenix", "multidb", "single")
# Repeat visits: this many numbers, each looked up again and again within the page cache's minute
# (a parcel everybody in a family follows, a customer refreshing), against 5,000 otherwise.
REPEAT_NUMBERS = 200


def seed(env: dict[str, str], shipments: int, *, seed: int) -> None:
    workers = os.environ.get("BENCH_SEED_WORKERS", "2")
    log(f"seeding {shipments:,} shipments ({workers} processes)")
    started = time.monotonic()
    manage(env, "seed_demo", "--shipments", str(shipments), "--seed", str(seed), "--workers", workers, quiet=True)
    log(f"seeded {shipments:,} shipments in {time.monotonic() - started:.0f} s")


SMALL_DATABASE = "phoenix_small"


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
            wrk(key, apps[size].url, paths, seconds=max(1, seconds // 5), connections=1, quiet=True)
        runs = {key: [] for key, _, _ in plan}
        for kind in ("detail", "lookup25"):
            steps = [step for step in plan if step[0].startswith(kind + "_")]
            for key, size, paths in steps + steps[::-1]:
                runs[key].append(wrk(f"{key}, 1 connection", apps[size].url, paths, seconds=seconds, connections=1))
        return {key: Result.median(found) for key, found in runs.items()}
    finally:
        for app in apps.values():
            app.stop()


# Where a sample of a worker belongs: the outermost frame that matches decides (a date formatted
# inside a template is template time, a row read inside an ORM query is ORM time).
_CATEGORIES = [
    ("templates (rendering, translations, dates)", re.compile(r"django/template/")),
    ("ORM and mysqlclient (SQL, round trips, model instances)", re.compile(r"django/db/models/|MySQLdb/")),
    ("logging (access log, routing log)", re.compile(r"/logging/")),
]


def _category(frames: list[str]) -> str:
    """Return the category of one sampled stack (outermost frame first)."""
    for frame in frames:
        for name, pattern in _CATEGORIES:
            if pattern.search(frame):
                return name
    if any("WSGIHandler.__call__" in frame for frame in frames):
        return "Django: request, middleware, views (the rest)"
    return "gunicorn (sockets, HTTP parsing, thread pool)"


def profile(app: App, paths: list[str], *, seconds: int, connections: int, top: int = 8) -> dict:
    """Return where the workers spend their time under wrk load, from py-spy's GIL-holding samples:
    {"categories": [(share, category)], "leaves": [(share, frame)]} (the ``top`` leaf frames)."""
    spy = shutil.which("py-spy", path=str(ROOT / ".venv" / "bin")) or shutil.which("py-spy")
    workers = subprocess.run(["pgrep", "-P", str(app.process.pid)], text=True, capture_output=True).stdout.split()
    if not spy or not workers:
        log("py-spy or the gunicorn worker is missing; no profile")
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        load = subprocess.Popen(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds + 2}s",
                "--timeout",
                "30s",
                "-s",
                _rotate_script(tmp),
                app.url,
                "--",
                _paths_file(tmp, paths),
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            time.sleep(1)
            # Every worker at once: wrk's keep-alive connections may all have landed on one.
            spies = [
                subprocess.Popen(
                    [spy, "record", "--pid", pid, "--duration", str(seconds), "--rate", "200", "--gil"]
                    + ["--format", "raw", "--output", str(Path(tmp, f"profile.{pid}.txt"))],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for pid in workers
            ]
            for spying in spies:
                spying.wait()
        finally:
            load.wait()
        text = "".join(path.read_text() for path in Path(tmp).glob("profile.*.txt"))
        if not text.strip():
            log("py-spy could not attach (needs ptrace rights); no profile")
            return {}
        categories: Counter = Counter()
        leaves: Counter = Counter()
        for line in text.splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")
            leaves[frames[-1]] += int(count)
            categories[_category(frames)] += int(count)
    total = sum(categories.values())
    return {
        "categories": [(n / total, name) for name, n in categories.most_common()],
        "leaves": [(n / total, frame) for frame, n in leaves.most_common(top)],
    }


INGEST_BATCH = 500


def ingest_figures(cluster: Cluster, env: dict[str, str], numbers: list[str], batches: int) -> dict:
    """Return events/s (and per-batch latency) through POST /api/v1/events and through raw executemany.

    Both insert the same kind of rows, ``batches`` batches of 500, one batch at a time: the API
    through gunicorn with a partner token (validation, idempotency check, shipment locks,
    milestone updates), the floor as one ``executemany`` and commit per batch through mysqlclient.
    """
    token = manage(env, "create_partner", "bench-ingest", "--hub", "MEX01", quiet=True).splitlines()[1].strip()
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
    import MySQLdb

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


def write_report(output: Path, results: dict[str, Result], ingest: dict, profiles: dict, **run) -> None:
    floor = results["floor"]
    single = results["detail_single"]
    repeat = results["detail_repeat"]
    rows = [
        ("floor: fixed body, same middleware", floor, 1.0),
        (
            "tracking page /track/<n>/, 5,000 numbers, every request rendered",
            results["detail_phoenix"],
            _paired(results["detail_phoenix"], floor),
        ),
        (
            f"tracking page, repeat visits to {REPEAT_NUMBERS} numbers (page cache, {repeat.hit_ratio:.0%} hits)",
            repeat,
            _paired(repeat, floor),
        ),
        ("25-number lookup /track/?numbers=", results["lookup25"], _paired(results["lookup25"], floor)),
        ("tracking API /api/v1/tracking/<n>", results["api"], _paired(results["api"], floor)),
        ("tracking page, Phoenix router", results["detail_phoenix"], _paired(results["detail_phoenix"], single)),
        (
            "tracking page, django-multidb-router",
            results["detail_multidb"],
            _paired(results["detail_multidb"], single),
        ),
        ("tracking page, single database", single, 1.0),
    ]
    scales = [("small", run["small"]), ("large", run["scale"])]
    targets = [
        (
            "tracking page, every request rendered >= 0.6 x floor throughput",
            _paired(results["detail_phoenix"], floor),
            0.6,
            ">=",
        ),
        ("tracking page, repeat visits >= 0.6 x floor throughput", _paired(repeat, floor), 0.6, ">="),
        ("Phoenix router >= 0.97 x single database", _paired(results["detail_phoenix"], single), 0.97, ">="),
        (
            "Phoenix router >= django-multidb-router",
            _paired(results["detail_phoenix"], results["detail_multidb"]),
            1.0,
            ">=",
        ),
        (
            f"tracking page p50 at {run['scale']:,} <= 1.2 x at {run['small']:,}",
            _ratio(results["detail_large"].p50_ms, results["detail_small"].p50_ms),
            1.2,
            "<=",
        ),
        (
            f"25-number lookup p50 at {run['scale']:,} <= 1.2 x at {run['small']:,}",
            _ratio(results["lookup25_large"].p50_ms, results["lookup25_small"].p50_ms),
            1.2,
            "<=",
        ),
        ("ingest >= 0.1 x raw executemany", _ratio(ingest["api_events_per_s"], ingest["raw_events_per_s"]), 0.1, ">="),
    ]
    command = "make bench" + ("" if run["scale"] == 1_000_000 else f" BENCH_SCALE={run['scale']}")
    lines = [
        "## make bench: pages, API, routing and ingest against their floors",
        "",
        f"Machine: {os.cpu_count()} cores, {_memory_gib():.0f} GiB memory, shared with other work (the figures",
        "that matter are the ratios, measured in the same run). "
        f"Command: `{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{run['elapsed'] / 60:.1f} minutes). Data: {run['scale']:,} shipments seeded by `seed_demo` "
        "(3 to 12 events and 2 contacts each) on the local MariaDB writer + replica.",
        "",
        f"Load: wrk, {run['connections']} connections, {run['seconds']} s per run, each scenario run {run['rounds']} times (the",
        f"order reversed every other time) after a warm-up, the figures are the medians of the {run['rounds']} runs; the paths rotate",
        "through 5,000 tracking numbers spread over the whole table (200 of them for repeat visits, each run of",
        "which follows a one-second pass, as a page someone looked at within the minute would). The app:",
        "gunicorn with deploy/gunicorn.conf.py (gthread, 2 workers x 4 threads, access log on), DEBUG off, lookup",
        "rate limits and API throttles lifted (wrk is one client). Four gunicorns, all started before the first",
        "run: the production settings (floor, repeat visits, lookup, API), and one per router with the page",
        "cache off (tracking/site/pagecache.py), so that every tracking page there is rendered from the database.",
        "",
        "| scenario | req/s | p50 ms | p99 ms | errors | CPU ms/req | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, result, ratio in rows:
        cpu = f"{result.cpu_ms:.1f}" if result.cpu_ms else "-"
        lines.append(
            f"| {label} | {result.rps:,.0f} | {result.p50_ms:.1f} | {result.p99_ms:.1f} | {result.errors} | {cpu} "
            f"| {ratio:.2f} |"
        )
    lines += [
        "",
        "Ratios: the pages and the API against the floor; the three router rows against the single database;",
        "each the median of the per-round ratios (runs seconds apart), so that the machine's drift over minutes",
        "cancels out. CPU ms/req: the CPU time of the app's gunicorn processes and of both MariaDB servers during",
        "the runs, per request (the load generator not included): the price of a request, whatever the noise.",
        "Repeat visits: the share of hits is the replica's SELECT count during the runs against the requests.",
        "",
        "Lookup latency against table size (1 connection, so latency is not queueing):",
        "",
        "| scenario | shipments | req/s | p50 ms | p99 ms | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, label in (("detail", "tracking page"), ("lookup25", "25-number lookup")):
        for size, count in scales:
            r = results[f"{key}_{size}"]
            lines.append(f"| {label} | {count:,} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} |")
    lines += [
        "",
        f"Bulk ingest, {ingest['events']:,} events in batches of {INGEST_BATCH}, one batch at a time:",
        "",
        "| ingest | events/s | batch p50 ms | batch p99 ms | ratio |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| raw `executemany` + commit through mysqlclient (floor) | {ingest['raw_events_per_s']:,.0f} | "
        f"{ingest['raw_batch_ms'][0]:.0f} | {ingest['raw_batch_ms'][1]:.0f} | 1.00 |",
        f"| `POST /api/v1/events` through gunicorn | {ingest['api_events_per_s']:,.0f} | "
        f"{ingest['api_batch_ms'][0]:.0f} | {ingest['api_batch_ms'][1]:.0f} | "
        f"{_ratio(ingest['api_events_per_s'], ingest['raw_events_per_s']):.2f} |",
        "",
        "| target | measured | met |",
        "| --- | ---: | --- |",
    ]
    for label, value, threshold, op in targets:
        met = value >= threshold if op == ">=" else value <= threshold
        lines.append(f"| {label} | {value:.2f} | {'yes' if met else '**no**'} |")
    if all(profiles.values()):
        names = list(profiles)
        lines += [
            "",
            "Where the gunicorn workers' time goes under the same load (py-spy, samples of the thread that",
            "holds the GIL, so waiting on the database is not counted; each sample is put in the outermost",
            "category it is in):",
            "",
            "| category | " + " | ".join(names) + " |",
            "| --- | " + " | ".join("---:" for _ in names) + " |",
        ]
        shares = {name: {category: share for share, category in profiles[name]["categories"]} for name in names}
        order = sorted({c for name in names for c in shares[name]}, key=lambda c: -shares[names[-1]].get(c, 0))
        for category in order:
            lines.append(f"| {category} | " + " | ".join(f"{shares[n].get(category, 0):.0%}" for n in names) + " |")
        for name in names:
            lines += ["", f"Top frames by own time, {name}:", "", "| share | frame |", "| ---: | --- |"]
            lines += [f"| {share:.1%} | `{frame}` |" for share, frame in profiles[name]["leaves"]]
    output.parent.mkdir(parents=True, exist_ok=True)
    plot = output.parent / "performance.png"
    if _plot(plot, rows, results, scales, ingest):
        lines += ["", f"![throughput and latency per scenario]({plot.name})"]
    replace_section(output, "bench", "\n".join(lines))
    log(f"wrote {output}")


def _paired(result: Result, base: Result) -> float:
    """Return the median of the per-round throughput ratios of ``result`` to ``base``.

    Each round runs the scenarios back to back, so a ratio within a round compares runs a few
    seconds apart; the machine's speed drifts over minutes, which a ratio of medians would keep.
    """
    pairs = list(zip(result.runs_rps, base.runs_rps, strict=False))
    if not pairs:
        return _ratio(result.rps, base.rps)
    return statistics.median(_ratio(a, b) for a, b in pairs)


def _ratio(value: float, floor: float) -> float:
    """Return value / floor, NaN when the floor is zero (a run too short to complete a request)."""
    return value / floor if floor else float("nan")


def _memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def _plot(path: Path, rows: list, results: dict[str, Result], scales: list, ingest: dict) -> bool:
    """Draw throughput, latency, latency against table size and ingest into one PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed; no plot")
        return False
    blue, orange, grey = "#1f5fa8", "#f0a030", "#9aa5b1"
    labels = [label for label, _, _ in rows]
    fig, axes = plt.subplots(2, 2, figsize=(13, 8), constrained_layout=True)
    (rps, latency), (size, ingest_ax) = axes
    rps.barh(labels, [r.rps for _, r, _ in rows], color=[grey] + [blue] * (len(rows) - 1))
    for y, (_, r, ratio) in enumerate(rows):
        rps.text(r.rps, y, f" {r.rps:,.0f} ({ratio:.2f})", va="center", fontsize=8)
    rps.set_xlabel("requests per second (ratio to its floor)")
    rps.set_title("throughput, 16 connections")
    rps.invert_yaxis()
    rps.margins(x=0.25)
    latency.barh(labels, [r.p50_ms for _, r, _ in rows], color=blue, label="p50")
    latency.barh(
        labels,
        [r.p99_ms - r.p50_ms for _, r, _ in rows],
        left=[r.p50_ms for _, r, _ in rows],
        color=orange,
        label="p99",
    )
    latency.set_xlabel("latency, ms")
    latency.set_title("latency, 16 connections")
    latency.invert_yaxis()
    latency.set_yticklabels([])
    latency.legend()
    groups = [("detail", "tracking page"), ("lookup25", "25-number lookup")]
    width = 0.38
    for i, (size_key, count) in enumerate(scales):
        xs = [g + (i - 0.5) * width for g in range(len(groups))]
        p50 = [results[f"{key}_{size_key}"].p50_ms for key, _ in groups]
        size.bar(xs, p50, width, color=[grey, blue][i], label=f"{count:,} shipments")
        for x, value in zip(xs, p50, strict=True):
            size.text(x, value, f"{value:.1f}", ha="center", va="bottom", fontsize=8)
    size.set_xticks(range(len(groups)), [label for _, label in groups])
    size.set_ylabel("p50 latency, ms (1 connection)")
    size.set_title("lookup latency against table size")
    size.legend()
    names = ["raw executemany (floor)", "POST /api/v1/events"]
    values = [ingest["raw_events_per_s"], ingest["api_events_per_s"]]
    ingest_ax.barh(names, values, color=[grey, blue])
    for y, value in enumerate(values):
        ingest_ax.text(value, y, f" {value:,.0f}", va="center", fontsize=8)
    ingest_ax.set_xlabel("events per second, batches of 500")
    ingest_ax.set_title("bulk ingest")
    ingest_ax.invert_yaxis()
    ingest_ax.margins(x=0.2)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def replace_section(path: Path, name: str, body: str) -> None:
    """Rewrite the ``name`` section of a markdown file, keeping the others."""
    start, end = f"<!-- section:{name} -->", f"<!-- /section:{name} -->"
    text = path.read_text() if path.exists() else "# Performance\n"
    block = f"{start}\n{body}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
