"""The drills' load: threads that send a steady mixed load to the stack, recording every request."""

from __future__ import annotations

import http.client
import json
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from deploy.local.lab.load import Client, form_fields, request
from deploy.local.reliability.stack import Stack

REQUEST_TIMEOUT = 15.0
STAFF_FORM = "facility_form"  # the admin's change form of a facility


@dataclass
class Record:
    """One request the load sent, and what came of it."""

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


def _browse(browser: Client, method: str, path: str, form: dict | None = None) -> tuple[int, dict, str]:
    """Send a request as the staff user's browser (no redirects followed); return (status, headers,
    body text) as ``request`` does, status 0 when no answer came."""
    try:
        response = browser.request(method, path, data=form, follow=False)
    except (OSError, http.client.HTTPException) as exc:
        return 0, {}, f"{type(exc).__name__}: {exc}"
    return response.status, response.headers, response.body


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
        """Start every actor's threads."""
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
        """Stop the threads (retries in flight get ``grace`` s to end); return every record."""
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
            status, headers, text = _browse(browser, method, path, **kwargs)
        else:
            status, headers, text = request(self.host, method, path, timeout=REQUEST_TIMEOUT, **kwargs)
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
            browser = state["browser"] = Client(f"http://{self.host}", timeout=REQUEST_TIMEOUT)
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
        fields = form_fields(text, STAFF_FORM)
        value = f"Drill {uuid.uuid4().hex[:12]}"
        fields.update(address=value, _continue="1")
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
            shown = form_fields(text, STAFF_FORM).get("address")
            if shown != value:
                record.stale = True
                record.detail = f"read back {shown!r}, wrote {value!r}"
        self._record(record)

    def _staff_login(self, browser: Client) -> bool:
        record, _headers, text = self._timed("staff_read", "GET", "/admin/login/", browser=browser)
        self._record(record)
        if record.status != 200:
            return False
        form = {
            "username": self.data["admin_user"],
            "password": self.data["admin_password"],
            "csrfmiddlewaretoken": form_fields(text, "login-form").get("csrfmiddlewaretoken", ""),
            "next": "/admin/",
        }
        record, headers, _text = self._timed("staff_login", "POST", "/admin/login/", browser=browser, form=form)
        record.acknowledged = record.status == 302
        self._record(record)
        if not record.acknowledged:
            self.staff_error = f"staff login answered {record.status}: {record.detail}"
        return record.acknowledged
