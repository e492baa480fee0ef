"""A silent, hung or full server costs a bounded wait, never every thread or a 500.

The servers are real (the writer and replica of the test cluster); silence is made by a small
forwarder in this module (``StallingProxy``): while it holds, it passes nothing the client
sends, as a hung server or a partition that drops packets looks to a connection that is open.
"""

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import MySQLdb
import pytest

from tests.live import APP_PASSWORD, ROOT, LiveApp, free_port

pytestmark = pytest.mark.cluster


class StallingProxy:
    """A TCP forwarder to ``target_port`` that can go silent.

    ``hold()`` makes every connection stop passing what the client sends (the server never
    sees the query; nothing comes back) until the hold ends, either when the ``with`` block
    ends or after ``seconds``; then what was held is delivered, as a hung server that recovers
    would answer. ``stalled`` counts the connections with something held (a query, an answer, a close).
    """

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._released = threading.Event()
        self._released.set()
        self._lock = threading.Lock()
        self._stalled: set[int] = set()
        self._sockets: set[socket.socket] = set()
        self._closing = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    @property
    def stalled(self) -> int:
        with self._lock:
            return len(self._stalled)

    @contextlib.contextmanager
    def hold(self, seconds: float | None = None):
        self._released.clear()
        timer = threading.Timer(seconds, self._released.set) if seconds else None
        if timer:
            timer.start()
        try:
            yield self
        finally:
            if timer:
                timer.cancel()
            self._released.set()

    def close(self) -> None:
        self._closing = True
        self._released.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _accept_loop(self) -> None:
        while not self._closing:
            try:
                client, _ = self.listener.accept()
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                if self._closing:
                    return
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets.update((client, server))
            threading.Thread(target=self._pump, args=(client, server, id(client)), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, id(client)), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, key: int) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not self._released.is_set():
                    # Silence both ways: the query never arrives, and neither an answer nor the
                    # server giving up on a stalled handshake (it closes) reaches the client.
                    with self._lock:
                        self._stalled.add(key)
                    self._released.wait()
                    with self._lock:
                        self._stalled.discard(key)
                if not data:
                    break
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._sockets.discard(source)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """An app of this module's own: these tests mark servers down, which no other test should see.

    The lag check is off here so that what decides where a read goes is the failure under test
    (tests/phoenix/db/test_replica_lag.py covers the lag).
    """
    app = LiveApp.start(tmp_path_factory.mktemp("silent"), extra_env={"PHOENIX_MAX_REPLICA_LAG": "0"})
    yield app
    app.stop()


@pytest.fixture(scope="module")
def number(app):
    return app.seed(1)[0]


@pytest.fixture
def proxy():
    proxy = StallingProxy(int(os.environ["PHOENIX_REPLICA_PORT"]))
    yield proxy
    proxy.close()


@contextlib.contextmanager
def reader_through(app: LiveApp, proxy: StallingProxy):
    """Send the app's reader connections through ``proxy`` (open ones are cut), back after."""
    replica_port = app.reader.target_port
    app.reader.down()
    app.reader.up(target_port=proxy.port)
    try:
        yield
    finally:
        app.reader.down()
        app.reader.up(target_port=replica_port)


def _why(app: LiveApp, path: str) -> list[set[str]]:
    """Return, per request to ``path`` in the app's log, why the writer served reads."""
    return [
        set(record["db"].get("default", {}).get("why", []))
        for record in app.log_records()
        if record.get("path") == path and "db" in record
    ]


def _wait_until(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.05)


def test_a_hung_reader_costs_a_short_wait_and_the_page_comes_from_the_writer(app, number, proxy):
    path = f"/track/{number}/"
    client = app.client()
    with reader_through(app, proxy):
        assert client.get(path).status == 200  # the reader answers through the proxy
        assert "reader_down" not in _why(app, path)[-1]
        # The reader goes silent for longer than its read timeout, then recovers; the writer
        # is not touched. With a read timeout as long as the writer's the page waited for it.
        with proxy.hold(seconds=6):
            page = client.get(path)
    assert page.status == 200
    assert number in page.body.replace(" ", "")
    assert "reader_down" in _why(app, path)[-1]  # served by the writer: the reader was given up
    assert "database reader marked down" in app.log()


def test_healthz_answers_while_every_thread_waits_on_a_silent_database(app, number, proxy, tmp_path):
    """deploy/gunicorn.conf.py's worker, two threads, both stuck on a reader that says nothing."""
    port = free_port()
    env = {
        **app.env,
        # The reader URL points straight at the silent proxy, with waits as long as gunicorn's
        # timeout (whatever the defaults): every thread is held for as long as the hold lasts.
        "DATABASE_READER_URL": app.env["DATABASE_READER_URL"].replace(f":{app.reader.port}/", f":{proxy.port}/"),
        **{
            f"PHOENIX_DB_{role}{kind}_TIMEOUT": "30"
            for role in ("", "READER_")
            for kind in ("CONNECT", "READ", "WRITE")
        },
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "2",
        # No bulkhead and no shedding: this is about /healthz when every thread waits anyway.
        "PHOENIX_LANE_THREADS_PUBLIC": "0",
        "PHOENIX_MAX_QUEUED": "-1",
        "GUNICORN_TIMEOUT": "60",
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
    }
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", str(Path(ROOT) / "deploy" / "gunicorn.conf.py")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    pages: list[int] = []
    try:
        _wait_until(lambda: _answers(f"{base}/healthz", process), "gunicorn answering /healthz")
        with proxy.hold():
            waiting = [
                threading.Thread(target=lambda: pages.append(_status(f"{base}/track/{number}/")), daemon=True)
                for _ in range(2)
            ]
            for thread in waiting:
                thread.start()
            _wait_until(lambda: proxy.stalled >= 2, "both threads waiting on the silent reader")
            with urllib.request.urlopen(f"{base}/healthz", timeout=15) as health:
                assert (health.status, health.read()) == (200, b"ok")
        for thread in waiting:
            thread.join(timeout=60)
        assert pages == [200, 200]  # once the reader answers again the held pages are served
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _answers(url: str, process: subprocess.Popen) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"gunicorn exited with {process.returncode}")
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=90) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


@contextlib.contextmanager
def server_full(socket_path: str, port: int):
    """Fill a server up to its max_connections with idle application connections (as a
    connection storm would), so that the next connection gets 1040; restore it after."""
    root = MySQLdb.connect(unix_socket=socket_path, user="root", autocommit=True)
    fillers = []
    cursor = root.cursor()
    cursor.execute("SELECT @@GLOBAL.max_connections")
    (before,) = cursor.fetchone()
    try:
        cursor.execute("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
        connected = int(cursor.fetchone()[1])
        cursor.execute("SET GLOBAL max_connections = %s", (max(10, connected + 2),))
        while True:
            try:
                fillers.append(
                    MySQLdb.connect(
                        host="127.0.0.1", port=port, user="phoenix", password=APP_PASSWORD, connect_timeout=5
                    )
                )
            except MySQLdb.OperationalError as exc:
                assert exc.args[0] == 1040, exc
                break
            assert len(fillers) < 200, "the server never said 'too many connections'"
        yield
    finally:
        for filler in fillers:
            with contextlib.suppress(MySQLdb.Error):
                filler.close()
        cursor.execute("SET GLOBAL max_connections = %s", (before,))
        root.close()


def test_a_full_reader_1040_sends_the_read_to_the_writer(app, number):
    path = f"/track/{number}/"
    app.reader.down()  # cut the app's pooled reader connections: the next read must connect
    app.reader.up()
    with server_full(os.environ["PHOENIX_REPLICA_SOCKET"], int(os.environ["PHOENIX_REPLICA_PORT"])):
        page = app.client().get(path)
    assert page.status == 200
    assert number in page.body.replace(" ", "")
    assert "reader_down" in _why(app, path)[-1]


def test_a_full_writer_1040_answers_writes_with_a_retryable_503(app, number):
    app.writer.down()  # cut the app's pooled writer connections: the next write must connect
    app.writer.up()
    reference = {"reference": f"FULL-{secrets.token_hex(3)}"}
    with server_full(os.environ["PHOENIX_WRITER_SOCKET"], int(os.environ["PHOENIX_WRITER_PORT"])):
        html = app.client().post(f"/_live/shipments/{number}/reference", reference)
        api = app.client().post(f"/api/_live/shipments/{number}/reference", reference)
    assert html.status == 503, html.body[:300]
    assert html.headers["Retry-After"].isdigit()
    assert api.status == 503, api.body[:300]
    assert api.headers["Retry-After"].isdigit()
    assert api.json()["error"]["code"] == "writer_unavailable"
    # Nothing was written, and once the writer has room again writes go through.
    (stored,) = app.writer_sql(
        f"SELECT reference FROM `{app.database}`.tracking_shipment WHERE tracking_number = %s", [number]
    )[0]
    assert stored != reference["reference"]
    _wait_until(
        lambda: app.client().post(f"/_live/shipments/{number}/reference", reference).status == 200,
        "a write accepted after the writer has room again",
    )


def test_every_tcp_connection_fails_fast_on_a_dead_peer():
    """TCP_USER_TIMEOUT and keepalive are on the real socket of a new connection to the writer.

    What they do (a partition fails the socket in seconds) needs packets dropped by a firewall,
    which this machine's tests may not do; docs/failure-modes.md lists that drill.
    """
    from django.db import connections

    wrapper = connections["default"]
    connection = wrapper.get_new_connection(wrapper.get_connection_params())
    sock = socket.socket(fileno=os.dup(connection.fileno()))
    try:
        assert sock.family == socket.AF_INET  # DATABASE_URL is TCP to 127.0.0.1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 5000
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    finally:
        sock.close()
        connection.close()
