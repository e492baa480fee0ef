"""Middleware: health checks, per-request routing state and pins, 503 on writer failure.

Order in settings.MIDDLEWARE:

    "phoenix.db.middleware.HealthCheckMiddleware",      # first: before ALLOWED_HOSTS and HTTPS redirects
    "django.middleware.security.SecurityMiddleware",
    "tracking.cutover.maintenance.MaintenanceMiddleware",        # write freeze (reads the writer directly)
    "phoenix.db.middleware.DatabaseRoutingMiddleware",  # outside the session middleware
    "phoenix.db.middleware.SessionMiddleware",          # Django's, tolerant of a down writer on reads
    ...
"""

import hmac
import ipaddress
import json
import logging
import threading
import time

from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from phoenix.clientip import client_ip
from phoenix.db import health, lag, pinning, state
from phoenix.db.errors import WriterUnavailable, is_busy, is_lost
from phoenix.db.state import READER, WRITER
from phoenix.logfilters import redacted_path

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
# A busy answer (a lock wait, a deadlock, a statement past its budget, a lane or queue full)
# passes in a moment: retry sooner.
BUSY_RETRY_AFTER_SECONDS = 2
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def is_unavailable(exc: BaseException) -> bool:
    """Return True for failures that mean "the database is not there", not "the query is wrong"."""
    return isinstance(exc, WriterUnavailable) or (isinstance(exc, DatabaseError) and is_lost(exc))


def unavailable_response(request: HttpRequest, exc: BaseException | None = None) -> HttpResponse:
    """Return a 503 with Retry-After: JSON under /api/, a short HTML page elsewhere."""
    if exc is None or isinstance(exc, WriterUnavailable):
        error = {"code": "writer_unavailable", "message": "Changes cannot be saved right now; retry shortly."}
    else:  # the reader failed and the writer could not stand in (both are down)
        error = {"code": "database_unavailable", "message": "The database is unavailable; retry shortly."}
    return _retry_later(request, error, "phoenix_db/unavailable.html", RETRY_AFTER_SECONDS)


def busy_response(request: HttpRequest) -> HttpResponse:
    """Return a 503 with Retry-After for "busy, try again in a moment": JSON under /api/, HTML elsewhere.

    For a statement the database refused for now (lock wait timeout, deadlock, statement budget;
    errors.BUSY_CODES) and for a request shed at the edge (phoenix/db/lanes.py). Nothing is
    marked down: the servers are fine, this request came at a bad moment.
    """
    error = {"code": "busy", "message": "The service is busy; retry shortly."}
    return _retry_later(request, error, "phoenix_db/busy.html", BUSY_RETRY_AFTER_SECONDS)


def _retry_later(request: HttpRequest, error: dict, template: str, seconds: int) -> HttpResponse:
    if request.path_info.startswith("/api/"):
        response = JsonResponse({"error": error}, status=503)
    else:
        response = HttpResponse(render_to_string(template), status=503)
    response["Retry-After"] = str(seconds)
    response["Cache-Control"] = "no-store"
    return response


class HealthCheckMiddleware:
    """Answer /healthz (no database) and /readyz before anything checks the Host header.

    The ALB's health checker sends the instance's private IP as Host, which ALLOWED_HOSTS
    rightly refuses everywhere else.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info.rstrip("/")
        if path == "/healthz":
            return HttpResponse("ok", content_type="text/plain")
        if path == "/readyz":
            if not readyz_allowed(request):
                # The same answer as any unknown path: nothing to learn about the databases.
                return HttpResponse("Not found", status=404, content_type="text/plain")
            return readyz()
        return self.get_response(request)


def readyz_allowed(request: HttpRequest) -> bool:
    """Return True for the load balancer's health checks and operators.

    Either the client address (phoenix/clientip.py: the socket peer for the ALB's own health
    checker, which sends no X-Forwarded-For; the address the ALB appended otherwise) is within
    PHOENIX_READYZ_NETWORKS, or the request carries the shared secret PHOENIX_READYZ_TOKEN in
    the ``X-Readyz-Token`` header. The ALB's health check can send only a path, so it is let in
    by its network.
    """
    from django.conf import settings

    secret = settings.PHOENIX_READYZ_TOKEN
    given = request.META.get("HTTP_X_READYZ_TOKEN", "")
    if secret and given and hmac.compare_digest(given.encode(), secret.encode()):
        return True
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(network, strict=False) for network in settings.PHOENIX_READYZ_NETWORKS)


# The last probe's answer in this process: (monotonic time, status, body). Two hundred requests
# within PHOENIX_READYZ_CACHE_SECONDS share one probe instead of opening two hundred connections.
_readyz_last: tuple[float, int, dict] | None = None
_readyz_lock = threading.Lock()


def readyz_cache_clear() -> None:
    global _readyz_last
    with _readyz_lock:
        _readyz_last = None


def readyz() -> HttpResponse:
    """Return writer and reader state; 200 when the writer is writable, else 503.

    The reader's part includes this process's view of its lag (``lag_seconds``, None when
    unknown) and whether reads avoid it for lag (``shunned``); a lagging reader does not make
    the instance unready, its reads go to the writer.
    """
    global _readyz_last
    from django.conf import settings

    ttl = settings.PHOENIX_READYZ_CACHE_SECONDS
    with _readyz_lock:  # one probe at a time per process; the others wait for its answer
        now = time.monotonic()
        if _readyz_last is not None and ttl > 0 and now - _readyz_last[0] < ttl:
            _at, status, body = _readyz_last
        else:
            writer = health.probe(WRITER)
            body = {"ready": bool(writer.writable), "writer": writer.as_public_dict()}
            if READER in settings.DATABASES:
                body["reader"] = {**health.probe(READER).as_public_dict(), **lag.monitor.public()}
            if not writer.writable:
                logger.warning("not ready: the writer is %s %s", writer.role, writer.error)
            status = 200 if writer.writable else 503
            _readyz_last = (time.monotonic(), status, body)
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseRoutingMiddleware:
    """Give each request a fresh routing state, honour and issue pins, log where it read."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        with state.scope() as current:
            current.lane = state.lane_of(request.path_info)  # the statement budget of its queries
            if pinning.cookie_is_valid(request.COOKIES.get(pinning.COOKIE_NAME)):
                state.pin(state.COOKIE)
            response = self.get_response(request)
            if current.wrote and pinning.enabled():
                pinning.set_cookie(response)
                if current.pin_keys:
                    pinning.mark_keys(current.pin_keys)
            path = redacted_path(request.path)
            logger.info(
                "%s %s %s db=%s",
                request.method,
                path,
                response.status_code,
                json.dumps(current.summary(), sort_keys=True),
                extra={
                    "method": request.method,
                    "path": path,
                    "status": response.status_code,
                    "db": current.summary(),
                    "pins": sorted(current.pins),
                    "wrote": current.wrote,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                },
            )
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DatabaseError) and is_busy(exception):
            logger.warning("database busy for %s %s: %s", request.method, request.path, exception)
            return busy_response(request)
        if not is_unavailable(exception):
            return None
        logger.warning("database unavailable for %s %s: %s", request.method, redacted_path(request.path), exception)
        return unavailable_response(request, exception)


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's session middleware, except that a page that only read still answers when the
    writer is down and the session cannot be saved (the save is skipped, the page is served)."""

    def process_response(self, request, response):
        try:
            return super().process_response(request, response)
        except Exception as exc:
            # Django reports a failed save as UpdateError -> SessionInterrupted (400); look for
            # the database failure underneath.
            cause = _unavailable_cause(exc)
            if cause is None:
                raise
            if request.method in SAFE_METHODS and response.status_code < 500:
                logger.warning("session not saved, the writer is unavailable: %s", cause)
                return response
            return unavailable_response(request, cause)


def _unavailable_cause(exc: BaseException | None) -> BaseException | None:
    """Return the "database not there" failure in ``exc``'s chain, if there is one."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if is_unavailable(exc):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None
