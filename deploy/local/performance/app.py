"""The app under `make bench`: gunicorn under the production config on the bench cluster."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

from deploy.local.lab import REPO
from deploy.local.lab.load import request
from deploy.local.lab.processes import GUNICORN, PYTHON, Server, environment_without, free_port
from deploy.local.lab.processes import manage as run_manage
from deploy.local.lab.servers import Cluster
from deploy.local.performance import log


def app_env(cluster: Cluster, database: str = "phoenix", **extra: str) -> dict[str, str]:
    """Return the app's environment: production settings on the bench cluster's ``database``."""
    env = environment_without("DJANGO_", "DATABASE_", "PHOENIX_", "GUNICORN_")
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
        # wrk's connections may all land on one worker: the bulkheads and the queue bound
        # would shed some (a 503 is no measure of cost). Shedding is measured by make drills.
        PHOENIX_LANE_THREADS_PUBLIC="0",
        PHOENIX_LANE_THREADS_API="0",
        PHOENIX_MAX_QUEUE_MS="0",
    )
    env.update(extra)
    return env


def _with_database(url: str, database: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + database


def manage(env: dict[str, str], *args: str, quiet: bool = False) -> str:
    """Run a management command with the venv's Python; return its output (echoed unless ``quiet``)."""
    output = run_manage(env, *args, python=PYTHON, capture_stderr=False).stdout
    if not quiet:
        sys.stderr.write(output)
    return output


class App(Server):
    """gunicorn under the production config, on a free port."""

    def __init__(self, env: dict[str, str]) -> None:
        port = free_port()
        env = {
            **env,
            # Marks the processes of this run, so that a test can tell none is left behind.
            "PHOENIX_BENCH_RUN": os.environ.get("PHOENIX_BENCH_RUN", "1"),
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": os.environ.get("BENCH_WORKERS", "2"),
            "GUNICORN_THREADS": os.environ.get("BENCH_THREADS", "4"),
            "FORWARDED_ALLOW_IPS": "127.0.0.1",
            # A worker recycled mid-run would re-import Django inside a measurement.
            "GUNICORN_MAX_REQUESTS": "0",
        }
        # The access log (production writes it to stdout) and errors go to a file: a run with
        # errors reports which statuses they were.
        self.log = tempfile.NamedTemporaryFile(prefix="phoenix-bench-gunicorn.", suffix=".log", delete=False)  # noqa: SIM115 (closed in stop())
        command = [GUNICORN, "-c", str(REPO / "deploy/gunicorn.conf.py")]
        super().__init__(command, env=env, port=port, log=self.log, group=True)
        if not self.wait_healthy(timeout=60):
            self.stop()
            raise RuntimeError("gunicorn did not answer /healthz within 60 s")

    def stop(self) -> None:
        """Stop gunicorn; keep its log (and say so) when it answered any error status."""
        super().stop(timeout=40)
        if not self.log.closed:
            self.log.close()
            statuses = Counter(re.findall(rb'"status":(\d+)', Path(self.log.name).read_bytes()))
            failures = {int(code): n for code, n in statuses.items() if not code.startswith((b"2", b"3"))}
            if failures:
                log(f"gunicorn on port {self.port} answered {failures} (status: count); log kept in {self.log.name}")
            else:
                os.unlink(self.log.name)

    def get(self, path: str) -> tuple[int, str]:
        """Send a GET as through the ALB (X-Forwarded-Proto: https); return (status, body)."""
        status, _headers, body = request(
            f"127.0.0.1:{self.port}", "GET", path, headers={"X-Forwarded-Proto": "https"}, timeout=10
        )
        return status, body
