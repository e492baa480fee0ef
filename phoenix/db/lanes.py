"""Lanes: the public site, the partner API and the staff admin, kept from starving each other.

Every request belongs to one lane by its path (``state.lane_of``: /api/ is the partner API,
/admin/ the staff admin, anything else the public site; /healthz never gets this far, the
gunicorn worker answers it). Per lane:

- a statement budget (PHOENIX_DB_STATEMENT_MS_<LANE>): the server kills a statement that runs
  longer; the backend sets it on the connection (phoenix/db/backends/mysql/base.py);
- a bulkhead: at most PHOENIX_LANE_THREADS_<LANE> requests of the lane in flight per process.
  One more is answered 503 with Retry-After at once, without touching a database, so a flood
  of page views always leaves threads to the scanners' writes, and the other way round;
- a queue bound: a request that waited longer than PHOENIX_MAX_QUEUE_MS in gunicorn's queue
  for a free thread (the worker stamps each connection when it queues it, see
  phoenix/gunicorn_worker.py) is answered 503 at once. By then its client or the load balancer
  is close to giving up, and doing its work would only make the queue behind it longer.

Static files are never counted nor shed (a browser fetches several at once with each page).
The default bulkheads leave one thread of the process (GUNICORN_THREADS) to the other lanes:
public and API at most threads - 1 each, the admin at most half.
"""

import logging
import threading
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from phoenix.db import state
from phoenix.db.middleware import busy_response

logger = logging.getLogger(__name__)

# The environ key the gunicorn worker sets: seconds the request waited for a free thread.
QUEUED_SECONDS = "phoenix.queued_seconds"

_in_flight: dict[str, int] = {}
_lock = threading.Lock()


def in_flight(lane: str) -> int:
    """Return how many requests of ``lane`` this process is serving now."""
    with _lock:
        return _in_flight.get(lane, 0)


def _enter(lane: str) -> bool:
    limit = settings.PHOENIX_LANE_THREADS.get(lane, 0)
    with _lock:
        current = _in_flight.get(lane, 0)
        if limit and current >= limit:
            return False
        _in_flight[lane] = current + 1
        return True


def _leave(lane: str) -> None:
    with _lock:
        _in_flight[lane] -= 1


class LaneMiddleware:
    """Shed a request whose lane is full, or that waited too long for a thread: 503 at once."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(settings.STATIC_URL):
            # Static files (WhiteNoise, from memory) hold a thread for microseconds, and a
            # browser asks for several at once with the page: never shed them.
            return self.get_response(request)
        lane = state.lane_of(request.path_info)
        queued = request.META.get(QUEUED_SECONDS)
        limit = settings.PHOENIX_MAX_QUEUE_MS / 1000
        if limit > 0 and isinstance(queued, float) and queued > limit:
            logger.warning("shed %s %s: it waited %.2f s for a thread", request.method, request.path, queued)
            return busy_response(request)
        if not _enter(lane):
            logger.warning("shed %s %s: the %s lane is full", request.method, request.path, lane)
            return busy_response(request)
        try:
            return self.get_response(request)
        finally:
            _leave(lane)
