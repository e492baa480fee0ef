"""Read-your-writes across requests: the signed ``phoenix_pin`` cookie and server-side pins.

A browser that wrote gets a ``phoenix_pin`` cookie signed with the secret key
(``TimestampSigner``, its own salt); while it is younger than PHOENIX_PIN_SECONDS its reads go
to the writer. An unsigned, forged or expired cookie is ignored.

API clients do not keep cookies, so a view declares the client's identity with
``pin_key(request, "partner:12")``: if that identity wrote within PHOENIX_PIN_SECONDS the
request reads from the writer, and if the request writes, the identity is marked. The marks
live in the ``phoenix_db_pin`` table on the writer, so every process and every instance behind
the load balancer sees them. Cost: one primary-key read on the writer per ``pin_key`` call and
one single-row update on the writer per request that wrote.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import DatabaseError, IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from phoenix.db import state
from phoenix.db.state import WRITER

logger = logging.getLogger(__name__)

COOKIE_NAME = "phoenix_pin"
SALT = "phoenix.db.pinning"


def pin_seconds() -> int:
    return int(getattr(settings, "PHOENIX_PIN_SECONDS", 5))


def cookie_value() -> str:
    """Return a freshly signed pin cookie value."""
    return signing.TimestampSigner(salt=SALT).sign("1")


def cookie_is_valid(value: str | None) -> bool:
    """Return True when ``value`` is a pin this app signed less than PHOENIX_PIN_SECONDS ago."""
    if not value:
        return False
    try:
        signing.TimestampSigner(salt=SALT).unsign(value, max_age=pin_seconds())
    except signing.BadSignature:  # also SignatureExpired
        return False
    return True


def set_cookie(response: HttpResponse) -> None:
    response.set_cookie(
        COOKIE_NAME,
        cookie_value(),
        max_age=pin_seconds(),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def pin_key(request: HttpRequest, key: str) -> None:
    """Declare the client identity of this request, e.g. ``partner:12``.

    Pins this request to the writer when ``key`` wrote within PHOENIX_PIN_SECONDS, and marks
    ``key`` when this request writes. Runs one primary-key query on the writer.
    """
    current = state.current()
    if key not in current.pin_keys:
        current.pin_keys.append(key)
    if key_is_pinned(key):
        state.pin(state.SERVER_PIN)


def key_is_pinned(key: str) -> bool:
    from phoenix.db.models import Pin

    try:
        return Pin.objects.using(WRITER).filter(key=key, until__gt=timezone.now()).exists()
    except DatabaseError as exc:
        # The writer is down: nothing fresher than the reader can be had anyway.
        logger.warning("server-side pin of %s unknown: %s", key, exc)
        return False


def mark_keys(keys: list[str]) -> None:
    """Pin ``keys`` to the writer for PHOENIX_PIN_SECONDS from now."""
    from phoenix.db.models import Pin

    until = timezone.now() + timedelta(seconds=pin_seconds())
    for key in keys:
        try:
            if not Pin.objects.using(WRITER).filter(key=key).update(until=until):
                try:
                    with transaction.atomic(using=WRITER):
                        Pin.objects.using(WRITER).create(key=key, until=until)
                except IntegrityError:  # another process created it meanwhile
                    Pin.objects.using(WRITER).filter(key=key).update(until=until)
        except DatabaseError as exc:
            logger.warning("could not pin %s after a write: %s", key, exc)
