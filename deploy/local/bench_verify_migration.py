#!/usr/bin/env python3
"""Benchmark `manage.py verify_migration`: peak memory and wall time against table size.

For each size it builds a table of N rows in a source database and copies it to a target
database on the local MariaDB writer, changes one row, deletes one and adds one in the target,
runs verify_migration in a subprocess as a SELECT-only user and measures the subprocess's
peak RSS (wait4's ru_maxrss) and wall time. It checks that the three keys are named. The floor
is the smallest size: the interpreter, Django and mysqlclient; memory must not grow with size.
A second floor for time: one unchunked checksum query over the whole table on each side.

    deploy/local/bench_verify_migration.py                 # 1,000 / 100,000 / 1,000,000 rows
    deploy/local/bench_verify_migration.py --rows 500,2000 --output /tmp/perf.md

It uses the writer of the cluster named by PHOENIX_WRITER_SOCKET, or starts a throw-away one
with deploy/local/cluster.sh. Table building uses MariaDB's sequence engine (harness only).
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run by path: the deploy package sits at the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deploy.local.lab import REPO, servers
from deploy.local.lab.report import cores_and_memory, marked, write_marked

SECTION = "verify-migration"
TABLE = "bench_rows"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000,100000,1000000", help="comma-separated table sizes")
    parser.add_argument("--chunk-size", type=int, default=2000)
    parser.add_argument("--output", default=str(REPO / "docs" / "performance.md"), help="markdown file to update")
    args = parser.parse_args()
    sizes = [int(size) for size in args.rows.split(",")]
    if any(size < 100 for size in sizes):
        parser.error("--rows: every size must be at least 100")

    cluster = None
    socket = os.environ.get("PHOENIX_WRITER_SOCKET")
    if not socket:
        cluster = servers.Cluster("phoenix-bench-verify.")
        socket = cluster.writer_socket
    try:
        results = [measure(socket, size, args.chunk_size) for size in sizes]
    finally:
        if cluster:
            cluster.stop()
    write_marked(Path(args.output), SECTION, render(results, args))
    for line in render(results, args).splitlines():
        print(line)
    return 0


def measure(socket: str, size: int, chunk_size: int) -> dict:
    suffix = secrets.token_hex(4)
    source_db, target_db, user = f"bench_src_{suffix}", f"bench_tgt_{suffix}", f"bench_ro_{suffix}"
    password = secrets.token_hex(12)
    root = servers.root(socket, autocommit=True)
    cursor = root.cursor()
    try:
        cursor.execute("SELECT @@port")
        port = cursor.fetchone()[0]
        for db in (source_db, target_db):
            cursor.execute(f"CREATE DATABASE {db} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        cursor.execute(f"USE {source_db}")  # the sequence engine's seq_1_to_N lives in any database
        cursor.execute(
            f"CREATE TABLE {source_db}.{TABLE} (id BIGINT PRIMARY KEY, tracking_number CHAR(14) NOT NULL, "
            "name VARCHAR(150) NOT NULL, note VARCHAR(500) NULL, weight_grams INT NOT NULL, "
            "occurred_at DATETIME(6) NOT NULL)"
        )
        cursor.execute(
            f"INSERT INTO {source_db}.{TABLE} SELECT seq, CONCAT('QP', LPAD(seq, 12, '0')), "
            "CONCAT('Recipient ', seq), IF(seq % 7 = 0, NULL, CONCAT('note ', seq % 100)), seq % 30000, "
            f"TIMESTAMP('2026-01-01') + INTERVAL seq SECOND FROM seq_1_to_{size}"
        )
        cursor.execute(f"CREATE TABLE {target_db}.{TABLE} LIKE {source_db}.{TABLE}")
        cursor.execute(f"INSERT INTO {target_db}.{TABLE} SELECT * FROM {source_db}.{TABLE}")
        changed, missing, extra = size // 3, size // 2, size + 10
        cursor.execute(f"UPDATE {target_db}.{TABLE} SET name = 'changed' WHERE id = {changed}")
        cursor.execute(f"DELETE FROM {target_db}.{TABLE} WHERE id = {missing}")
        cursor.execute(f"INSERT INTO {target_db}.{TABLE} VALUES ({extra}, 'QP000000000000', 'extra', NULL, 1, NOW(6))")
        cursor.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
        for db in (source_db, target_db):
            cursor.execute(f"GRANT SELECT ON {db}.* TO '{user}'@'%'")

        floor_seconds = checksum_floor(socket, [source_db, target_db])
        with tempfile.TemporaryDirectory() as tmp:
            json_path = Path(tmp) / "report.json"
            command = [
                sys.executable,
                str(REPO / "manage.py"),
                "verify_migration",
                "--source",
                f"mysql://{user}:{password}@127.0.0.1:{port}/{source_db}",
                "--target",
                f"mysql://{user}:{password}@127.0.0.1:{port}/{target_db}",
                "--tables",
                TABLE,
                "--chunk-size",
                str(chunk_size),
                "--json",
                str(json_path),
            ]
            env = {**os.environ, "DJANGO_DEBUG": "1"}
            started = time.monotonic()
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.monotonic() - started
            process.returncode = os.waitstatus_to_exitcode(status)
            if process.returncode != 1:
                raise SystemExit(f"verify_migration exited {process.returncode} at {size:,} rows, expected 1")
            table = json.loads(json_path.read_text())["tables"][0]
        found = (table["changed"], table["missing_in_target"], table["extra_in_target"])
        if found != ([changed], [missing], [extra]):
            raise SystemExit(f"verify_migration named {found} at {size:,} rows, expected {changed}/{missing}/{extra}")
        return {
            "rows": size,
            "peak_rss_kib": usage.ru_maxrss,
            "seconds": seconds,
            "floor_seconds": floor_seconds,
            "chunks": table["chunks"],
        }
    finally:
        cursor.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        for db in (source_db, target_db):
            cursor.execute(f"DROP DATABASE IF EXISTS {db}")
        root.close()


def checksum_floor(socket: str, databases: list[str]) -> float:
    """Return the seconds one unchunked whole-table checksum takes on both sides together."""
    from tracking.cutover.verify import checksum_sql  # the repository root is on sys.path (see the imports)

    connection = servers.root(socket)
    cursor = connection.cursor()
    cursor.execute(
        "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
        "AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
        (databases[0], TABLE),
    )
    columns = [(name, kind.lower()) for name, kind in cursor.fetchall()]
    started = time.monotonic()
    for db in databases:
        cursor.execute(f"USE {db}")
        cursor.execute(checksum_sql(TABLE, columns, ""))
        cursor.fetchall()
    seconds = time.monotonic() - started
    connection.close()
    return seconds


def render(results: list[dict], args) -> str:
    """Return this benchmark's section of docs/performance.md, markers included."""
    floor = results[0]
    lines = [
        "## verify_migration: memory and time against table size",
        "",
        f"Machine: {cores_and_memory(whole=True)}; one local MariaDB server holds both",
        f"databases. Command: `deploy/local/bench_verify_migration.py --rows {args.rows}` (chunks of",
        f"{args.chunk_size:,} rows; the target has one changed, one missing and one extra row, all three named).",
        f"Floor for memory: the run at {floor['rows']:,} rows (interpreter, Django, mysqlclient). Floor for time:",
        "one unchunked whole-table checksum query on each side (the least work that reads every row);",
        "at the smallest size the start-up of the process (Django, connections) dominates the wall time.",
        "",
        "| rows | chunks | peak RSS | RSS / floor | wall time | time / time floor | rows/s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['rows']:,} | {r['chunks']:,} | {r['peak_rss_kib'] / 1024:.1f} MiB "
            f"| {r['peak_rss_kib'] / floor['peak_rss_kib']:.2f} | {r['seconds']:.1f} s "
            f"| {r['seconds'] / max(r['floor_seconds'], 1e-3):.1f} | {r['rows'] / r['seconds']:,.0f} |"
        )
    lines.append("")
    return marked(SECTION, "\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
