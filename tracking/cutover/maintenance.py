"""The maintenance switch: a short write freeze that keeps reads working.

While the switch is on, every write request (POST, PUT, PATCH, DELETE: pages, the admin and the
API) is answered with 503, a ``Retry-After`` header and a plain message (JSON under /api/),
before any view runs. GET and HEAD are served as usual. Staff may still log in to and out of
the admin, so that they can read during the freeze; the admin refuses their changes.

The switch is one row on the writer (tracking.MaintenanceSwitch), so ``manage.py maintenance
on`` reaches every instance behind the load balancer without a restart. Each process reads it
at most once per PHOENIX_MAINTENANCE_CACHE_SECONDS (2 s): a request costs a dictionary lookup.
When the row cannot be read (database down, table not migrated yet), the last value read is
kept.

Goes in MIDDLEWARE right after SecurityMiddleware: refused writes never reach the session,
CSRF, routing or the views.
"""

import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from tracking.models import MaintenanceSwitch

logger = logging.getLogger(__name__)

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
SWITCH_ID = 1
# Refusals run before LocaleMiddleware, so the default notice carries both languages; an
# operator's --message replaces it.
DEFAULT_MESSAGE = (
    "Phoenix está en mantenimiento unos minutos: los cambios están en pausa, el rastreo funciona. "
    "Phoenix is in maintenance for a few minutes: changes are paused, tracking still works."
)


@dataclass(frozen=True)
class MaintenanceState:
    enabled: bool = False
    message: str = ""


_lock = threading.Lock()
_cached: tuple[float, MaintenanceState] = (0.0, MaintenanceState())


def maintenance_state() -> MaintenanceState:
    """Return the switch as this process last read it, reading the writer when it is stale."""
    global _cached
    expires, state = _cached
    now = time.monotonic()
    if now < expires:
        return state
    with _lock:
        expires, state = _cached
        if now < expires:
            return state
        try:
            # A raw read on the writer: the replica may lag, and a read does not pin anything.
            row = MaintenanceSwitch.objects.using("default").filter(pk=SWITCH_ID).values("enabled", "message").first()
            state = MaintenanceState(**row) if row else MaintenanceState()
        except DatabaseError as exc:
            logger.warning("maintenance switch unreadable, keeping %s: %s", "on" if state.enabled else "off", exc)
        _cached = (now + settings.PHOENIX_MAINTENANCE_CACHE_SECONDS, state)
        return state


def maintenance_forget() -> None:
    """Drop this process's last read of the switch, so that the next request reads it again."""
    global _cached
    _cached = (0.0, _cached[1])


def maintenance_switch(*, enabled: bool, message: str = "", changed_by: str = "") -> MaintenanceSwitch:
    """Turn the write freeze on or off for every instance; return the stored switch."""
    with transaction.atomic(using="default"):
        switch, _created = MaintenanceSwitch.objects.using("default").update_or_create(
            pk=SWITCH_ID, defaults={"enabled": enabled, "message": message, "changed_by": changed_by}
        )
    # This process knows at once; the others within PHOENIX_MAINTENANCE_CACHE_SECONDS.
    maintenance_forget()
    logger.info("maintenance switch %s by %s", "on" if enabled else "off", changed_by or "unknown")
    return switch


def _allowed_paths() -> set[str]:
    """Return the write paths that stay open: admin log in and log out, language choice."""
    paths = set()
    for name in ("admin:login", "admin:logout", "set_language"):
        try:
            paths.add(reverse(name))
        except NoReverseMatch:
            continue
    return paths


class MaintenanceMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._open_paths: set[str] | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method not in WRITE_METHODS:
            return self.get_response(request)
        if self._open_paths is None:
            self._open_paths = _allowed_paths()
        if request.path in self._open_paths:
            return self.get_response(request)
        state = maintenance_state()
        if not state.enabled:
            return self.get_response(request)
        return refusal(request, state)


def refusal(request: HttpRequest, state: MaintenanceState) -> HttpResponse:
    """Return the 503 for a write during maintenance: JSON under /api/, a small page elsewhere."""
    message = state.message or DEFAULT_MESSAGE
    if request.path.startswith("/api/"):
        response = JsonResponse({"error": {"code": "maintenance", "message": message, "fields": {}}}, status=503)
    else:
        response = HttpResponse(
            format_html(
                '<!doctype html><html lang="{}"><head><meta charset="utf-8"><title>Phoenix</title></head>'
                "<body><h1>Mantenimiento / Maintenance</h1><p>{}</p></body></html>",
                settings.LANGUAGE_CODE,
                message,
            ),
            status=503,
            content_type="text/html; charset=utf-8",
        )
    response["Retry-After"] = str(settings.PHOENIX_MAINTENANCE_RETRY_AFTER)
    response["Cache-Control"] = "no-store"
    return response
