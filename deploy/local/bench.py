#!/usr/bin/env python3
"""`make bench`: measure Phoenix against the floor the framework and the database set.

One run, side by side, so that the ratios hold on a noisy machine:

1. start a throw-away MariaDB writer + replica (deploy/local/cluster.sh), migrate, seed 10,000
   shipments and measure lookup latency; seed up to BENCH_SCALE shipments (1,000,000 by
   default) and measure it again;
2. start the app under the production gunicorn config (deploy/gunicorn.conf.py) and load it
   with wrk from a second process: the floor (a fixed body through the same middleware), the
   tracking page, the 25-number lookup, the tracking API; the same tracking page with
   Phoenix's router, with django-multidb-router and with a single database;
3. bulk event ingest through the API beside the raw executemany floor;
4. write the figures into docs/performance.md (section "bench") and a PNG plot.

Environment: BENCH_SCALE (shipments, default 1000000), BENCH_SECONDS (per wrk run, default
10), BENCH_CONNECTIONS (default 16), BENCH_OUTPUT (markdown file, default docs/performance.md).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
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
    unit: str = "req/s"
    notes: dict = field(default_factory=dict)


class Cluster:
    """The local writer + replica, started and stopped by deploy/local/cluster.sh."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="phoenix-bench-cluster.")
        subprocess.run(
            [str(ROOT / "deploy/local/cluster.sh"), "start", self.dir], check=True, stdout=subprocess.DEVNULL
        )
        self.env = dict(line.split("=", 1) for line in Path(self.dir, "env").read_text().split())

    def stop(self) -> None:
        subprocess.run([str(ROOT / "deploy/local/cluster.sh"), "stop", self.dir], check=False)

    def query(self, sql: str) -> list[tuple]:
        import MySQLdb

        connection = MySQLdb.connect(unix_socket=self.env["PHOENIX_WRITER_SOCKET"], user="root", database="phoenix")
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall())
        finally:
            connection.close()


def app_env(cluster: Cluster, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "PHOENIX_", "GUNICORN_"))}
    env.update(
        DATABASE_URL=cluster.env["DATABASE_URL"],
        DATABASE_READER_URL=cluster.env["DATABASE_READER_URL"],
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
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_WORKERS": os.environ.get("BENCH_WORKERS", "2"),
            "GUNICORN_THREADS": os.environ.get("BENCH_THREADS", "4"),
            "FORWARDED_ALLOW_IPS": "127.0.0.1",
            # A worker recycled mid-run would re-import Django inside a measurement.
            "GUNICORN_MAX_REQUESTS": "0",
        }
        self.process = subprocess.Popen(
            [GUNICORN, "-c", str(ROOT / "deploy/gunicorn.conf.py")],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
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

    def get(self, path: str) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path, headers={"X-Forwarded-Proto": "https"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


def wrk(name: str, base_url: str, paths: list[str], *, seconds: int, connections: int) -> Result:
    """Run wrk against ``paths`` in turn and return its figures."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp, "rotate.lua")
        script.write_text(ROTATE_LUA)
        paths_file = Path(tmp, "paths.txt")
        paths_file.write_text("\n".join(paths) + "\n")
        output = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
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
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", output, re.MULTILINE))
    result = Result(name, rps, _ms(latency["50"]), _ms(latency["99"]), requests, errors)
    log(f"{name}: {rps:,.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, errors {errors}")
    return result


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def sample_numbers(cluster: Cluster, count: int) -> list[str]:
    """Return ``count`` tracking numbers spread over the whole table (by id stride)."""
    (max_id,) = cluster.query("SELECT MAX(id) FROM tracking_shipment")[0]
    stride = max(1, max_id // count)
    rows = cluster.query(f"SELECT tracking_number FROM tracking_shipment WHERE id % {stride} = 0 LIMIT {count}")
    return [row[0] for row in rows]


def wait_for_replica(cluster: Cluster) -> None:
    """Wait until the replica has applied everything the writer wrote (seeding is bulk)."""
    import MySQLdb

    (gtid,) = cluster.query("SELECT @@gtid_binlog_pos")[0]
    replica = MySQLdb.connect(unix_socket=cluster.env["PHOENIX_REPLICA_SOCKET"], user="root")
    try:
        with replica.cursor() as cursor:
            cursor.execute("SELECT MASTER_GTID_WAIT(%s, 600)", [gtid])
            cursor.fetchall()
    finally:
        replica.close()


def main() -> int:
    scale = int(os.environ.get("BENCH_SCALE", "1000000"))
    seconds = int(os.environ.get("BENCH_SECONDS", "10"))
    connections = int(os.environ.get("BENCH_CONNECTIONS", "16"))
    output = Path(os.environ.get("BENCH_OUTPUT", ROOT / "docs" / "performance.md"))
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: run `deploy/local/bootstrap.sh test` (apt-get install wrk)")
    started = time.monotonic()
    cluster = Cluster()
    apps: list[App] = []
    results: dict[str, Result] = {}
    try:
        env = app_env(cluster)
        manage(env, "migrate", "--no-input", "-v0")
        small = min(SMALL_SCALE, scale)
        log(f"seeding {small:,} shipments")
        manage(env, "seed_demo", "--shipments", str(small), "--seed", "1", "--quiet", quiet=True)
        wait_for_replica(cluster)

        def lookup_latency(label: str) -> Result:
            app = App(env)
            apps.append(app)
            try:
                numbers = sample_numbers(cluster, 2000)
                return wrk(label, app.url, [f"/track/{n}/" for n in numbers], seconds=seconds, connections=1)
            finally:
                app.stop()

        results["lookup_small"] = lookup_latency(f"tracking page, 1 connection, {small:,} shipments")
        if scale > small:
            log(f"seeding up to {scale:,} shipments (about 2,000 per second)")
            manage(env, "seed_demo", "--shipments", str(scale - small), "--seed", "2", "--quiet", quiet=True)
            wait_for_replica(cluster)
        results["lookup_large"] = lookup_latency(f"tracking page, 1 connection, {scale:,} shipments")

        numbers = sample_numbers(cluster, 5000)
        detail_paths = [f"/track/{n}/" for n in numbers]
        lookup_paths = ["/track/?numbers=" + ",".join(numbers[i : i + 25]) for i in range(0, len(numbers) - 25, 25)]
        api_paths = [f"/api/v1/tracking/{n}" for n in numbers]
        for router in ("phoenix", "multidb", "single"):
            extra = {"PHOENIX_ROUTER": router}
            if router == "single":
                extra["DATABASE_READER_URL"] = ""
            app = App(app_env(cluster, **extra))
            apps.append(app)
            try:
                status, _ = app.get(detail_paths[0])
                if status != 200:
                    raise RuntimeError(f"tracking page answered {status} under router {router}")
                if router == "phoenix":
                    results["floor"] = wrk("floor", app.url, ["/bench/floor"], seconds=seconds, connections=connections)
                    results["lookup25"] = wrk(
                        "25-number lookup", app.url, lookup_paths, seconds=seconds, connections=connections
                    )
                    results["api"] = wrk(
                        "tracking API, one number", app.url, api_paths, seconds=seconds, connections=connections
                    )
                results[f"detail_{router}"] = wrk(
                    f"tracking page ({router} router)", app.url, detail_paths, seconds=seconds, connections=connections
                )
            finally:
                app.stop()
        ingest = ingest_figures(cluster, env)
    finally:
        for app in apps:
            app.stop()
        cluster.stop()
    elapsed = time.monotonic() - started
    write_report(output, results, ingest, scale=scale, seconds=seconds, connections=connections, elapsed=elapsed)
    return 0


def ingest_figures(cluster: Cluster, env: dict[str, str]) -> dict:
    """Return events/s through the API (batches of 500) and through raw executemany."""
    bench_ingest = ROOT / "deploy" / "local" / "bench_ingest.py"
    if not bench_ingest.exists():
        return {}
    result = subprocess.run(
        [PYTHON, str(bench_ingest), "--json", "--batches", os.environ.get("BENCH_INGEST_BATCHES", "20")],
        cwd=ROOT,
        env={**env, "PHOENIX_BENCH_CLUSTER_DIR": cluster.dir},
        check=True,
        text=True,
        stdout=subprocess.PIPE,
    )
    return json.loads(result.stdout)


def write_report(output: Path, results: dict[str, Result], ingest: dict, **run) -> None:
    floor = results["floor"].rps
    single = results["detail_single"].rps
    rows = [
        ("floor: fixed body through the same middleware", results["floor"], 1.0),
        ("tracking page (`/track/<n>/`)", results["detail_phoenix"], results["detail_phoenix"].rps / floor),
        ("25-number lookup (`/track/?numbers=`)", results["lookup25"], results["lookup25"].rps / floor),
        ("tracking API, one number", results["api"], results["api"].rps / floor),
        ("tracking page, Phoenix router", results["detail_phoenix"], results["detail_phoenix"].rps / single),
        ("tracking page, django-multidb-router", results["detail_multidb"], results["detail_multidb"].rps / single),
        ("tracking page, single database", results["detail_single"], 1.0),
    ]
    small, large = results["lookup_small"], results["lookup_large"]
    targets = [
        ("tracking page >= 0.6 x floor", results["detail_phoenix"].rps / floor, 0.6, ">="),
        ("Phoenix router >= 0.97 x single database", results["detail_phoenix"].rps / single, 0.97, ">="),
        (
            "Phoenix router >= django-multidb-router",
            results["detail_phoenix"].rps / results["detail_multidb"].rps,
            1.0,
            ">=",
        ),
        ("lookup p50 at full scale <= 1.2 x at 10,000", large.p50_ms / small.p50_ms, 1.2, "<="),
    ]
    if ingest:
        targets.append(
            ("ingest >= 0.1 x raw executemany", ingest["api_events_per_s"] / ingest["raw_events_per_s"], 0.1, ">=")
        )
    lines = [
        f"Measured by `make bench` (BENCH_SCALE={run['scale']:,}) on {os.cpu_count()} cores, "
        f"{_memory_gib():.0f} GiB, {platform.python_implementation()} {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}; wrk with {run['connections']} connections for {run['seconds']} s per row, "
        f"gunicorn under deploy/gunicorn.conf.py, the local MariaDB writer + replica. "
        f"The whole run took {run['elapsed'] / 60:.1f} minutes.",
        "",
        "| scenario | req/s | p50 ms | p99 ms | errors | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, result, ratio in rows:
        lines.append(
            f"| {label} | {result.rps:,.0f} | {result.p50_ms:.1f} | {result.p99_ms:.1f} | {result.errors} | {ratio:.2f} |"
        )
    lines += [
        "",
        "Ratios: pages against the floor; router rows against the single database.",
        "",
        "| lookup latency, 1 connection | shipments | req/s | p50 ms | p99 ms |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| small | {SMALL_SCALE:,} | {small.rps:,.0f} | {small.p50_ms:.2f} | {small.p99_ms:.2f} |",
        f"| full | {run['scale']:,} | {large.rps:,.0f} | {large.p50_ms:.2f} | {large.p99_ms:.2f} |",
    ]
    if ingest:
        lines += [
            "",
            "| ingest | events/s |",
            "| --- | ---: |",
            f"| raw `executemany` through mysqlclient (floor) | {ingest['raw_events_per_s']:,.0f} |",
            f"| `POST /api/v1/events`, batches of 500 | {ingest['api_events_per_s']:,.0f} |",
        ]
    lines += ["", "| target | measured | met |", "| --- | ---: | --- |"]
    for label, value, threshold, op in targets:
        met = value >= threshold if op == ">=" else value <= threshold
        lines.append(f"| {label} | {value:.2f} | {'yes' if met else '**no**'} |")
    plot = output.parent / "performance.png"
    if _plot(plot, rows):
        lines += ["", f"![throughput and latency per scenario]({plot.name})"]
    replace_section(output, "bench", "\n".join(lines))
    log(f"wrote {output}")


def _memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def _plot(path: Path, rows: list[tuple[str, Result, float]]) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed; no plot")
        return False
    labels = [label.split(" (")[0] for label, _, _ in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    left.barh(labels, [r.rps for _, r, _ in rows], color="#1f5fa8")
    left.set_xlabel("requests per second")
    left.invert_yaxis()
    right.barh(labels, [r.p50_ms for _, r, _ in rows], color="#1f5fa8", label="p50")
    right.barh(
        labels,
        [r.p99_ms - r.p50_ms for _, r, _ in rows],
        left=[r.p50_ms for _, r, _ in rows],
        color="#f0a030",
        label="p99",
    )
    right.set_xlabel("latency, ms")
    right.invert_yaxis()
    right.set_yticklabels([])
    right.legend()
    fig.savefig(path, dpi=90)
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
