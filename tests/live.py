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
"""

import contextlib
import http.cookiejar
import json
import os
import secrets
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import MySQLdb

ROOT = Path(__file__).resolve().parents[1]
APP_PASSWORD = "phoenix-local"  # deploy/local/cluster.sh


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
class Response:
    status: int
    headers: dict[str, str]
    body: str
    url: str

    def json(self):
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Client:
    """A small browser: a cookie jar, optional redirect following, form parsing."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect)

    def get(self, path: str, follow: bool = True, headers: dict | None = None) -> Response:
        return self.request("GET", path, follow=follow, headers=headers)

    def post(self, path: str, data: dict | list | None = None, follow: bool = False, headers=None, json_body=None):
        return self.request("POST", path, data=data, follow=follow, headers=headers, json_body=json_body)

    def request(self, method, path, data=None, follow=True, headers=None, json_body=None) -> Response:
        url = urllib.parse.urljoin(self.base_url, path)
        body = None
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        elif data is not None:
            body = urllib.parse.urlencode(data, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if method == "POST" and self.cookie("csrftoken"):
            headers.setdefault("X-CSRFToken", self.cookie("csrftoken"))
        for _hop in range(10):
            request = urllib.request.Request(url, data=body, method=method, headers=headers)
            try:
                with self._opener.open(request, timeout=60) as raw:
                    response = Response(raw.status, dict(raw.headers.items()), raw.read().decode(), url)
            except urllib.error.HTTPError as error:
                response = Response(error.code, dict(error.headers.items()), error.read().decode(), url)
            if follow and response.status in (301, 302, 303) and "Location" in response.headers:
                url, method, body = urllib.parse.urljoin(url, response.headers["Location"]), "GET", None
                headers.pop("Content-Type", None)
                continue
            return response
        raise AssertionError(f"too many redirects from {path}")

    def cookie(self, name: str) -> str | None:
        return next((cookie.value for cookie in self.cookies if cookie.name == name), None)

    def set_cookie(self, name: str, value: str) -> None:
        host = urllib.parse.urlparse(self.base_url).hostname
        self.cookies.set_cookie(
            http.cookiejar.Cookie(
                0, name, value, None, False, host, False, False, "/", True, False, None, False, None, None, {}
            )
        )

    def drop_cookie(self, name: str) -> None:
        for cookie in list(self.cookies):
            if cookie.name == name:
                self.cookies.clear(cookie.domain, cookie.path, cookie.name)

    def login_admin(self, username: str, password: str) -> None:
        page = self.get("/admin/login/?next=/admin/")
        fields = form_fields(page.body)
        fields.update(username=username, password=password)
        response = self.post("/admin/login/?next=/admin/", data=fields)
        assert response.status == 302, f"admin login failed: {response.status}"


class _FormParser(HTMLParser):
    """Collect what a browser would submit from the first form with ``form_id`` (or any form)."""

    def __init__(self, form_id: str | None):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.in_form = False
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._select_multiple = False
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text: list[str] = []
        self.done = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and not self.done and (self.form_id is None or attrs.get("id") == self.form_id):
            self.in_form = True
        if not self.in_form:
            return
        name = attrs.get("name")
        if tag == "input" and name and "disabled" not in attrs:
            kind = (attrs.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.fields.append((name, attrs.get("value") or ("on" if kind in ("checkbox", "radio") else "")))
        elif tag == "select" and name and "disabled" not in attrs:
            self._select, self._select_multiple, self._options = name, "multiple" in attrs, []
        elif tag == "option" and self._select is not None:
            self._options.append((attrs.get("value", ""), "selected" in attrs))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_data(self, data):
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if not self.in_form:
            return
        if tag == "select" and self._select is not None:
            chosen = [value for value, selected in self._options if selected]
            if not chosen and not self._select_multiple and self._options:
                chosen = [self._options[0][0]]
            self.fields.extend((self._select, value) for value in chosen)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.fields.append((self._textarea, "".join(self._text).removeprefix("\n")))
            self._textarea = None
        elif tag == "form":
            self.in_form, self.done = False, True


def form_fields(html: str, form_id: str | None = None) -> dict:
    """Return the fields a browser would submit from the form (single-valued names as str)."""
    parser = _FormParser(form_id)
    parser.feed(html)
    fields: dict = {}
    for name, value in parser.fields:
        if name in fields:
            fields[name] = [*fields[name], value] if isinstance(fields[name], list) else [fields[name], value]
        else:
            fields[name] = value
    return fields


def _root(socket_path: str):
    return MySQLdb.connect(unix_socket=socket_path, user="root", autocommit=True)


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
    processes: list[subprocess.Popen] = field(default_factory=list)
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
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "PHOENIX_"))}
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
            process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        if name == "app":
            self.process = process
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log_path.read_text()}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer,
            ):
                if answer.status == 200:
                    return process
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer /healthz within 60 s:\n{log_path.read_text()}")

    def second_instance(self) -> str:
        """Start another gunicorn on the same database (the other Availability Zone); return its URL."""
        port = free_port()
        self._start_gunicorn(port, name=f"instance-{len(self.processes) + 1}")
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
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
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def log(self) -> str:
        return self.log_path.read_text() if getattr(self, "log_path", None) and self.log_path.exists() else ""

    def log_records(self) -> list[dict]:
        """Return the app's JSON log lines (production logging)."""
        records = []
        for line in self.log().splitlines():
            with contextlib.suppress(ValueError):
                records.append(json.loads(line))
        return records

    def writer_sql(self, statement: str, args=None) -> list[tuple]:
        return self._sql(os.environ["PHOENIX_WRITER_SOCKET"], statement, args)

    def replica_sql(self, statement: str, args=None) -> list[tuple]:
        return self._sql(os.environ["PHOENIX_REPLICA_SOCKET"], statement, args)

    def _sql(self, socket_path: str, statement: str, args) -> list[tuple]:
        connection = _root(socket_path)
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement, args)
                return list(cursor.fetchall() or [])
        finally:
            connection.close()

    def com_select(self) -> tuple[int, int]:
        """Return (writer, replica) counts of SELECT statements, as each server counts them."""
        writer = int(self.writer_sql("SHOW GLOBAL STATUS LIKE 'Com_select'")[0][1])
        replica = int(self.replica_sql("SHOW GLOBAL STATUS LIKE 'Com_select'")[0][1])
        return writer, replica

    def wait_replica(self, timeout: int = 30) -> None:
        """Wait until the replica has applied everything the writer has written so far."""
        position = self.writer_sql("SELECT @@gtid_binlog_pos")[0][0]
        (result,) = self.replica_sql("SELECT MASTER_GTID_WAIT(%s, %s)", [position, timeout])[0]
        if result != 0:
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
