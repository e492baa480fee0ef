"""Child processes of the lab: free ports, the app's environment, manage.py, gunicorn, CPU time.

Everything listens on 127.0.0.1, on ports the kernel hands out (``free_port``), so that runs
and the test suite's own servers never meet.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

from deploy.local.lab import REPO

PYTHON = str(REPO / ".venv" / "bin" / "python")
GUNICORN = str(REPO / ".venv" / "bin" / "gunicorn")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment_without(*prefixes: str) -> dict[str, str]:
    """Return this process's environment without the variables whose names start with ``prefixes``.

    The lab's servers get their settings from the script, not from whatever the shell (or the
    test suite's cluster) exported.
    """
    return {name: value for name, value in os.environ.items() if not name.startswith(prefixes)}


def manage(
    env: dict[str, str],
    *args: str,
    python: str = sys.executable,
    capture_stderr: bool = True,
    check: bool = True,
    timeout: float | None = None,
) -> subprocess.CompletedProcess:
    """Run ``manage.py ARGS`` in the repository with ``env``; return it with its output as text."""
    return subprocess.run(
        [python, "manage.py", *args],
        cwd=REPO,
        env=env,
        check=check,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if capture_stderr else None,
        timeout=timeout,
    )


def partner_token(output: str) -> str:
    """Return the API token in what ``manage.py create_partner`` printed (the key alone on its line)."""
    keys = [line.strip() for line in output.splitlines() if re.fullmatch(r"\s*[A-Za-z0-9_\-.~+/=]{20,}\s*", line)]
    if len(keys) != 1:
        raise RuntimeError(f"cannot find the token in create_partner's output: {output!r}")
    return keys[0]


def children(pid: int) -> list[str]:
    """Return the pids of a process's children (gunicorn's workers)."""
    return subprocess.run(["pgrep", "-P", str(pid)], text=True, capture_output=True).stdout.split()


def cpu_seconds(pids: list[str]) -> float:
    """Return the CPU time (user + system) the processes ``pids`` have used so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


class Server:
    """An HTTP server started as a child (gunicorn), ready once it answers /healthz with 200.

    Its output goes to ``log``. ``group``: the server gets a session of its own and is stopped as
    a process group (master and workers at once).
    """

    def __init__(self, command: list[str], *, env: dict[str, str], port: int, log: IO, group: bool = False) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.group = group
        self.process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=group
        )

    def wait_healthy(self, timeout: float = 60, interval: float = 0.2) -> bool:
        """Wait until /healthz answers 200; return False if the server exits or ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(interval)
        return False

    def terminate(self) -> None:
        """Ask the server to stop (SIGTERM), without waiting."""
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)

    def wait_stopped(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for the server to exit, then kill it."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 30) -> None:
        """Stop the server: SIGTERM, and SIGKILL if it is still there after ``timeout`` s."""
        self.terminate()
        self.wait_stopped(timeout)

    def cpu_seconds(self) -> float:
        """Return the CPU time the server's master and workers have used so far."""
        return cpu_seconds([str(self.process.pid), *children(self.process.pid)])

    def _signal(self, signum: int) -> None:
        if self.group:
            os.killpg(self.process.pid, signum)
        else:
            self.process.send_signal(signum)
