"""The drills' HA stack: deploy/local/stack.sh in a directory of its own, and what its instances logged."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path

from deploy.local.lab import LOCAL, logs, servers
from deploy.local.lab.processes import environment_without
from deploy.local.lab.processes import manage as run_manage
from deploy.local.lab.servers import read_env

STACK = LOCAL / "stack.sh"
FAILOVER = LOCAL / "failover.sh"


class Stack:
    """A running stack started by stack.sh in a directory of its own."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.env = {}

    def start(self, *, shipments: int) -> None:
        """Start the stack with ``shipments`` seeded and the per-IP budgets lifted; read its env files."""
        environment = environment_without("DATABASE_URL", "DATABASE_READER_URL")  # the test suite's, not ours
        environment["PHOENIX_STACK_SHIPMENTS"] = str(shipments)
        # One load generator on one address stands for thousands of customers.
        # (as if the WAF allow-listed it): lift the per-IP budgets, keep everything else.
        environment["PHOENIX_STACK_EXTRA_ENV"] = " ".join(
            [
                "PHOENIX_LOOKUP_BUDGET=100000000",
                "PHOENIX_API_RATE_IP=1000000/minute",
                "PHOENIX_API_RATE_PARTNER=1000000/minute",
                # The drills measure the database paths: a page served from the page cache
                # would hide a failover from the figures.
                "PHOENIX_PAGE_CACHE_SECONDS=0",
            ]
        )
        subprocess.run([str(STACK), "start", str(self.dir)], check=True, env=environment, stdout=subprocess.DEVNULL)
        self.env = read_env(self.dir / "stack.env") | read_env(self.dir / "app.env")
        self.env |= read_env(self.dir / "credentials")
        self.url = f"127.0.0.1:{self.env['PHOENIX_ALB_PORT']}"

    def stop(self) -> None:
        """Stop everything the stack runs."""
        subprocess.run([str(STACK), "stop", str(self.dir)], check=False)

    def sh(self, *args: str) -> str:
        """Run ``stack.sh ARGS DIR`` (node-stop, app-kill, status, ...); return its output."""
        result = subprocess.run(
            [str(STACK), *args, str(self.dir)], check=True, capture_output=True, text=True, timeout=120
        )
        return result.stdout

    def failover(self) -> tuple[float, float]:
        """Fail over; return the epoch times at which it started (fencing) and the endpoint moved."""
        output = subprocess.run(
            [str(FAILOVER), str(self.dir)], check=True, capture_output=True, text=True, timeout=120
        ).stdout
        return (
            float(re.search(r"started_at=([0-9.]+)", output).group(1)),
            float(re.search(r"moved_at=([0-9.]+)", output).group(1)),
        )

    def haproxy(self, command: str) -> str:
        """Send one command (or several, joined by ';') to HAProxy's admin socket; return its answer."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(str(self.dir / "haproxy.sock"))
            sock.sendall(command.encode() + b"\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        return answer.decode()

    def roles(self) -> tuple[str, str]:
        """Return the nodes that are the writer and the reader now (failovers swap them)."""
        roles = read_env(self.dir / "roles")
        return roles["PHOENIX_WRITER_NODE"], roles["PHOENIX_READER_NODE"]

    def socket(self, node: str) -> str:
        """Return the unix socket of a database node (db1, db2)."""
        return self.env[f"PHOENIX_{node.upper()}_SOCKET"]

    def sql(self, node: str, statement: str, args=None) -> list[tuple]:
        """Run one statement as root on a node; a node that is down fails within 3 s."""
        return servers.sql(self.socket(node), statement, args, autocommit=True, connect_timeout=3)

    def manage(self, *args: str) -> str:
        """Run a management command with the stack's app settings; return its output."""
        environment = environment_without("DATABASE_URL", "DATABASE_READER_URL") | read_env(self.dir / "app.env")
        return run_manage(environment, *args, timeout=120).stdout

    def wait_replica_caught_up(self, timeout: float = 60.0) -> bool:
        """Wait until the reader has applied all the writer wrote; return whether it did in time."""
        writer, reader = self.roles()
        return servers.replica_caught_up(
            self.socket(writer), self.socket(reader), timeout, autocommit=True, connect_timeout=3
        )

    def wait_alb_servers_up(self, timeout: float = 30.0) -> None:
        """Wait until the ALB sees both app instances up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = self.sh("status")
            if re.search(r"app\s+az-a\s+UP", states) and re.search(r"app\s+az-b\s+UP", states):
                return
            time.sleep(0.5)
        raise RuntimeError("the ALB does not see both instances up again")


APP_LOG_LEVELS = ("WARNING", "ERROR", "CRITICAL")


def app_log_offsets(stack: Stack) -> dict[Path, int]:
    """Return where both instances' logs end now (what a drill logs comes after)."""
    return logs.offsets([stack.dir / name / "gunicorn.log" for name in ("az-a", "az-b")])


def app_log_problems(offsets: dict[Path, int]) -> dict[str, int]:
    """Return the warnings and errors both instances logged since ``offsets``, counted."""
    problems: dict[str, int] = {}
    for log, offset in offsets.items():
        for line in logs.read_since(log, offset).splitlines():
            summary = ""
            if line.startswith("{"):
                entry = logs.record(line)
                if entry is None or entry.get("level") not in APP_LOG_LEVELS:
                    continue
                summary = f"{entry.get('level')} {entry.get('logger')}: {entry.get('message', '')}"
                if entry.get("exc_info"):
                    summary += " | " + entry["exc_info"].strip().splitlines()[-1]
            elif any(f"[{level}]" in line for level in APP_LOG_LEVELS):
                summary = re.sub(r"^\[[^]]*\] \[\d+\] ", "", line)
            if summary:
                summary = re.sub(r"drill-[0-9a-f]{32}|QP\d{12}|\b\d{5,}\b", "…", summary)[:300]
                problems[summary] = problems.get(summary, 0) + 1
    return problems
