"""The maintenance switch reaches a running server without a restart.

A real gunicorn with two worker processes serves a scratch database on the test cluster's
writer; `manage.py maintenance on|off` runs in another process, as an operator would run it.
"""

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import clone_database, database_url
from tracking import numbers

# Two well-formed numbers nobody shipped: the results page, read-only (one malformed number
# is a 400 form error).
UNKNOWN_NUMBERS = f"{numbers.from_body(1)},{numbers.from_body(2)}"

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[3]
MESSAGE = "Moving to the new cluster, back in five minutes."
# Each worker process keeps its last read of the switch this long.
CACHE_SECONDS = 1


@pytest.fixture
def gunicorn_server(migrated_database, writer_root):
    name = f"phoenix_live_{secrets.token_hex(4)}"
    cursor = writer_root.cursor()
    clone_database(cursor, migrated_database, name)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_READER_URL"}
    env.update(
        DATABASE_URL=database_url(name),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        PHOENIX_MAINTENANCE_CACHE_SECONDS=str(CACHE_SECONDS),
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "phoenix.wsgi:application", "--bind", f"127.0.0.1:{port}"]
        + ["--workers", "2", "--threads", "2", "--log-level", "warning"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until(lambda: _request(base, "GET", "/")[0] == 200, "the server to start")
        yield base, env, server
    finally:
        server.terminate()
        server.wait(timeout=30)
        cursor.execute(f"DROP DATABASE {name}")


def _request(base: str, method: str, path: str) -> tuple[int, dict, str]:
    data = b'{"events": []}' if method != "GET" else None
    request = urllib.request.Request(base + path, method=method, data=data)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()
    except OSError:
        return 0, {}, ""


def _wait_until(condition, what: str, limit: float = 60.0) -> None:
    """Poll ``condition`` until it holds; the limit only ends a hung test, it measures nothing."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


def _all_writes(base: str, status_is, switched_at: float) -> bool:
    """Return True when every worker process must have read the switch anew and ten writes agree.

    Ten requests in a row need not reach both workers (the kernel picks who accepts), so
    the writes alone prove nothing about the other process; what does is time: once
    CACHE_SECONDS have passed since the switch, every process's cached read has expired and
    its next request reads the row.
    """
    if time.monotonic() < switched_at + CACHE_SECONDS + 0.5:
        return False
    return all(status_is(_request(base, "POST", "/api/v1/events")[0]) for _ in range(10))


def _manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    return result.stdout


def test_it_freezes_and_thaws_writes_on_a_running_server(gunicorn_server):
    base, env, server = gunicorn_server
    assert _request(base, "POST", "/api/v1/events")[0] != 503

    assert "Maintenance is ON" in _manage(env, "maintenance", "on", "--message", MESSAGE)
    switched_at = time.monotonic()
    _wait_until(lambda: _all_writes(base, lambda status: status == 503, switched_at), "writes to be refused")

    status, headers, body = _request(base, "POST", "/api/v1/events")
    assert status == 503 and headers["Retry-After"] == "120"
    assert '"code": "maintenance"' in body and MESSAGE in body
    status, headers, body = _request(base, "POST", "/track/")
    assert status == 503 and headers["Content-Type"].startswith("text/html") and MESSAGE in body
    assert _request(base, "GET", "/")[0] == 200
    assert _request(base, "GET", f"/track/?numbers={UNKNOWN_NUMBERS}")[0] == 200

    _manage(env, "maintenance", "off")
    switched_at = time.monotonic()
    _wait_until(lambda: _all_writes(base, lambda status: status != 503, switched_at), "writes to be accepted again")
    assert server.poll() is None  # the same server throughout: no restart
