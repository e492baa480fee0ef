"""A busy database (lock wait, deadlock, a statement past its budget) answers 503, never 500.

Real locks on the real writer: a root session holds shipment rows with ``SELECT ... FOR UPDATE``
while the app's event ingest wants them. Real budgets: ``SELECT SLEEP()`` through a test view
runs past the lane's ``max_statement_time`` and the server kills it.
"""

import contextlib
import json
import os
import secrets
import threading
import time
import uuid
from datetime import UTC, datetime

import MySQLdb
import pytest

from tests.live import LiveApp

pytestmark = pytest.mark.cluster

WAIT = 60  # seconds: only ends a hung test, never a measure


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app = LiveApp.start(
        tmp_path_factory.mktemp("busy"),
        extra_env={
            "PHOENIX_MAX_REPLICA_LAG": "0",  # the failure under test decides where reads go
            "PHOENIX_DB_LOCK_WAIT_TIMEOUT": "2",
            "PHOENIX_DB_STATEMENT_MS_PUBLIC": "500",
            "PHOENIX_DB_STATEMENT_MS_API": "1500",
        },
    )
    yield app
    app.stop()


@pytest.fixture(scope="module")
def shipments(app):
    return app.seed(2)


@pytest.fixture(scope="module")
def token(app):
    (code,) = app.writer_sql(f"SELECT code FROM `{app.database}`.tracking_facility ORDER BY code LIMIT 1")[0]
    output = app.manage("create_partner", f"Busy scanner {secrets.token_hex(3)}", "--hub", code).stdout
    return next(line for line in output.splitlines() if line.startswith("phx_")), code


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


@contextlib.contextmanager
def _root(app: LiveApp):
    connection = MySQLdb.connect(unix_socket=os.environ["PHOENIX_WRITER_SOCKET"], user="root", database=app.database)
    try:
        yield connection
    finally:
        with contextlib.suppress(MySQLdb.Error):
            connection.rollback()
        connection.close()


def _lock(connection, number: str) -> None:
    cursor = connection.cursor()
    cursor.execute("BEGIN")
    cursor.execute("SELECT id FROM tracking_shipment WHERE tracking_number = %s FOR UPDATE", [number])


def _post(app: LiveApp, token, numbers: list[str], event_id: str):
    key, code = token
    events = [
        {
            "id": f"{event_id}-{n}",
            "tracking_number": number,
            "milestone": "in_transit",
            "occurred_at": datetime.now(UTC).isoformat(),
            "facility": code,
        }
        for n, number in enumerate(numbers)
    ]
    return app.client().post(
        "/api/v1/events",
        json_body={"events": events},
        headers={"Authorization": f"Token {key}", "Accept": "application/json"},
    )


def _stored(app: LiveApp, event_id: str) -> int:
    (count,) = app.writer_sql(
        f"SELECT COUNT(*) FROM `{app.database}`.tracking_trackingevent WHERE partner_event_id LIKE %s",
        [f"{event_id}-%"],
    )[0]
    return count


def _app_waits_for_a_lock(app: LiveApp) -> bool:
    """Return True while one of the app's sessions runs a locking read (it waits for a held row)."""
    rows = app.writer_sql(
        "SELECT COUNT(*) FROM information_schema.processlist "
        "WHERE user = 'phoenix' AND command = 'Query' AND info LIKE '%%FOR UPDATE%%'"
    )
    return rows[0][0] > 0


def _in_background(function):
    result = {}
    thread = threading.Thread(target=lambda: result.update(answer=function()), daemon=True)
    thread.start()
    return thread, result


def test_a_lock_held_past_the_wait_answers_a_retryable_503_and_stores_nothing(app, shipments, token):
    event_id = f"busy-{uuid.uuid4().hex}"
    with _root(app) as holder:
        _lock(holder, shipments[0])
        answer = _post(app, token, [shipments[0]], event_id)
    assert answer.status == 503, answer.body[:300]
    assert answer.headers["Retry-After"].isdigit()
    assert answer.json()["error"]["code"] == "busy"
    assert _stored(app, event_id) == 0
    # Retried once inside the request before the 503 (two waits for the lock, one warning).
    assert any("retrying once" in entry.get("message", "") for entry in app.log_records())
    # The partner retries with the same id once the lock is gone: stored exactly once.
    again = _post(app, token, [shipments[0]], event_id)
    assert again.status == 200, again.body[:300]
    assert again.json()["results"][0]["status"] == "accepted"
    assert _stored(app, event_id) == 1


def test_a_lock_wait_timeout_is_retried_once_inside_the_request(app, shipments, token):
    event_id = f"retry-{uuid.uuid4().hex}"
    before = sum("retrying once" in entry.get("message", "") for entry in app.log_records())
    with _root(app) as holder:
        _lock(holder, shipments[0])
        thread, result = _in_background(lambda: _post(app, token, [shipments[0]], event_id))
        # The first attempt timed out on the lock (the app says it retries): let the retry in.
        _until(
            lambda: sum("retrying once" in entry.get("message", "") for entry in app.log_records()) > before,
            "the ingest retried after a lock wait timeout",
        )
        holder.rollback()
        thread.join(WAIT)
    answer = result["answer"]
    assert answer.status == 200, answer.body[:300]
    assert answer.json()["results"][0]["status"] == "accepted"
    assert _stored(app, event_id) == 1


def test_a_deadlock_is_retried_and_the_events_stored_once(app, shipments, token):
    first, second = sorted(
        shipments,
        key=lambda number: app.writer_sql(
            f"SELECT id FROM `{app.database}`.tracking_shipment WHERE tracking_number = %s", [number]
        )[0][0],
    )
    event_id = f"deadlock-{uuid.uuid4().hex}"
    app.writer_sql(f"CREATE TABLE IF NOT EXISTS `{app.database}`.ballast (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
    with _root(app) as holder:
        cursor = holder.cursor()
        cursor.execute("BEGIN")
        # Heavier than the app's transaction (rows changed in a table the app never touches), so
        # InnoDB picks the app's transaction as the deadlock victim.
        cursor.executemany("INSERT INTO ballast (v) VALUES (%s)", [(n,) for n in range(200)])
        cursor.execute("UPDATE tracking_shipment SET reference = reference WHERE tracking_number = %s", [second])
        # The app locks the shipments in id order: it takes the first and waits for the second.
        thread, result = _in_background(lambda: _post(app, token, [first, second], event_id))
        _until(
            lambda: _app_waits_for_a_lock(app) or not thread.is_alive(), "the app waits for the second shipment's lock"
        )
        assert thread.is_alive(), (result["answer"].status, result["answer"].body[:300])
        time.sleep(0.2)  # the statement locks the first row at once, then waits on the second
        # Now the holder wants the first: a cycle; InnoDB rolls the app's transaction back (1213).
        cursor.execute("SELECT id FROM tracking_shipment WHERE tracking_number = %s FOR UPDATE", [first])
        holder.commit()
        thread.join(WAIT)
    answer = result["answer"]
    assert answer.status == 200, answer.body[:300]
    assert [item["status"] for item in answer.json()["results"]] == ["accepted", "accepted"]
    assert _stored(app, event_id) == 2
    messages = [entry.get("message", "") for entry in app.log_records()]
    assert any("retrying once" in m and "1213" in m for m in messages), messages[-5:]


def test_a_runaway_page_query_is_killed_by_its_budget_and_answers_503(app):
    page = app.client().get("/_live/sleep?seconds=5")
    assert page.status == 503, page.body[:300]
    assert page.headers["Retry-After"].isdigit()
    assert "text/html" in page.headers["Content-Type"]
    messages = [entry.get("message", "") for entry in app.log_records()]
    assert any("database busy for GET /_live/sleep" in m and "1969" in m for m in messages), messages[-5:]
    # Busy is not down: the reader was not marked down, the next page read is served by it.
    assert not any("reader marked down" in m for m in messages)


def test_the_partner_api_has_a_longer_budget_than_public_pages(app):
    client = app.client()
    # One second: past the public pages' 0.5 s, within the API's 1.5 s.
    assert client.get("/_live/sleep?seconds=1").status == 503
    api = client.get("/api/_live/sleep?seconds=1")
    assert api.status == 200, api.body[:300]
    assert json.loads(api.body)["slept"] == 0  # SLEEP() ran to its end
    runaway = client.get("/api/_live/sleep?seconds=5")
    assert runaway.status == 503
    assert runaway.json()["error"]["code"] == "busy"
