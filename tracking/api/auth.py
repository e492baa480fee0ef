"""Partner API authentication (``Authorization: Token <key>``), permission and throttles.

Kept apart from tracking/api/views.py because DRF imports these classes from its settings while
its own views module is still loading.
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
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
        if not token.partner.is_active:
            raise exceptions.PermissionDenied("This partner is disabled; contact QualityPost.")
        record_use(token)
        pin_partner(request._request, token.partner)
        # Answers to a partner may hold its private data: PrivateAnswersMiddleware marks them.
        request._request.partner_answer = True
        return PartnerPrincipal(token.partner), token

    def authenticate_header(self, request) -> str:
        return self.keyword


class TokenFailureThrottle:
    """Failed token checks per client address: PHOENIX_API_TOKEN_FAILURES ("N/minute").

    Only unknown keys count; a partner's successful requests cost nothing. Counted in the
    "default" cache of each process, like the API's other throttles.
    """

    def __init__(self, request):
        number, _, period = settings.PHOENIX_API_TOKEN_FAILURES.partition("/")
        self.num, self.duration = int(number), {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[:1]]
        ident = ClientIPThrottle().get_ident(request)
        self.key = f"throttle_token_failure_{ident}"
        self.now = time.time()
        self.history = [moment for moment in cache.get(self.key, []) if moment > self.now - self.duration]

    def wait(self) -> float | None:
        if len(self.history) < self.num:
            return None
        return max(1.0, self.duration - (self.now - self.history[0]))

    def record(self) -> None:
        self.history.append(self.now)
        cache.set(self.key, self.history, self.duration)
        if len(self.history) == self.num:
            logger.warning("failed token checks from one address reached %d; throttled", self.num)


class HasPartnerToken(BasePermission):
    message = "This endpoint needs a partner token: Authorization: Token <key>."

    def has_permission(self, request, view) -> bool:
        return request.auth is not None


class _SettingsRateThrottle(SimpleRateThrottle):
    def get_rate(self):
        # Read at call time (not import time) so that settings overrides apply.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]


class PartnerTokenThrottle(_SettingsRateThrottle):
    """Requests per token (a partner's systems may share one address)."""

    scope = "partner"

    def get_cache_key(self, request, view):
        if request.auth is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class ClientIPThrottle(_SettingsRateThrottle):
    """Requests per client address, for requests without a token."""

    scope = "ip"

    def get_cache_key(self, request, view):
        if request.auth is not None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
