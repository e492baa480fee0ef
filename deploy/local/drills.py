#!/usr/bin/env python3
"""Fault drills: start a throw-away HA stack, put a steady mixed load on it, break it, count.

    .venv/bin/python deploy/local/drills.py [--quick] [--report docs/reliability.md] [--json FILE]

Drills (each under load: customer page views, partner API lookups, partner event posts with
unique event ids, a staff user and a partner that write and read their writes back at once):

  1 reader   the replica stopped, then started again
  2 writer   the writer stopped, then started again
  3 failover the writer failed over to the replica (deploy/local/failover.sh), then back
  4 zone     one app instance (az-a) killed with SIGKILL, then started again
  5 lag      replication lag (the replica's SQL thread stopped for 10 s)

Every request is recorded (start time, kind, status, latency, event id). After each drill the
writer is asked for every event id the load generator posted: an id acknowledged with a 2xx but
absent is a lost write, an id stored twice a duplicated one. --quick runs drills 1, 3 and 5 at a
reduced load (the test suite runs it). Everything stays on 127.0.0.1 and stops by itself.
"""

import argparse
import contextlib
import html.parser
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import MySQLdb

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
STACK = HERE / "stack.sh"
FAILOVER = HERE / "failover.sh"
REQUEST_TIMEOUT = 15.0
MAX_REQUESTS = 60_000  # a hard bound on the whole run, whatever the phases say

TARGETS = {
    "failed_gets": {"reader", "writer", "zone"},  # 0 failed GETs in drills 1, 2 and 4
    "resume_seconds": 5.0,  # drill 3: writes succeed again within 5 s of the endpoint moving
}


@dataclass
class Record:
    started: float  # epoch seconds
    kind: str  # page, lookup, post, staff_write, staff_read, partner_post, partner_read
    status: int  # HTTP status; 0 when no answer came
    latency: float
    event_id: str = ""
    acknowledged: bool = False  # writes: a 2xx that says the write was taken
    stale: bool = False  # reads of one's own write that did not show it
    missed: bool = False  # control reads by another client that did not show the write yet
    outcome: str = ""  # event posts: the API's status for the event (accepted, duplicate, rejected)
    detail: str = ""

    @property
    def is_get(self) -> bool:
        return self.kind in ("page", "lookup", "staff_read", "partner_read", "control_read")

    @property
    def failed(self) -> bool:
        return not 200 <= self.status < 400


@dataclass
class Drill:
    number: int
    name: str
    title: str
    records: list[Record] = field(default_factory=list)
    moves: list[tuple[float, float]] = field(default_factory=list)  # failovers: (started, endpoint moved)
    recovered: float | None = None  # drill 2: when the writer answered again
    actions: list[tuple[float, str]] = field(default_factory=list)  # (epoch time, what the drill did)
    notes: list[str] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    app_log: dict[str, int] = field(default_factory=dict)  # warnings and errors the instances logged


class Stopped(Exception):
    pass


def _on_sigterm(signum, frame):
    raise Stopped(f"signal {signum}")


# ---------------------------------------------------------------- the stack


class Stack:
    """A running stack started by stack.sh in a directory of its own."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.env = {}

    def start(self, *, shipments: int) -> None:
        environment = dict(os.environ)
        for name in ("DATABASE_URL", "DATABASE_READER_URL"):  # the test suite's, not ours
            environment.pop(name, None)
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
        self.env = _read_env(self.dir / "stack.env") | _read_env(self.dir / "app.env")
        self.env |= _read_env(self.dir / "credentials")
        self.url = f"127.0.0.1:{self.env['PHOENIX_ALB_PORT']}"

    def stop(self) -> None:
        subprocess.run([str(STACK), "stop", str(self.dir)], check=False)

    def sh(self, *args: str) -> str:
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

    def roles(self) -> tuple[str, str]:
        roles = _read_env(self.dir / "roles")
        return roles["PHOENIX_WRITER_NODE"], roles["PHOENIX_READER_NODE"]

    def root(self, node: str):
        return MySQLdb.connect(
            unix_socket=self.env[f"PHOENIX_{node.upper()}_SOCKET"], user="root", autocommit=True, connect_timeout=3
        )

    def sql(self, node: str, statement: str, args=None) -> list[tuple]:
        connection = self.root(node)
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement, args)
                return list(cursor.fetchall())
        finally:
            connection.close()

    def manage(self, *args: str) -> str:
        environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATABASE_READER_URL")}
        environment |= _read_env(self.dir / "app.env")
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=environment,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return result.stdout

    def wait_replica_caught_up(self, timeout: float = 60.0) -> bool:
        writer, reader = self.roles()
        position = self.sql(writer, "SELECT @@gtid_binlog_pos")[0][0]
        waited = self.sql(reader, "SELECT MASTER_GTID_WAIT(%s, %s)", [position, timeout])[0][0]
        return waited == 0

    def wait_alb_servers_up(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = self.sh("status")
            if re.search(r"app\s+az-a\s+UP", states) and re.search(r"app\s+az-b\s+UP", states):
                return
            time.sleep(0.5)
        raise RuntimeError("the ALB does not see both instances up again")


APP_LOG_LEVELS = ("WARNING", "ERROR", "CRITICAL")


def app_log_offsets(stack: Stack) -> dict[Path, int]:
    logs = [stack.dir / name / "gunicorn.log" for name in ("az-a", "az-b")]
    return {log: log.stat().st_size if log.exists() else 0 for log in logs}


def app_log_problems(offsets: dict[Path, int]) -> dict[str, int]:
    """Return the warnings and errors both instances logged since ``offsets``, counted."""
    problems: dict[str, int] = {}
    for log, offset in offsets.items():
        if not log.exists():
            continue
        with log.open("rb") as handle:
            handle.seek(min(offset, log.stat().st_size))
            text = handle.read().decode("utf-8", "replace")
        for line in text.splitlines():
            summary = ""
            if line.startswith("{"):
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("level") not in APP_LOG_LEVELS:
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


def _read_env(path: Path) -> dict:
    values = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            values[name.strip()] = value.strip()
    return values


# ---------------------------------------------------------------- HTTP


def request(host: str, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None):
    """Send one request on a fresh connection; return (status, headers, body text). Status 0: no answer."""
    connection = http.client.HTTPConnection(host, timeout=REQUEST_TIMEOUT)
    try:
        connection.request(method, path, body=body, headers={"Connection": "close", **(headers or {})})
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as exc:
        return 0, {}, f"{type(exc).__name__}: {exc}"
    finally:
        connection.close()


class Browser:
    """Cookies and CSRF for a staff user in the admin."""

    def __init__(self, host: str):
        self.host = host
        self.cookies: dict[str, str] = {}

    def send(self, method: str, path: str, form: dict | None = None):
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"http://{self.host}{path}"
            headers["Origin"] = f"http://{self.host}"
        status, response_headers, text = request(self.host, method, path, body=body, headers=headers)
        cookies = response_headers.get_all("Set-Cookie") if status else None
        for value in cookies or []:
            name, _, rest = value.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return status, response_headers, text


class FormParser(html.parser.HTMLParser):
    """Collect the fields of the first form whose id ends with _form (the admin change form)."""

    def __init__(self):
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self.csrf = ""
        self._in_form = False
        self._select = None
        self._select_value = None
        self._textarea = None
        self._text = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name") == "csrfmiddlewaretoken":
            self.csrf = a.get("value", "")
        if tag == "form" and (a.get("id", "").endswith("_form") or a.get("id") == "login-form"):
            self._in_form = True
        if not self._in_form:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("submit", "button", "image", "file", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((name, a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select" and name:
            self._select, self._select_value = name, None
            self._multiple = "multiple" in a
        elif tag == "option" and self._select:
            if "selected" in a:
                self.fields.append((self._select, a.get("value", "")))
                self._select_value = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_data(self, data):
        if self._textarea:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.fields.append((self._textarea, "".join(self._text).lstrip("\n")))
            self._textarea = None


def _shows_event(text: str, event: dict) -> bool:
    """Return True when a tracking answer lists the event: by its id, or by its unique scan time."""
    if event["id"] in text:
        return True
    sent = datetime.fromisoformat(event["occurred_at"])
    try:
        shown = json.loads(text).get("events", [])
        return any(datetime.fromisoformat(e["occurred_at"]) == sent for e in shown if e.get("occurred_at"))
    except (ValueError, AttributeError, TypeError):
        return False


def parse_form(text: str) -> FormParser:
    parser = FormParser()
    parser.feed(text)
    return parser


# ---------------------------------------------------------------- the load


class Load:
    """Threads that send a steady mixed load until stopped, recording every request."""

    def __init__(self, stack: Stack, data: dict, *, scale: float, budget: list[int]):
        self.stack = stack
        self.host = stack.url
        self.data = data
        self.scale = scale
        self.budget = budget  # shared, mutable: requests left for the whole run
        self.records: list[Record] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.staff_error = ""

    # Each actor: (function, requests per second per thread, threads)
    def start(self) -> None:
        actors = [
            (self.customer, 8, 2),
            (self.lookup, 5, 1),
            (self.scanner, 4, 2),
            (self.partner_read_back, 1.5, 1),
            (self.staff, 1, 1),
        ]
        for index, (actor, rate, count) in enumerate(actors):
            for n in range(count):
                interval = 1.0 / max(rate * self.scale, 0.2)
                thread = threading.Thread(
                    target=self._run, args=(actor, interval, random.Random(index * 100 + n)), daemon=True
                )
                self.threads.append(thread)
                thread.start()

    def stop(self, grace: float = 20.0) -> list[Record]:
        self.stopping.set()
        deadline = time.monotonic() + grace
        for thread in self.threads:
            thread.join(max(deadline - time.monotonic(), 0.1))
        with self.lock:
            return list(self.records)

    def _run(self, actor, interval: float, rng: random.Random) -> None:
        state = {}
        next_at = time.monotonic() + rng.random() * interval
        while not self.stopping.is_set():
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            next_at = max(next_at + interval, time.monotonic())
            if not self._spend():
                return
            try:
                actor(rng, state)
            except Exception as exc:  # a load generator bug must not end the run silently
                self._record(Record(time.time(), actor.__name__, 0, 0.0, detail=f"load generator: {exc!r}"))

    def _spend(self) -> bool:
        with self.lock:
            if self.budget[0] <= 0:
                return False
            self.budget[0] -= 1
            return True

    def _record(self, record: Record) -> Record:
        with self.lock:
            self.records.append(record)
        return record

    def _timed(self, kind, method, path, *, event_id="", browser=None, **kwargs):
        started = time.time()
        clock = time.monotonic()
        if browser is not None:
            status, headers, text = browser.send(method, path, **kwargs)
        else:
            status, headers, text = request(self.host, method, path, **kwargs)
        record = Record(started, kind, status, time.monotonic() - clock, event_id=event_id)
        if record.failed:
            record.detail = text[:200] if status == 0 else f"{status} {text[:120]!r}"
        return record, headers, text

    # -- customers: public pages of known numbers, no cookies (a new visitor each time)
    def customer(self, rng, state):
        number = rng.choice(self.data["numbers"])
        record, _headers, _text = self._timed("page", "GET", f"/track/{number}/")
        self._record(record)

    # -- a shop's system looks its parcels up over the API (it never writes)
    def lookup(self, rng, state):
        number = rng.choice(self.data["numbers"])
        headers = {"Authorization": f"Token {self.data['shop_token']}", "Accept": "application/json"}
        record, _headers, _text = self._timed("lookup", "GET", f"/api/v1/tracking/{number}", headers=headers)
        self._record(record)

    # -- a hub scanner posts events with unique ids and retries until acknowledged
    def scanner(self, rng, state):
        self._post_event(rng, self.data["scanner_token"], "post")

    def _post_event(self, rng, token: str, kind: str) -> tuple[dict, str, bool]:
        number = rng.choice(self.data["in_flight"])
        event_id = f"drill-{uuid.uuid4().hex}"
        event = {
            "id": event_id,
            "tracking_number": number,
            "milestone": "in_transit",
            "occurred_at": datetime.now(UTC).isoformat(timespec="microseconds"),
            "facility": rng.choice(self.data["facilities"]),
            "note": event_id,
        }
        body = json.dumps({"events": [event]}).encode()
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/json", "Accept": "application/json"}
        # A partner retries an unacknowledged event with the same id (idempotent ingest) for up
        # to 15 s; Load.stop() waits for those retries to end.
        give_up = time.monotonic() + 15
        while True:
            record, _headers, text = self._timed(
                kind, "POST", "/api/v1/events", event_id=event_id, body=body, headers=headers
            )
            if record.status == 200:
                try:
                    result = json.loads(text)["results"][0]
                    record.outcome = str(result.get("status", ""))
                    record.acknowledged = result.get("status") in ("accepted", "duplicate")
                    if not record.acknowledged:
                        record.detail = f"rejected: {json.dumps(result)[:200]}"
                except (ValueError, KeyError, IndexError, TypeError):
                    record.detail = f"unreadable answer: {text[:200]!r}"
            elif 200 <= record.status < 300:
                record.detail = f"unexpected {record.status}: {text[:120]!r}"
            self._record(record)
            if record.acknowledged:
                return event, number, True
            retry = record.status == 0 or record.status >= 500 or record.status in (408, 429)
            if not retry or time.monotonic() > give_up:
                return event, number, False
            time.sleep(0.25)

    # -- a partner posts an event and reads its shipment back at once with the same token
    def partner_read_back(self, rng, state):
        event, number, acknowledged = self._post_event(rng, self.data["partner_token"], "partner_post")
        if not acknowledged:
            return
        headers = {"Authorization": f"Token {self.data['partner_token']}", "Accept": "application/json"}
        record, _headers, text = self._timed("partner_read", "GET", f"/api/v1/tracking/{number}", headers=headers)
        if record.status == 200 and not _shows_event(text, event):
            record.stale = True
            record.detail = f"event {event['id']} missing from the read-back"
        self._record(record)
        # Control: another client (the shop, which never writes) reads the same shipment. During
        # the lag drill it should miss the event: that shows the lag was real and the check works.
        headers = {"Authorization": f"Token {self.data['shop_token']}", "Accept": "application/json"}
        record, _headers, text = self._timed("control_read", "GET", f"/api/v1/tracking/{number}", headers=headers)
        record.missed = record.status == 200 and not _shows_event(text, event)
        self._record(record)

    # -- a staff user changes a facility in the admin and reads the change page back at once
    def staff(self, rng, state):
        browser = state.get("browser")
        if browser is None:
            browser = state["browser"] = Browser(self.host)
            if not self._staff_login(browser):
                state["browser"] = None
                return
        path = f"/admin/tracking/facility/{self.data['staff_facility_id']}/change/"
        record, _headers, text = self._timed("staff_read", "GET", path, browser=browser)
        if record.status != 200:
            self._record(record)
            if record.status in (301, 302):
                state["browser"] = None  # logged out: log in again
            return
        form = parse_form(text)
        fields = [(k, v) for k, v in form.fields if k != "address"]
        value = f"Drill {uuid.uuid4().hex[:12]}"
        fields += [("address", value), ("csrfmiddlewaretoken", form.csrf), ("_continue", "1")]
        self._record(record)
        record, headers, text = self._timed("staff_write", "POST", path, browser=browser, form=fields)
        record.acknowledged = record.status == 302 and "/login/" not in (headers.get("Location") or "")
        if record.status == 200:
            record.detail = (
                "the admin refused the form: " + " ".join(re.findall(r'class="errorlist[^"]*"><li>([^<]+)', text))[:200]
            )
        self._record(record)
        if not record.acknowledged:
            return
        record, _headers, text = self._timed("staff_read", "GET", path, browser=browser)
        if record.status == 200:
            shown = dict(parse_form(text).fields).get("address")
            if shown != value:
                record.stale = True
                record.detail = f"read back {shown!r}, wrote {value!r}"
        self._record(record)

    def _staff_login(self, browser: Browser) -> bool:
        record, _headers, text = self._timed("staff_read", "GET", "/admin/login/", browser=browser)
        self._record(record)
        if record.status != 200:
            return False
        form = {
            "username": self.data["admin_user"],
            "password": self.data["admin_password"],
            "csrfmiddlewaretoken": parse_form(text).csrf,
            "next": "/admin/",
        }
        record, headers, _text = self._timed("staff_login", "POST", "/admin/login/", browser=browser, form=form)
        record.acknowledged = record.status == 302
        self._record(record)
        if not record.acknowledged:
            self.staff_error = f"staff login answered {record.status}: {record.detail}"
        return record.acknowledged


# ---------------------------------------------------------------- the drills


def prepare(stack: Stack) -> dict:
    """Partners, tokens and the numbers the load uses."""

    def token(name: str, hubs: tuple[str, ...] = ()) -> str:
        # A partner writes only its own shipments unless it holds a scope: the scanners and the
        # partner that post events get a hub scope for every facility the load scans at.
        output = stack.manage("create_partner", name, *[arg for code in hubs for arg in ("--hub", code)])
        # create_partner prints the key alone on its line.
        keys = [line.strip() for line in output.splitlines() if re.fullmatch(r"\s*[A-Za-z0-9_\-.~+/=]{20,}\s*", line)]
        if len(keys) != 1:
            raise RuntimeError(f"cannot find the token in create_partner's output: {output!r}")
        return keys[0]

    writer, _reader = stack.roles()
    numbers = [
        row[0]
        for row in stack.sql(writer, "SELECT tracking_number FROM phoenix.tracking_shipment ORDER BY id LIMIT 200")
    ]
    in_flight = [
        row[0]
        for row in stack.sql(
            writer,
            "SELECT tracking_number FROM phoenix.tracking_shipment WHERE milestone IN "
            "('label_created', 'picked_up', 'in_transit', 'at_destination') ORDER BY id LIMIT 100",
        )
    ]
    facilities = [row[0] for row in stack.sql(writer, "SELECT code FROM phoenix.tracking_facility ORDER BY code")]
    facility_id = stack.sql(writer, "SELECT id FROM phoenix.tracking_facility ORDER BY code DESC LIMIT 1")[0][0]
    return {
        "numbers": numbers,
        "in_flight": in_flight,
        "facilities": facilities,
        "staff_facility_id": facility_id,
        "shop_token": token("Drill shop"),
        "scanner_token": token("Drill hub scanner", tuple(facilities)),
        "partner_token": token("Drill partner", tuple(facilities)),
        "admin_user": stack.env["PHOENIX_ADMIN_USER"],
        "admin_password": stack.env["PHOENIX_ADMIN_PASSWORD"],
    }


def run_drill(stack: Stack, data: dict, drill: Drill, *, scale: float, phase: float, budget: list[int]) -> None:
    """Load on, settle, break, wait, mend, settle, load off, then count."""
    print(f"drill {drill.number}: {drill.title}", file=sys.stderr, flush=True)
    offsets = app_log_offsets(stack)
    load = Load(stack, data, scale=scale, budget=budget)
    load.start()
    try:
        time.sleep(phase / 2)
        writer, reader = stack.roles()

        def did(what: str) -> None:
            drill.actions.append((time.time(), what))

        if drill.name == "reader":
            stack.sh("node-stop", reader)
            did(f"reader {reader} stopped")
            time.sleep(phase)
            stack.sh("node-start", reader)
            did(f"reader {reader} started")
            stack.wait_replica_caught_up()
            did("replica caught up")
        elif drill.name == "writer":
            stack.sh("node-stop", writer)
            did(f"writer {writer} stopped")
            time.sleep(phase)
            stack.sh("node-start", writer)
            drill.recovered = time.time()
            did(f"writer {writer} started")
            stack.wait_replica_caught_up()
            did("replica caught up")
        elif drill.name == "failover":
            drill.moves.append(stack.failover())
            did(f"failover done: writer {writer} -> {reader}")
            time.sleep(phase)
            drill.moves.append(stack.failover())
            did(f"failback done: writer {reader} -> {writer}")
        elif drill.name == "zone":
            stack.sh("app-kill", "az-a")
            did("az-a killed")
            time.sleep(phase)
            stack.sh("app-start", "az-a")
            did("az-a started (answers /healthz)")
            stack.wait_alb_servers_up()
            did("the ALB sees az-a up")
        elif drill.name == "lag":
            stack.sql(reader, "STOP SLAVE SQL_THREAD")
            did(f"replica {reader} SQL thread stopped")
            time.sleep(10.0)
            stack.sql(reader, "START SLAVE SQL_THREAD")
            did(f"replica {reader} SQL thread started")
            stack.wait_replica_caught_up()
            did("replica caught up")
        time.sleep(phase / 2)
    finally:
        drill.records = load.stop()
    if load.staff_error:
        drill.notes.append(load.staff_error)
    stack.wait_replica_caught_up()
    drill.figures = count(stack, drill)
    drill.app_log = app_log_problems(offsets)


def count(stack: Stack, drill: Drill) -> dict:
    """Figures of one drill, the writes checked against the writer."""
    records = drill.records
    writes = [r for r in records if r.kind in ("post", "partner_post")]
    acknowledged = {r.event_id for r in writes if r.acknowledged}
    posted = {r.event_id for r in writes}
    writer, reader = stack.roles()
    stored: dict[str, int] = {}
    replica: dict[str, int] = {}
    ids = sorted(posted)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join(["%s"] * len(chunk))
        statement = (
            "SELECT partner_event_id, COUNT(*) FROM phoenix.tracking_trackingevent "
            f"WHERE partner_event_id IN ({marks}) GROUP BY partner_event_id"
        )
        stored |= dict(stack.sql(writer, statement, chunk))
        replica |= dict(stack.sql(reader, statement, chunk))
    gets = [r for r in records if r.is_get]
    failed_gets = [r for r in gets if r.failed]
    successes = sorted(r.started + r.latency for r in writes if r.acknowledged)
    resume, paused = [], []
    for started, moved in drill.moves:
        after = [t for t in successes if t >= moved]
        before = [t for t in successes if t <= started]
        resume.append(round(after[0] - moved, 2) if after else None)
        paused.append(round(after[0] - before[-1], 2) if after and before else None)
    back = [t for t in successes if drill.recovered and t >= drill.recovered]
    gaps = [b - a for a, b in zip(successes, successes[1:], strict=False)]
    return {
        "requests": len(records),
        "gets": len(gets),
        "failed_gets": len(failed_gets),
        "failed_get_statuses": _tally(r.status for r in failed_gets),
        "writes": len(writes),
        "write_ids": len(posted),
        "writes_503": sum(1 for r in writes if r.status == 503),
        "write_errors_other": sum(1 for r in writes if not r.acknowledged and r.status != 503),
        "write_error_statuses": _tally(r.status for r in writes if not r.acknowledged),
        "writes_acknowledged": len(acknowledged),
        "writes_given_up": len(posted - acknowledged),
        # A retry answered "duplicate": an earlier attempt that got no 2xx had been stored after all.
        "acknowledged_as_duplicate": sum(1 for r in writes if r.acknowledged and r.outcome == "duplicate"),
        "writes_lost": len(acknowledged - stored.keys()),
        "writes_duplicated": sum(n - 1 for n in stored.values() if n > 1),
        "replica_missing": len(stored.keys() - replica.keys()),
        "staff_writes": sum(1 for r in records if r.kind == "staff_write" and r.acknowledged),
        "own_reads": sum(1 for r in records if r.kind in ("staff_read", "partner_read") and r.status == 200),
        "stale_own_reads": sum(1 for r in records if r.stale),
        "control_reads": sum(1 for r in records if r.kind == "control_read" and r.status == 200),
        "control_missed": sum(1 for r in records if r.missed),
        "resume_seconds": resume,
        # From the last acknowledged write before the failover began to the first one after it.
        "write_pause_seconds": paused,
        "resume_after_writer_back": round(back[0] - drill.recovered, 2) if back else None,
        "longest_write_gap": round(max(gaps), 2) if gaps else None,
        "latency_p50": _percentile([r.latency for r in records], 50),
        "latency_p99": _percentile([r.latency for r in records], 99),
        "examples": sorted({r.detail for r in records if r.detail})[:8],
    }


def _tally(statuses) -> dict:
    tally: dict[str, int] = {}
    for status in statuses:
        tally[str(status)] = tally.get(str(status), 0) + 1
    return tally


def _percentile(values: list[float], p: int) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * p / 100))], 3)


def verdicts(drill: Drill) -> list[tuple[str, bool, str]]:
    """(target, met, figure) for every target that applies to the drill."""
    f = drill.figures
    result = []
    if drill.name in TARGETS["failed_gets"]:
        result.append(("0 failed GETs", f["failed_gets"] == 0, f"{f['failed_gets']} failed {f['failed_get_statuses']}"))
    result.append(("0 writes lost", f["writes_lost"] == 0, str(f["writes_lost"])))
    result.append(("0 writes duplicated", f["writes_duplicated"] == 0, str(f["writes_duplicated"])))
    if drill.name == "failover":
        limit = TARGETS["resume_seconds"]
        met = bool(f["resume_seconds"]) and all(s is not None and s <= limit for s in f["resume_seconds"])
        result.append((f"writes resume within {limit:g} s of the endpoint moving", met, str(f["resume_seconds"])))
    if drill.name == "lag":
        result.append(("0 stale reads of one's own writes", f["stale_own_reads"] == 0, str(f["stale_own_reads"])))
    return result


# ---------------------------------------------------------------- the report


def machine() -> str:
    memory = cpu = "?"
    with contextlib.suppress(OSError, AttributeError):
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        memory = f"{kb / 1024 / 1024:.1f} GiB"
    with contextlib.suppress(OSError, AttributeError):
        cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text()).group(1).strip()

    def version(*command):
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=10).stdout.splitlines()[0].strip()
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"

    return (
        f"{os.cpu_count()} CPUs ({cpu}), {memory} memory, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; {version('mariadbd', '--version')}; {version('haproxy', '-v')}"
    )


def report(drills: list[Drill], *, quick: bool, elapsed: float, started: datetime) -> str:
    lines = [
        "# Reliability drills",
        "",
        "Written by `make drills` (deploy/local/drills.py); do not edit by hand. The drills run on",
        "real parts: a MariaDB writer and replica with GTID replication, HAProxy as the Aurora",
        "cluster and reader endpoints and as the ALB, two gunicorn instances with",
        "deploy/gunicorn.conf.py standing for two Availability Zones (docs/stack.md).",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC, {'quick subset' if quick else 'full run'}, {elapsed:.0f} s in all, on {machine()}.",
        "",
        "Each drill runs under a steady mixed load: customers viewing tracking pages of known numbers,",
        "a shop looking parcels up over the API, two hub scanners posting events with unique ids (and",
        "retrying an unacknowledged one with the same id, as partners do), a partner that posts an event",
        "and reads its shipment back at once with the same token, and a staff user who changes a",
        "facility in the admin and reads the change page back. After each drill the writer is asked",
        "for every event id that was posted.",
        "",
        "| drill | requests | failed GETs | writes answered 503 | other failed write attempts | writes lost | writes duplicated | writes resume after the endpoint moves (s) | longest gap between acknowledged writes (s) | stale reads of own writes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for d in drills:
        f = d.figures
        resume = ", ".join("-" if s is None else f"{s:.2f}" for s in f["resume_seconds"]) or "n/a"
        lines.append(
            f"| {d.number}. {d.title} | {f['requests']} | {f['failed_gets']} of {f['gets']} | {f['writes_503']} | "
            f"{f['write_errors_other']} | {f['writes_lost']} of {f['writes_acknowledged']} | {f['writes_duplicated']} | "
            f"{resume} | {f['longest_write_gap']} | {f['stale_own_reads']} of {f['own_reads']} |"
        )
    lines += ["", "## Targets", ""]
    for d in drills:
        for target, met, figure in verdicts(d):
            lines.append(f"- drill {d.number}, {target}: **{'met' if met else 'MISSED'}** ({figure})")
    lines += ["", "## Details", ""]
    for d in drills:
        f = d.figures
        lines.append(f"### {d.number}. {d.title}")
        lines.append("")
        lines.append(
            f"- {f['writes']} event posts for {f['write_ids']} event ids, {f['writes_acknowledged']} acknowledged, "
            f"{f['writes_given_up']} given up after 15 s of retries, "
            f"{f['acknowledged_as_duplicate']} acknowledged on a retry as a duplicate (an earlier attempt that "
            "got no 2xx had been stored); failed write attempts by status: "
            f"{f['write_error_statuses'] or 'none'}; ids missing on the replica after it caught up: {f['replica_missing']}"
        )
        lines.append(
            f"- GETs failed by status: {f['failed_get_statuses'] or 'none'}; staff changes saved: {f['staff_writes']}; "
            f"reads of one's own writes: {f['own_reads']}, stale: {f['stale_own_reads']}"
        )
        lines.append(
            f"- control: right after each partner event another client (no pin) read the shipment "
            f"{f['control_reads']} times and did not see the event yet {f['control_missed']} times "
            "(expected only while the replica lags: it shows the lag was real and the check can fail)"
        )
        lines.append(f"- latency p50 {f['latency_p50']} s, p99 {f['latency_p99']} s (status 0 = no answer)")
        if f["write_pause_seconds"]:
            lines.append(
                f"- writes resumed {f['resume_seconds']} s after the cluster endpoint moved; the whole pause, "
                "from the last acknowledged write before the failover began (fencing the old writer, "
                "waiting for the replica to apply everything, promoting it) to the first one after, "
                f"was {f['write_pause_seconds']} s"
            )
        if f["resume_after_writer_back"] is not None:
            lines.append(f"- writes succeeded again {f['resume_after_writer_back']} s after the writer answered again")
        if d.actions:
            begin = min(r.started for r in d.records) if d.records else d.actions[0][0]
            timeline = "; ".join(f"{at - begin:.1f} s {what}" for at, what in d.actions)
            lines.append(f"- timeline from the first request: {timeline}")
        for note in d.notes:
            lines.append(f"- {note}")
        for example in f["examples"]:
            quoted = example.replace("`", "'")
            lines.append(f"- example: `{quoted}`")
        for message, times in sorted(d.app_log.items(), key=lambda item: -item[1])[:6]:
            quoted = message.replace("`", "'")
            lines.append(f"- the instances logged {times} x `{quoted}`")
        for target, met, figure in verdicts(d):
            if not met:
                lines.append(f"- **missed: {target}** ({figure}); see the examples above and the report's notes")
        lines.append("")
    lines += [
        "## How to rerun",
        "",
        "    make drills                                   # all five drills, rewrites this file",
        "    .venv/bin/python deploy/local/drills.py --quick   # drills 1, 3 and 5 at a reduced load",
        "",
        "The quick subset also runs inside `make test` (tests/deploy/test_drills.py), asserting the",
        "targets that do not depend on timing. Each run starts its own stack on free ports in a",
        "temporary directory and stops it at the end; see docs/stack.md to run the stack by hand.",
        "",
    ]
    return "\n".join(lines)


DRILLS = [
    (1, "reader", "reader stopped, then restarted"),
    (2, "writer", "writer stopped, then restarted"),
    (3, "failover", "failover while writes continue, then failback"),
    (4, "zone", "app instance az-a killed (SIGKILL), then restarted"),
    (5, "lag", "replication lag of 10 s while staff and partners write and read back"),
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="drills 1, 3 and 5 at a reduced load")
    parser.add_argument("--drills", help="comma-separated drill numbers (default: all, or 1,3,5 with --quick)")
    parser.add_argument("--report", type=Path, help="write the Markdown report here (docs/reliability.md)")
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    parser.add_argument("--keep", action="store_true", help="leave the stack running at the end (to look around)")
    args = parser.parse_args(argv)
    chosen = {1, 3, 5} if args.quick else {1, 2, 3, 4, 5}
    if args.drills:
        chosen = {int(n) for n in args.drills.split(",")}
    scale, phase, shipments = (0.5, 5.0, 120) if args.quick else (1.0, 8.0, 400)

    signal.signal(signal.SIGTERM, _on_sigterm)
    started = datetime.now(UTC)
    clock = time.monotonic()
    directory = Path(tempfile.mkdtemp(prefix="phoenix-drills."))
    stack = Stack(directory / "stack")
    drills = [Drill(n, name, title) for n, name, title in DRILLS if n in chosen]
    budget = [MAX_REQUESTS]
    try:
        print(f"starting a stack in {stack.dir}", file=sys.stderr, flush=True)
        stack.start(shipments=shipments)
        data = prepare(stack)
        print(f"  stack ready after {time.monotonic() - clock:.0f} s", file=sys.stderr, flush=True)
        for drill in drills:
            run_drill(stack, drill=drill, data=data, scale=scale, phase=phase, budget=budget)
            f = drill.figures
            print(
                f"  after {time.monotonic() - clock:.0f} s: requests {f['requests']}, failed GETs {f['failed_gets']}, writes 503 {f['writes_503']}, "
                f"lost {f['writes_lost']}, duplicated {f['writes_duplicated']}, resume {f['resume_seconds']}, "
                f"stale own reads {f['stale_own_reads']}",
                file=sys.stderr,
                flush=True,
            )
    finally:
        if args.keep:
            print(f"the stack keeps running: deploy/local/stack.sh stop {stack.dir}", file=sys.stderr)
        else:
            stack.stop()
            shutil.rmtree(directory, ignore_errors=True)
    elapsed = time.monotonic() - clock
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "elapsed": elapsed,
                    "drills": [
                        {
                            "number": d.number,
                            "name": d.name,
                            "figures": d.figures,
                            "notes": d.notes,
                            "actions": d.actions,
                            "app_log": d.app_log,
                            "verdicts": verdicts(d),
                            "records": [asdict(r) for r in d.records],
                        }
                        for d in drills
                    ],
                },
                indent=1,
            )
        )
    if args.report:
        args.report.write_text(report(drills, quick=args.quick, elapsed=elapsed, started=started))
        print(f"wrote {args.report}", file=sys.stderr)
    missed = [(d.number, t) for d in drills for t, met, _f in verdicts(d) if not met]
    for number, target in missed:
        print(f"drill {number}: target missed: {target}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
