"""A live Phoenix app on the real local writer + replica, for tests that need the whole path.

``LiveApp.start()`` (and the ``live_app`` fixture in tests/conftest.py) does what production
does, on loopback:

- creates a fresh database on the running cluster (root over PHOENIX_WRITER_SOCKET; the
  application user's grants cover it) and waits until the replica has it;
- puts an ``Endpoint`` (a small TCP forwarder in this process) in front of each server, standing
  in for the Aurora cluster and reader endpoints, so a test can take an endpoint away
  (``app.writer.down()``: connections are cut and new ones are dropped at the handshake, as a
  load balancer with no healthy backend does) and bring it back on the same address;
- runs ``manage.py migrate`` in a subprocess against the writer;
- starts gunicorn (gthread, production settings: DEBUG off, JSON logs) on a free port with
  DATABASE_URL / DATABASE_READER_URL pointing at the endpoints, and
  DJANGO_SETTINGS_MODULE=tests.live_settings (phoenix.settings plus a few test-only views under
  /_live/, see tests/live_urls.py);
- ``stop()`` stops gunicorn and the endpoints and drops the database.

Helpers: ``client()`` (an HTTP client with a cookie jar and an HTML form parser),
``second_instance()`` (another gunicorn on the same database and endpoints, as the
second Availability Zone), ``manage(...)`` (run a management command against the live database), ``writer_sql`` /
``replica_sql`` (root statements), ``replication_stopped()`` (stop the replica's SQL thread:
lag), ``writer_read_only()`` (SET GLOBAL read_only=1 as a demoted Aurora writer),
``com_select()`` (each server's own count of SELECT statements), ``wait_replica()``.

The client, the form parser, gunicorn's start and stop and the root SQL are the local lab's
(deploy/local/lab/), which the benchmark and drill scripts use as well.
"""

import contextlib
import os
import secrets
import selectors
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import MySQLdb

from deploy.local.lab import logs, servers
from deploy.local.lab.load import Client
from deploy.local.lab.load import form_fields as form_fields  # tests take it from here
from deploy.local.lab.processes import Server, environment_without, free_port, manage

ROOT = Path(__file__).resolve().parents[1]
APP_PASSWORD = "phoenix-local"  # deploy/local/cluster.sh


class Endpoint:
    """A TCP forwarder on 127.0.0.1 in front of one server (a stand-in for an Aurora endpoint).

    ``down()`` cuts every open connection and drops new ones right after accepting them (the
    client sees "lost connection at handshake", MySQL error 2013); ``up()`` forwards again, to
    the same server or to ``target_port`` if given.
    """

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.is_up = True
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._lock = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._accept_loop, daemon=True, name=f"endpoint-{self.port}")
        self._thread.start()

    def down(self) -> None:
        self.is_up = False
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def up(self, target_port: int | None = None) -> None:
        if target_port:
            self.target_port = target_port
        self.is_up = True

    def close(self) -> None:
        self._stopping = True
        self.down()
        with contextlib.suppress(OSError):
            self.listener.close()
        self._thread.join(timeout=5)

    def _accept_loop(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stopping:
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self.is_up:
                client.close()
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            pair = (client, server)
            with self._lock:
                self._pairs.add(pair)
            threading.Thread(target=self._pump, args=(pair,), daemon=True).start()

    def _pump(self, pair) -> None:
        client, server = pair
        selector = selectors.DefaultSelector()
        for sock in pair:
            sock.setblocking(True)
            selector.register(sock, selectors.EVENT_READ)
        try:
            while not self._stopping:
                for key, _ in selector.select(timeout=0.5):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    (server if key.fileobj is client else client).sendall(data)
        except OSError:
            return
        finally:
            selector.close()
            with self._lock:
                self._pairs.discard(pair)
            for sock in pair:
                sock.close()


@dataclass
class LiveApp:
    """The running app and the handles a test needs. Build with ``LiveApp.start()``."""

    database: str
    workdir: Path
    writer: Endpoint
    reader: Endpoint
    base_url: str = ""
    env: dict = field(default_factory=dict)
    process: subprocess.Popen | None = None
    servers: list[Server] = field(default_factory=list)
    superuser: tuple[str, str] = ("admin", "")

    # Life cycle ---------------------------------------------------------------------------

    @classmethod
    def start(cls, workdir: Path, pin_seconds: int = 30, extra_env: dict | None = None) -> "LiveApp":
        """Create a database, migrate it and start gunicorn on it (see the module docstring).

        ``pin_seconds`` is PHOENIX_PIN_SECONDS of the app (long, so that no test races the pin
        window on a busy machine); ``extra_env`` adds or overrides variables of the app, e.g.
        ``{"PHOENIX_ROUTER": "multidb"}``. A superuser ``admin`` exists (``app.superuser``).
        """
        database = f"live_{secrets.token_hex(4)}"
        writer = Endpoint(int(os.environ["PHOENIX_WRITER_PORT"]))
        reader = Endpoint(int(os.environ["PHOENIX_REPLICA_PORT"]))
        app = cls(database=database, workdir=workdir, writer=writer, reader=reader)
        try:
            app.writer_sql(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            app.wait_replica()
            port = free_port()
            app.base_url = f"http://127.0.0.1:{port}"
            app.env = app._environment(port, pin_seconds, extra_env or {})
            app.manage("migrate", "--no-input", "-v0")
            password = secrets.token_urlsafe(12)
            app.superuser = ("admin", password)
            app.manage(
                "createsuperuser", "--no-input", "--username", "admin", "--email", "admin@example.com",
                env={"DJANGO_SUPERUSER_PASSWORD": password},
            )  # fmt: skip
            app._start_gunicorn(port)
        except BaseException:
            app.stop()
            raise
        return app

    def _environment(self, port: int, pin_seconds: int, extra: dict) -> dict:
        environment = environment_without("DJANGO_", "DATABASE_", "PHOENIX_")
        environment.update(
            DJANGO_SETTINGS_MODULE="tests.live_settings",
            DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or "live-test-secret-" + secrets.token_hex(24),
            DJANGO_DEBUG="0",
            DJANGO_SECURE_SSL_REDIRECT="0",
            DJANGO_SECURE_COOKIES="0",
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            DATABASE_URL=f"mysql://phoenix:{APP_PASSWORD}@127.0.0.1:{self.writer.port}/{self.database}",
            DATABASE_READER_URL=f"mysql://phoenix:{APP_PASSWORD}@127.0.0.1:{self.reader.port}/{self.database}",
            PHOENIX_PIN_SECONDS=str(pin_seconds),
            # The test superuser logs in with its password alone (tests/tracking/admin/test_otp.py
            # has the second factor).
            PHOENIX_ADMIN_OTP="enrolled",
            # Every page read reaches the database: the tests count where reads went.
            PHOENIX_PAGE_CACHE_SECONDS="0",
            PHOENIX_DB_CONNECT_TIMEOUT="2",
            PHOENIX_DB_READ_TIMEOUT="10",
            PHOENIX_DB_WRITE_TIMEOUT="10",
            PHOENIX_WRITER_SOCKET=os.environ["PHOENIX_WRITER_SOCKET"],
            PHOENIX_REPLICA_SOCKET=os.environ["PHOENIX_REPLICA_SOCKET"],
            PYTHONUNBUFFERED="1",
        )
        environment.update(extra)
        return environment

    def _start_gunicorn(self, port: int, name: str = "app") -> subprocess.Popen:
        log_path = self.workdir / f"{name}.log"
        if name == "app":
            self.log_path = log_path
        command = [
            sys.executable, "-m", "gunicorn", "phoenix.wsgi",
            "--bind", f"127.0.0.1:{port}", "--worker-class", "gthread", "--workers", "1", "--threads", "4",
            "--timeout", "60", "--graceful-timeout", "5",
        ]  # fmt: skip
        with log_path.open("wb") as log:
            server = Server(command, env=self.env, port=port, log=log)
        self.servers.append(server)
        if name == "app":
            self.process = server.process
        if server.wait_healthy(timeout=60, interval=0.1):
            return server.process
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.process.returncode}:\n{log_path.read_text()}")
        raise RuntimeError(f"gunicorn did not answer /healthz within 60 s:\n{log_path.read_text()}")

    def second_instance(self) -> str:
        """Start another gunicorn on the same database (the other Availability Zone); return its URL."""
        port = free_port()
        self._start_gunicorn(port, name=f"instance-{len(self.servers) + 1}")
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        for server in self.servers:  # all at once, then wait for each
            server.terminate()
        for server in self.servers:
            server.wait_stopped(timeout=15)
        for endpoint in (self.writer, self.reader):
            endpoint.close()
        with contextlib.suppress(MySQLdb.Error):
            self.writer_sql("SET GLOBAL read_only = 0")
            self.replica_sql("START SLAVE")
            self.writer_sql(f"DROP DATABASE IF EXISTS `{self.database}`")

    # Handles ------------------------------------------------------------------------------

    def client(self) -> Client:
        return Client(self.base_url)

    def admin_client(self) -> Client:
        client = self.client()
        client.login_admin(*self.superuser)
        return client

    def manage(self, *args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``manage.py ARGS`` against the live database (directly on the servers)."""
        environment = {**self.env, **(env or {})}
        environment["DATABASE_URL"] = environment["DATABASE_URL"].replace(
            f":{self.writer.port}/", f":{os.environ['PHOENIX_WRITER_PORT']}/"
        )
        result = manage(environment, *args, check=False, timeout=300)
        if check and result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def log(self) -> str:
        return self.log_path.read_text() if getattr(self, "log_path", None) and self.log_path.exists() else ""

    def log_records(self) -> list[dict]:
        """Return the app's JSON log lines (production logging)."""
        return [entry for entry in map(logs.record, self.log().splitlines()) if entry is not None]

    def writer_sql(self, statement: str, args=None) -> list[tuple]:
        return servers.sql(os.environ["PHOENIX_WRITER_SOCKET"], statement, args, autocommit=True)

    def replica_sql(self, statement: str, args=None) -> list[tuple]:
        return servers.sql(os.environ["PHOENIX_REPLICA_SOCKET"], statement, args, autocommit=True)

    def com_select(self) -> tuple[int, int]:
        """Return (writer, replica) counts of SELECT statements, as each server counts them."""
        return servers.com_select(os.environ["PHOENIX_WRITER_SOCKET"]), servers.com_select(
            os.environ["PHOENIX_REPLICA_SOCKET"]
        )

    def wait_replica(self, timeout: int = 30) -> None:
        """Wait until the replica has applied everything the writer has written so far."""
        position = servers.binlog_position(os.environ["PHOENIX_WRITER_SOCKET"])
        if not servers.replica_reached(os.environ["PHOENIX_REPLICA_SOCKET"], position, timeout):
            raise RuntimeError(f"the replica did not reach {position} within {timeout} s")

    @contextlib.contextmanager
    def replication_stopped(self):
        """Stop the replica's SQL thread (the replica falls behind), start it again after."""
        self.wait_replica()
        self.replica_sql("STOP SLAVE SQL_THREAD")
        try:
            yield
        finally:
            self.replica_sql("START SLAVE SQL_THREAD")
            self.wait_replica()

    @contextlib.contextmanager
    def writer_read_only(self):
        """Make the writer read-only, as a demoted Aurora writer is; writable again after."""
        self.writer_sql("SET GLOBAL read_only = 1")
        try:
            yield
        finally:
            self.writer_sql("SET GLOBAL read_only = 0")

    @contextlib.contextmanager
    def endpoint_down(self, endpoint: Endpoint):
        """Take the writer or reader endpoint away (as a stopped server), back after."""
        endpoint.down()
        try:
            yield
        finally:
            endpoint.up()

    def seed(self, shipments: int = 3) -> list[str]:
        """Write demo shipments and return their tracking numbers (replica caught up)."""
        self.manage("seed_demo", "--shipments", str(shipments))
        self.wait_replica()
        rows = self.writer_sql(f"SELECT tracking_number FROM `{self.database}`.tracking_shipment ORDER BY id")
        return [row[0] for row in rows]
