"""The postal-code unlock's lockout, per shipment, whatever address the codes come from.

PHOENIX_UNLOCK_FAILURES (5) wrong codes for one shipment lock its unlock for
PHOENIX_UNLOCK_LOCK_MINUTES (15), twice as long at each lockout in a row (30, 60, ...), at most
PHOENIX_UNLOCK_MAX_LOCK_MINUTES (a day); while locked even the right code unlocks nothing. The
right code clears the count. A lockout that ended more than a day ago no longer doubles the next
one. The state is one ``UnlockGuard`` row per shipment on the writer, so every process and
instance counts the same failures; each lockout is a WARNING log line and a row in the admin
(Postal-code lockouts). Without the writer nothing can be counted, so nothing unlocks: the
database error reaches phoenix/db, which answers 503 with Retry-After.

Cost: the right code with no wrong one before reads one row on the writer; a wrong code updates
its row in a short transaction.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from phoenix.db import state
from tracking.models import Shipment, UnlockGuard
from tracking.services import WRITER

logger = logging.getLogger(__name__)

# A lockout that ended this long ago no longer doubles the next one.
FORGET_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Verdict:
    unlocked: bool
    locked_seconds: int = 0  # > 0: the unlock is locked for that long


def attempt(shipment: Shipment, matches: bool) -> Verdict:
    """Record an unlock attempt with a code that ``matches`` the shipment's or not."""
    now = timezone.now()
    guards = UnlockGuard.objects.using(WRITER)
    with state.bookkeeping():
        if matches:
            guard = guards.filter(shipment_id=shipment.pk).first()
            if guard is None:
                return Verdict(unlocked=True)
            if guard.is_locked(now):
                return Verdict(unlocked=False, locked_seconds=_seconds(guard, now))
            if guard.failures or guard.lockouts:
                guards.filter(pk=guard.pk).update(failures=0, lockouts=0)
            return Verdict(unlocked=True)
        with transaction.atomic(using=WRITER):
            guard, _created = guards.select_for_update().get_or_create(shipment_id=shipment.pk)
            if guard.is_locked(now):
                return Verdict(unlocked=False, locked_seconds=_seconds(guard, now))
            guard.failures += 1
            guard.last_failure_at = now
            if guard.failures >= settings.PHOENIX_UNLOCK_FAILURES:
                _lock(guard, shipment, now)
            guard.save()
    return Verdict(unlocked=False, locked_seconds=_seconds(guard, now) if guard.is_locked(now) else 0)


def _lock(guard: UnlockGuard, shipment: Shipment, now) -> None:
    if guard.locked_until is not None and now - guard.locked_until > FORGET_AFTER:
        guard.lockouts = 0
    minutes = min(settings.PHOENIX_UNLOCK_LOCK_MINUTES * 2**guard.lockouts, settings.PHOENIX_UNLOCK_MAX_LOCK_MINUTES)
    logger.warning(
        "postal-code unlock of %s locked for %d minutes after %d wrong codes (lockout %d in a row)",
        shipment.tracking_number,
        minutes,
        guard.failures,
        guard.lockouts + 1,
    )
    guard.locked_until = now + timedelta(minutes=minutes)
    guard.lockouts += 1
    guard.failures = 0


def _seconds(guard: UnlockGuard, now) -> int:
    return max(int((guard.locked_until - now).total_seconds() + 0.999), 1)
