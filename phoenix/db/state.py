"""Routing state of the current request or task, kept in context variables.

Context variables (not thread locals) so that the state follows a request through
``sync_to_async``/``async_to_sync`` hops and never leaks from one request to the next request
that the same gunicorn thread serves. Pure Python: no Django imports, so the database backend
can use it.

- ``scope()`` opens a fresh state for one request or task (the middleware opens one per request;
  a background task should run in one too: ``with scope():`` or ``@scope()`` on the task). Outside any scope a state is created lazily for
  the current context: a management command that writes then reads its own rows from the
  writer for the rest of the command, which is the safe default.
- ``use_writer()`` sends the reads inside it to the writer; it nests and restores the outer
  state exactly on the way out.
"""

import contextvars
import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

WRITER = "default"
READER = "reader"

# Reasons a read went to the writer, as they appear in the request log line.
WROTE = "wrote"  # this request or task wrote earlier
COOKIE = "cookie"  # the browser holds a valid phoenix_pin cookie
SERVER_PIN = "server_pin"  # pin_key(): the client identity wrote within PHOENIX_PIN_SECONDS
USE_WRITER = "use_writer"  # inside use_writer()
TRANSACTION = "transaction"  # a transaction is open on the writer
READER_DOWN = "reader_down"  # the reader is marked down (or failed and the read was retried)
NO_READER = "no_reader"  # no reader configured
READER_LAG = "reader_lag"  # the replica is too far behind, or its lag is unknown (phoenix/db/lag.py)
SESSION = "session"  # sessions are read from the writer (see router.WRITER_ONLY_APPS)
# Lanes (phoenix/db/lanes.py): the public site, the partner API, the staff admin; OTHER is
# anything outside a request (management commands, the notifications worker).
PUBLIC = "public"
API = "api"
ADMIN = "admin"
OTHER = "other"
# Reasons a read went to the reader although the writer was wanted.
WRITER_DOWN = "writer_down"  # the writer failed; a pinned read was served, possibly stale, by the reader


@dataclass
class RouteState:
    """What one request or task did with the databases."""

    pins: set[str] = field(default_factory=set)  # why reads go to the writer (COOKIE, SERVER_PIN, WROTE)
    wrote: bool = False
    pin_keys: list[str] = field(default_factory=list)  # server-side identities declared by pin_key()
    queries: dict[str, int] = field(default_factory=dict)  # alias -> statements executed
    reasons: dict[str, set[str]] = field(default_factory=dict)  # alias -> why it served reads
    bookkeeping: int = 0  # depth of bookkeeping() blocks: their writes pin nothing
    lane: str = OTHER  # whose request this is (phoenix/db/lanes.py): sets the statement budget

    def note(self, alias: str, reason: str) -> None:
        self.reasons.setdefault(alias, set()).add(reason)

    def summary(self) -> dict[str, Any]:
        """Return which aliases served this request and why, for the log line."""
        aliases = sorted(set(self.queries) | set(self.reasons))
        return {
            alias: {"queries": self.queries.get(alias, 0), "why": sorted(self.reasons.get(alias, ()))}
            for alias in aliases
        }


_state: contextvars.ContextVar[RouteState | None] = contextvars.ContextVar("phoenix_db_state", default=None)
_writer_depth: contextvars.ContextVar[int] = contextvars.ContextVar("phoenix_db_writer_depth", default=0)


def current() -> RouteState:
    """Return the state of the current request or task, creating one outside any scope."""
    state = _state.get()
    if state is None:
        state = RouteState()
        _state.set(state)
    return state


@contextmanager
def scope() -> Iterator[RouteState]:
    """Run a request or task with a fresh routing state, restoring the previous one after."""
    token = _state.set(RouteState())
    depth_token = _writer_depth.set(0)
    try:
        yield _state.get()
    finally:
        _writer_depth.reset(depth_token)
        _state.reset(token)


def lane_of(path: str) -> str:
    """Return the lane of a request path: the partner API, the staff admin, or the public site."""
    if path.startswith("/api/"):
        return API
    if path.startswith("/admin/"):
        return ADMIN
    return PUBLIC


def pin(reason: str) -> None:
    """Send the rest of this request's reads to the writer."""
    current().pins.add(reason)


def note_write() -> None:
    """Record that this request or task wrote: its later reads go to the writer."""
    state = current()
    if state.bookkeeping:
        return
    state.wrote = True
    state.pins.add(WROTE)


@contextmanager
def bookkeeping() -> Iterator[None]:
    """Run writes that change no data the client reads back (rate-limit counters): they pin
    neither the request nor the client to the writer."""
    state = current()
    state.bookkeeping += 1
    try:
        yield
    finally:
        state.bookkeeping -= 1


def note_query(alias: str) -> None:
    """Count a statement run on ``alias`` (only inside a scope: nothing to report outside)."""
    state = _state.get()
    if state is not None:
        state.queries[alias] = state.queries.get(alias, 0) + 1


def writer_depth() -> int:
    """Return how many ``use_writer()`` blocks enclose the current code."""
    return _writer_depth.get()


class use_writer:
    """Send every read inside to the writer. Nestable; a context manager and a decorator.

        with use_writer():
            ...

        @use_writer()
        def f(): ...

    Each ``with`` restores exactly the depth it found, whatever happens inside.
    """

    def __init__(self) -> None:
        self._tokens: list[contextvars.Token] = []

    def __enter__(self) -> "use_writer":
        self._tokens.append(_writer_depth.set(_writer_depth.get() + 1))
        return self

    def __exit__(self, *exc_info) -> None:
        _writer_depth.reset(self._tokens.pop())

    def __call__(self, func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            # A fresh context manager per call, so that concurrent calls never share tokens.
            with use_writer():
                return func(*args, **kwargs)

        return wrapper


# Aliases marked down, process-wide (every thread of a gunicorn worker shares them).
_down_until: dict[str, float] = {}
_down_lock = threading.Lock()


def mark_down(alias: str, seconds: float) -> None:
    """Mark ``alias`` unusable for ``seconds`` in this process."""
    with _down_lock:
        _down_until[alias] = time.monotonic() + seconds


def mark_up(alias: str) -> None:
    with _down_lock:
        _down_until.pop(alias, None)


def is_down(alias: str) -> bool:
    """Return True while ``alias`` is marked down."""
    with _down_lock:
        until = _down_until.get(alias)
        if until is None:
            return False
        if time.monotonic() >= until:
            del _down_until[alias]
            return False
        return True
