"""Per-client budgets for public lookups, against enumeration of tracking numbers.

Each client IP (see client_ip()) has PHOENIX_LOOKUP_BUDGET points per fixed window of
PHOENIX_LOOKUP_WINDOW seconds. A found number costs 1 point; a number we do not know, or a wrong postal code, costs
PHOENIX_LOOKUP_MISS_COST, so guessing runs out long before browsing does. Counters live in
Django's default cache, which is per process: each gunicorn worker counts on its own and the
AWS WAF rate-based rule is the global limit (docs/site.md).
"""

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from phoenix.clientip import client_ip

logger = logging.getLogger(__name__)


def _key(request: HttpRequest, now: float) -> tuple[str, int]:
    window = max(settings.PHOENIX_LOOKUP_WINDOW, 1)
    index = int(now // window)
    retry_after = window - int(now % window)
    return f"phoenix:lookup:{client_ip(request)}:{index}", retry_after


def lookup_retry_after(request: HttpRequest) -> int:
    """Return the seconds until the client may look up again, or 0 when it still has budget."""
    key, retry_after = _key(request, time.time())
    spent = cache.get(key, 0)
    if spent >= settings.PHOENIX_LOOKUP_BUDGET:
        logger.info("lookup budget spent for %s (%s points)", client_ip(request), spent)
        return max(retry_after, 1)
    return 0


def lookup_charge(request: HttpRequest, *, hits: int = 0, misses: int = 0) -> None:
    """Spend the client's budget: one point per hit, PHOENIX_LOOKUP_MISS_COST per miss."""
    cost = hits + misses * settings.PHOENIX_LOOKUP_MISS_COST
    if cost <= 0:
        return
    key, _retry_after = _key(request, time.time())
    cache.add(key, 0, timeout=settings.PHOENIX_LOOKUP_WINDOW)
    try:
        cache.incr(key, cost)
    except ValueError:  # expired between add() and incr()
        cache.set(key, cost, timeout=settings.PHOENIX_LOOKUP_WINDOW)
