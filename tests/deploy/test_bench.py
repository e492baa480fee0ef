"""`make bench` at a tiny scale: the harness runs end to end and cleans up. Nothing about speed."""

import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.cluster


def _processes_with(marker: str) -> list[str]:
    """Return the command lines of live processes whose command line or environment has ``marker``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if marker.encode() in cmdline or marker.encode() in environ:
            found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


@pytest.fixture
def short_tmp():
    """Return a short temporary directory: MariaDB's socket path must stay under 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="pb.", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_it_writes_every_row_of_the_report_and_leaves_nothing_running(tmp_path, short_tmp):
    marker = f"phoenix-bench-test-{secrets.token_hex(4)}"
    output = tmp_path / "performance.md"
    output.write_text("# Performance\n\n<!-- section:other -->\nkept\n<!-- /section:other -->\n")
    env = {
        **os.environ,
        "BENCH_SCALE": "300",
        "BENCH_SMALL_SCALE": "150",
        "BENCH_SECONDS": "1",
        "BENCH_CONNECTIONS": "4",
        "BENCH_INGEST_BATCHES": "2",
        "BENCH_SEED_WORKERS": "2",
        "BENCH_BUFFER_POOL": "128M",
        "BENCH_OUTPUT": str(output),
        "PHOENIX_BENCH_RUN": marker,
        # Every temporary file and the throw-away cluster's data live under short_tmp.
        "TMPDIR": str(short_tmp),
    }
    result = subprocess.run(
        [sys.executable, "deploy/local/bench.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]

    report = output.read_text()
    assert "<!-- section:other -->\nkept\n<!-- /section:other -->" in report
    section = report[report.index("<!-- section:bench -->") : report.index("<!-- /section:bench -->")]
    for row in (
        "floor: fixed body, same middleware",
        "tracking page /track/<n>/, 5,000 numbers, every request rendered",
        "25-number lookup /track/?numbers=",
        "tracking API /api/v1/tracking/<n>",
        "tracking page, Phoenix router",
        "tracking page, django-multidb-router",
        "tracking page, single database",
        "raw `executemany` + commit through mysqlclient (floor)",
        "`POST /api/v1/events` through gunicorn",
    ):
        assert re.search(rf"^\| {re.escape(row)} \| [\d,]+ \|", section, re.MULTILINE), row
    # Every load row has its CPU per request (app and database servers), a number.
    for line in section.splitlines():
        if line.startswith("| floor: ") or line.startswith("| tracking page /track/"):
            assert re.fullmatch(r"[\d.]+", line.split(" | ")[5]), line
    assert re.search(
        r"^\| tracking page, repeat visits to 200 numbers \(page cache, \d+% hits\) \| [\d,]+ \|", section, re.M
    )
    for label in ("tracking page", "25-number lookup"):
        for shipments in ("150", "300"):
            assert re.search(rf"^\| {label} \| {shipments} \| [\d,]+ \|", section, re.MULTILINE), (label, shipments)
    assert section.count("| yes |") + section.count("| **no** |") == 7
    assert "Command: `make bench BENCH_SCALE=300`" in section
    assert (tmp_path / "performance.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert _processes_with(marker) == []  # gunicorn (the four apps, and the ingest run)
    assert _processes_with(str(short_tmp)) == []  # the writer and replica (their data directories)
    assert list(short_tmp.iterdir()) == []  # the cluster's data, wrk's scripts, gunicorn's logs
