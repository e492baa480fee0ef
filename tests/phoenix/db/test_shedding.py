"""Bulkheads and load shedding on real gunicorn (deploy/gunicorn.conf.py's worker).

Requests that keep their thread as long as the test wants: ``/_live/hold`` waits for a named
lock that a root session holds on the writer (``GET_LOCK``), so which thread is busy is decided
by the test, never by timing.
"""

import contextlib
import http.client
import json
import os
import secrets
import sys
import threading
import time
from pathlib import Path

import MySQLdb
import pytest

from deploy.local.lab.processes import Server
from tests.live import ROOT, LiveApp, free_port

pytestmark = pytest.mark.cluster

WAIT = 60  # seconds: only ends a hung test


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app = LiveApp.start(tmp_path_factory.mktemp("shedding"), extra_env={"PHOENIX_MAX_REPLICA_LAG": "0"})
    yield app
    app.stop()


@pytest.fixture(scope="module")
def number(app):
    return app.seed(1)[0]


@contextlib.contextmanager
def gunicorn(app: LiveApp, tmp_path: Path, threads: int, **env: str):
    """The production config, one worker with ``threads`` threads, on the live app's database."""
    port = free_port()
    environment = {
        **app.env,
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": str(threads),
        "GUNICORN_TIMEOUT": "90",
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
        **env,
    }
    command = [
        sys.executable, "-m", "gunicorn", "--config", str(Path(ROOT) / "deploy" / "gunicorn.conf.py"),
        "--bind", f"127.0.0.1:{port}",
    ]  # fmt: skip
    with (tmp_path / "gunicorn.log").open("wb") as log:
        server = Server(command, env=environment, port=port, log=log)
    try:
        assert server.wait_healthy(timeout=WAIT), (tmp_path / "gunicorn.log").read_text()[-2000:]
        yield f"127.0.0.1:{port}"
    finally:
        server.stop()


@contextlib.contextmanager
def lock_held(name: str):
    """Hold the named lock on the writer as root; released on the way out."""
    connection = MySQLdb.connect(unix_socket=os.environ["PHOENIX_WRITER_SOCKET"], user="root", autocommit=True)
    try:
        connection.cursor().execute("SELECT GET_LOCK(%s, 5)", [name])
        yield
    finally:
        with contextlib.suppress(MySQLdb.Error):
            connection.cursor().execute("SELECT RELEASE_LOCK(%s)", [name])
        connection.close()


def _waiting_on(app: LiveApp, name: str) -> int:
    """How many application sessions wait for the named lock now."""
    rows = app.writer_sql(
        "SELECT COUNT(*) FROM information_schema.processlist WHERE user = 'phoenix' AND info LIKE %s",
        [f"SELECT GET_LOCK('{name}'%"],
    )
    return rows[0][0]


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def _get(host: str, path: str, timeout: float = WAIT, headers: dict | None = None):
    """(status, headers, body) of one GET on a fresh connection; (0, {}, reason) without an answer."""
    connection = http.client.HTTPConnection(host, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode("utf-8", "replace")
    except OSError as exc:
        return 0, {}, repr(exc)
    finally:
        connection.close()


def _in_background(function) -> tuple[threading.Thread, list]:
    answers: list = []
    thread = threading.Thread(target=lambda: answers.append(function()), daemon=True)
    thread.start()
    return thread, answers


def test_a_flood_of_page_views_leaves_a_thread_for_the_partner_api(app, number, tmp_path):
    """Three threads; public pages may hold two (PHOENIX_LANE_THREADS_PUBLIC's default: threads - 1)."""
    name = f"hold-{secrets.token_hex(4)}"
    key = next(
        line
        for line in app.manage("create_partner", f"Bulkhead {secrets.token_hex(3)}").stdout.splitlines()
        if line.startswith("phx_")
    )
    with gunicorn(app, tmp_path, threads=3, PHOENIX_MAX_QUEUED="-1") as host, lock_held(name):
        held = [_in_background(lambda: _get(host, f"/_live/hold?name={name}")) for _ in range(2)]
        _until(lambda: _waiting_on(app, name) == 2, "two page requests holding their threads")
        # A third public request: its lane is full, it is answered at once instead of taking
        # the last thread.
        status, headers, body = _get(host, f"/track/{number}/")
        assert status == 503, body[:300]
        assert headers["Retry-After"].isdigit()
        assert "<html" in body
        # The partner API still has its thread.
        status, _headers, body = _get(
            host, f"/api/v1/tracking/{number}", headers={"Authorization": f"Token {key}", "Accept": "application/json"}
        )
        assert status == 200, body[:300]
        assert json.loads(body)["tracking_number"] == number
    for thread, answers in held:
        thread.join(WAIT)
        assert answers and answers[0][0] == 200, answers


def test_past_its_room_a_lane_is_shed_by_the_worker_and_the_others_still_queue(app, number, tmp_path):
    """Two threads, PHOENIX_MAX_QUEUED=1: each lane may have 2 + 1 - 1 = 2 requests in the worker.
    With two public requests holding both threads, the next public request is shed by the
    worker's main loop at once; a partner API request is still taken and served; /healthz
    answers. (The Django-level bulkhead is off here: this is the worker's own bound.)"""
    name = f"hold-{secrets.token_hex(4)}"
    key = next(
        line
        for line in app.manage("create_partner", f"Edge {secrets.token_hex(3)}").stdout.splitlines()
        if line.startswith("phx_")
    )
    with (
        gunicorn(
            app,
            tmp_path,
            threads=2,
            PHOENIX_MAX_QUEUED="1",
            PHOENIX_LANE_THREADS_PUBLIC="0",
            PHOENIX_LANE_THREADS_API="0",
            PHOENIX_MAX_QUEUE_MS="0",
        ) as host,
        lock_held(name),
    ):
        held = [_in_background(lambda: _get(host, f"/_live/hold?name={name}")) for _ in range(2)]
        _until(lambda: _waiting_on(app, name) == 2, "both threads holding")
        status, headers, body = _get(host, f"/track/{number}/", timeout=10)
        assert status == 503, body[:300]
        assert headers["Retry-After"].isdigit()
        assert _get(host, "/healthz", timeout=10)[0] == 200
        api_thread, api = _in_background(
            lambda: _get(
                host,
                f"/api/v1/tracking/{number}",
                headers={"Authorization": f"Token {key}", "Accept": "application/json"},
            )
        )
    api_thread.join(WAIT)
    assert api and api[0][0] == 200, api  # its lane had room: served once a thread was free
    assert json.loads(api[0][2])["tracking_number"] == number
    for thread, answers in held:
        thread.join(WAIT)
        assert answers and answers[0][0] == 200, answers
