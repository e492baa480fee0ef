"""Shared budgets: points a client spends per fixed window, counted for every process at once.

The lookup budget (against enumeration of tracking numbers) and the API's request throttles
count here. Each client has one ``RateCounter`` row per window on the writer, so every gunicorn
process and every instance behind the load balancer adds to the same total. The row is bumped
with one atomic statement that also returns the new total (MariaDB: ``INSERT ... ON DUPLICATE
KEY UPDATE points = LAST_INSERT_ID(points + n)``; SQLite: ``... RETURNING``).

Not every point is a round trip to the writer: each process keeps what it spent since it last
wrote and writes once PHOENIX_BUDGET_SYNC_POINTS (10) have gathered. A miss of the lookup
budget (and a failed token check) always reaches the writer at once; an honest visitor's hits (1 point
each) are written every tenth page. A process decides with the total the writer last told it
plus its own unwritten points, so the overshoot is bounded: per process, one request past the
limit plus fewer than PHOENIX_BUDGET_SYNC_POINTS points.

The writes are bookkeeping (phoenix.db.state.bookkeeping): they pin neither the request nor
the client to the writer. While the writer is unavailable a process counts alone (logged),
which is how every process counted before.
"""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import DatabaseError, connections
from django.http import HttpRequest

from phoenix.clientip import client_ip
from phoenix.db import state
from tracking.models import RateCounter
from tracking.services import WRITER

logger = logging.getLogger(__name__)

# How often (seconds) a process deletes the rows of windows that have ended.
CLEANUP_SECONDS = 60


@dataclass
class _Entry:
    shared: int  # the total the writer returned at this process's last write
    pending: int  # points spent in this process since then
    expires: float  # end of the window (epoch seconds)


_entries: dict[str, _Entry] = {}
_lock = threading.Lock()
_last_cleanup = 0.0


@dataclass(frozen=True)
class Window:
    """One client's fixed window of a budget: its counter's key and when it ends."""

    key: str
    ends: float

    @classmethod
    def of(cls, scope: str, ident: str, seconds: int, now: float | None = None) -> "Window":
        seconds = max(int(seconds), 1)
        now = time.time() if now is None else now
        index = int(now // seconds)
        return cls(f"{scope}:{ident}:{index}"[:150], (index + 1) * seconds)

    def reset_after(self, now: float | None = None) -> int:
        """Return the whole seconds until the window ends (at least 1)."""
        return max(int(self.ends - (time.time() if now is None else now) + 0.999), 1)


def spent(window: Window) -> int:
    """Return the points spent in ``window`` as far as this process knows."""
    with _lock:
        entry = _entries.get(window.key)
        return entry.shared + entry.pending if entry else 0


def spend(window: Window, points: int, *, sync: bool = False) -> int:
    """Add ``points`` to the window and return its total as far as this process knows.

    The points reach the writer once PHOENIX_BUDGET_SYNC_POINTS have gathered, or at once with
    ``sync``.
    """
    if points <= 0:
        return spent(window)
    with _lock:
        entry = _entries.setdefault(window.key, _Entry(shared=0, pending=0, expires=window.ends))
        entry.pending += points
        if entry.pending < settings.PHOENIX_BUDGET_SYNC_POINTS and not sync:
            return entry.shared + entry.pending
        pending = entry.pending
        entry.pending = 0
    total = _write(window, pending)
    with _lock:
        entry = _entries.setdefault(window.key, _Entry(shared=0, pending=0, expires=window.ends))
        if total is None:  # the writer is unavailable: count here alone
            entry.shared += pending
        else:
            entry.shared = max(entry.shared, total)
        return entry.shared + entry.pending


def forget() -> None:
    """Drop this process's view of every budget (tests start each with a full budget)."""
    with _lock:
        _entries.clear()


def _write(window: Window, points: int) -> int | None:
    """Add ``points`` to the window's row on the writer; return the new total, or None."""
    if state.is_down(WRITER):
        return None
    table = RateCounter._meta.db_table
    expires = datetime.fromtimestamp(window.ends, tz=UTC)
    connection = connections[WRITER]
    try:
        with state.bookkeeping(), connection.cursor() as cursor:
            if connection.vendor == "mysql":
                cursor.execute(
                    f"INSERT INTO {table} (`key`, points, expires_at) VALUES (%s, LAST_INSERT_ID(%s), %s)"
                    " ON DUPLICATE KEY UPDATE points = LAST_INSERT_ID(points + %s)",
                    [window.key, points, expires, points],
                )
                total = cursor.lastrowid
            else:
                cursor.execute(
                    f'INSERT INTO {table} ("key", points, expires_at) VALUES (%s, %s, %s)'
                    " ON CONFLICT (key) DO UPDATE SET points = points + excluded.points RETURNING points",
                    [window.key, points, expires],
                )
                total = cursor.fetchone()[0]
        _cleanup()
    except DatabaseError as exc:
        logger.warning("budget %s counted in this process only, the writer is unavailable: %s", window.key, exc)
        return None
    return int(total)


def _cleanup() -> None:
    """Delete ended windows, on the writer and here, at most once per CLEANUP_SECONDS."""
    global _last_cleanup
    now = time.time()
    if now - _last_cleanup < CLEANUP_SECONDS:
        return
    _last_cleanup = now
    with _lock:
        for key in [key for key, entry in _entries.items() if entry.expires <= now]:
            del _entries[key]
    with state.bookkeeping():
        RateCounter.objects.using(WRITER).filter(expires_at__lte=datetime.fromtimestamp(now, tz=UTC)).delete()


# --- The lookup budget ------------------------------------------------------------------------


def lookup_window(request: HttpRequest) -> Window:
    """The window of the client's lookup budget: per partner for a partner's token (a DRF
    request's ``auth``), else per client address."""
    token = getattr(request, "auth", None)
    ident = f"partner-{token.partner_id}" if token is not None else client_ip(request)
    return Window.of("lookup", ident, settings.PHOENIX_LOOKUP_WINDOW)


def lookup_retry_after(request: HttpRequest) -> int:
    """Return the seconds until the client may look up again, or 0 when it still has budget."""
    window = lookup_window(request)
    points = spent(window)
    if points >= settings.PHOENIX_LOOKUP_BUDGET:
        logger.info("lookup budget spent for %s (%s points)", window.key, points)
        return window.reset_after()
    return 0


def lookup_charge(request: HttpRequest, *, hits: int = 0, misses: int = 0) -> None:
    """Spend the client's budget: one point per hit, PHOENIX_LOOKUP_MISS_COST per miss."""
    # A miss is what a guesser spends: it reaches every process at once.
    spend(lookup_window(request), hits + misses * settings.PHOENIX_LOOKUP_MISS_COST, sync=misses > 0)


def lookup_remaining(request: HttpRequest) -> tuple[int, int]:
    """Return the points left in the client's lookup budget and the seconds until it refills."""
    window = lookup_window(request)
    return max(settings.PHOENIX_LOOKUP_BUDGET - spent(window), 0), window.reset_after()
