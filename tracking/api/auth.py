"""Partner API authentication (``Authorization: Token <key>``), permission and throttles.

Kept apart from tracking/api/views.py because DRF imports these classes from its settings while
its own views module is still loading.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from phoenix.db import state
from phoenix.db.errors import WriterUnavailable, is_lost, is_read_only
from phoenix.db.pinning import pin_key
from tracking import budget
from tracking.api.errors import ApiError
from tracking.api.tokens import partner_token_find
from tracking.services import WRITER

logger = logging.getLogger(__name__)

LAST_USED_RESOLUTION = timedelta(minutes=1)


class PartnerPrincipal:
    """``request.user`` for a partner's token: authenticated, never staff."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, partner):
        self.partner = partner

    def __str__(self) -> str:
        return f"partner:{self.partner.pk}"


def pin_partner(request, partner) -> None:
    """Declare the partner as this request's client, so that it reads its own writes at once."""
    pin_key(request, f"partner:{partner.pk}")


def record_use(token) -> None:
    """Note when ``token`` was last used (to the minute), best effort.

    A read must not need a writable writer: while the writer is marked down the update is not
    even tried, and a writer that is unreachable, full or read-only only costs a log line.
    """
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at <= LAST_USED_RESOLUTION:
        return
    if state.is_down(WRITER):
        return
    try:
        type(token).objects.using(WRITER).filter(pk=token.pk).update(last_used_at=now)
    except DatabaseError as exc:
        if not (isinstance(exc, WriterUnavailable) or is_lost(exc) or is_read_only(exc)):
            raise
        logger.warning("token use not recorded, the writer is unavailable: %s", exc)


class PartnerTokenAuthentication(BaseAuthentication):
    """``Authorization: Token <key>``. No header: anonymous (public projection only)."""

    keyword = "Token"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, key = header.strip().partition(" ")
        if scheme.lower() != self.keyword.lower() or not key.strip():
            raise exceptions.AuthenticationFailed("Send the header as: Authorization: Token <key>.")
        failures = TokenFailureThrottle(request)
        wait = failures.wait()
        if wait is not None:
            # Past the limit no key is even looked up from this address, the right one neither:
            # a guesser learns nothing until the window has passed.
            raise exceptions.Throttled(wait=wait)
        token = partner_token_find(key.strip())
        if token is None:
            failures.record()
            raise exceptions.AuthenticationFailed("Unknown token.")
        if not token.is_active:
            raise exceptions.AuthenticationFailed("This token is disabled.")
        if token.is_expired():
            raise TokenExpired(f"This token expired at {token.expires_at.isoformat()}; ask QualityPost for a new one.")
        if not token.partner.is_active:
            raise exceptions.PermissionDenied("This partner is disabled; contact QualityPost.")
        scope_check(request, token)
        record_use(token)
        pin_partner(request._request, token.partner)
        # Answers to a partner may hold its private data: PrivateAnswersMiddleware marks them.
        request._request.partner_answer = True
        return PartnerPrincipal(token.partner), token

    def authenticate_header(self, request) -> str:
        return self.keyword


class TokenExpired(exceptions.AuthenticationFailed):
    default_code = "token_expired"


# The first path segment after /api/v1/ -> the family its scopes name (proofs are tracking's).
FAMILIES = {"tracking": "tracking", "proofs": "tracking", "shipments": "shipments", "events": "events"}
FAMILIES |= {"webhooks": "webhooks", "sandbox": "sandbox"}


def scope_check(request, token) -> None:
    """Refuse (403 insufficient_scope) a request its token's scopes do not cover.

    The scope is ``<family>:read`` for GET, HEAD and OPTIONS, ``<family>:write`` otherwise.
    """
    match = request.resolver_match
    if match is None or match.url_name is None:
        return  # no endpoint at this path: the 404 says so, whatever the scopes
    family = FAMILIES.get(request.path.removeprefix("/api/v1/").split("/", 1)[0])
    action = "read" if request.method in ("GET", "HEAD", "OPTIONS") else "write"
    needed = f"{family}:{action}"
    view = (request.parser_context or {}).get("view")
    if family is None or needed not in token.Scope.values or request.method not in view.allowed_methods:
        return  # a method this endpoint does not take: the 405 says so, whatever the scopes
    if needed not in token.scopes:
        granted = ", ".join(token.scopes) or "none"
        raise ApiError(403, "insufficient_scope", f"This token lacks the scope {needed} (it has: {granted}).")


class TokenFailureThrottle(SimpleRateThrottle):
    """Failed token checks per client address: PHOENIX_API_TOKEN_FAILURES ("N/minute").

    DRF's rate parsing, counted in a fixed window of the shared budgets (tracking/budget.py),
    so every process and instance sees the same failures; only unknown keys are recorded
    (``record``); a partner's successful requests cost nothing.
    """

    scope = "token_failure"

    def __init__(self, request):
        super().__init__()
        self.window = budget.Window.of(self.scope, self.get_ident(request), self.duration)

    def get_rate(self) -> str:
        return settings.PHOENIX_API_TOKEN_FAILURES

    def wait(self) -> float | None:
        """Return the seconds until a key may be checked again, or None when it may be now."""
        if budget.spent(self.window) < self.num_requests:
            return None
        return float(self.window.reset_after())

    def record(self) -> None:
        # Every failure is written at once: a guesser's tries reach every process.
        if budget.spend(self.window, 1, sync=True) == self.num_requests:
            logger.warning("failed token checks from one address reached %d; throttled", self.num_requests)


class HasPartnerToken(BasePermission):
    message = "This endpoint needs a partner token: Authorization: Token <key>."

    def has_permission(self, request, view) -> bool:
        return request.auth is not None


class _SharedRateThrottle(SimpleRateThrottle):
    """DRF's throttle (rates, ``wait``, 429 with Retry-After) counting requests in a fixed window
    of the shared budgets (tracking/budget.py) instead of each process's cache; each throttle
    also tells the RateLimit headers its state (``note_policy``)."""

    def get_rate(self):
        # Read at call time (not import time) so that settings overrides apply.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        ident = self.get_cache_key(request, view)
        if ident is None:
            return True
        self.window = budget.Window.of(self.scope, ident, self.duration)
        used = budget.spend(self.window, 1)
        note_policy(request, self.scope, self.num_requests, self.duration, self.num_requests - used, self.window)
        return used <= self.num_requests

    def wait(self) -> float:
        return float(self.window.reset_after())


def note_policy(request, name: str, quota: int, window_seconds: int, remaining: int, window: budget.Window) -> None:
    """Record a quota's state for the RateLimit and RateLimit-Policy headers
    (tracking/api/middleware.py)."""
    policies = request._request.__dict__.setdefault("rate_limits", {})
    policies[name] = (quota, window_seconds, max(remaining, 0), window.reset_after())


class PartnerTokenThrottle(_SharedRateThrottle):
    """Requests per token (a partner's systems may share one address)."""

    scope = "partner"

    def get_cache_key(self, request, view):
        if request.auth is None:
            return None
        return str(request.auth.pk)


class ClientIPThrottle(_SharedRateThrottle):
    """Requests per client address, for requests without a token."""

    scope = "ip"

    def get_cache_key(self, request, view):
        if request.auth is not None:
            return None
        return self.get_ident(request)
