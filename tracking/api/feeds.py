"""The changes feeds: what changed for a partner since it last looked, a page at a time.

``GET /api/v1/shipments?updated_after=`` lists the partner's shipments changed at or after a
time, as tracking objects; ``GET /api/v1/events?after=`` lists the scan events of the partner's
shipments after a cursor. Both page by keyset (never by offset): a page is at most
``PAGE_MAX`` items, and ``next`` (in the body and in a ``Link: <...>; rel="next"`` header) is the
URL of the following page, or null at the end. The cost of a page does not depend on how far
into the feed it is: a fixed number of queries on an index that starts where the cursor points.

Pages are read from the reader; a partner that has just written reads its own writes (its
token's pin sends the read to the writer). Items younger than PHOENIX_FEED_SETTLE_SECONDS are left for a later
page: a transaction that began earlier but commits later would otherwise land behind a cursor
already handed out. The guarantee (no item ever missed by a client that follows ``next``) holds
while transactions and replica lag stay within that window (docs/api.md, Changes feed).
"""

import base64
import binascii
import re
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.response import Response

from tracking.api import projection
from tracking.api.errors import ApiError
from tracking.models import Partner, Shipment, TrackingEvent

PAGE_MAX = 500
PAGE_DEFAULT = 100


def shipments_changed(request, *, partner: Partner) -> Response:
    """Answer a page of the partner's shipments changed since ``updated_after`` (or a cursor).

    Four queries whatever the page size: the page, its events, contacts and proofs.
    """
    limit = page_limit(request)
    projection.language_of(request)
    cursor = request.query_params.get("cursor")
    queryset = Shipment.objects.filter(partner=partner, updated_at__lte=_settled())
    if cursor:
        updated_at, pk = _shipment_cursor(cursor)
        queryset = queryset.filter(updated_at__gte=updated_at).exclude(updated_at=updated_at, pk__lte=pk)
    else:
        queryset = queryset.filter(updated_at__gte=_updated_after(request))
    page = list(queryset.order_by("updated_at", "pk")[: limit + 1])
    more, page = len(page) > limit, page[:limit]
    items = projection.of(request, page)
    after = projection.opaque(f"{page[-1].updated_at.isoformat()}|{page[-1].pk}") if more else None
    return page_response(request, {"shipments": items}, after, "cursor", limit)


def events_after(request, *, partner: Partner) -> Response:
    """Answer a page of the scan events of the partner's shipments after the cursor ``after``.

    Two queries whatever the page size and however many shipments the partner has: its events on
    the index (owner, id), then their tracking numbers by key. Without ``after``, the feed starts
    at the oldest event.
    """
    limit = page_limit(request)
    after = request.query_params.get("after")
    start = _event_cursor(after) if after else 0
    # The partner's events by the (owner, id) index: no join to shipments, whatever their count.
    rows = list(
        TrackingEvent.objects.filter(owner=partner, pk__gt=start, recorded_at__lte=_settled())
        .select_related("facility", "partner", "token")
        .order_by("pk")[: limit + 1]
    )
    more, rows = len(rows) > limit, rows[:limit]
    numbers = dict(
        Shipment.objects.filter(pk__in={event.shipment_id for event in rows}).values_list("pk", "tracking_number")
    )
    items = [
        {
            "id": projection.event_id(event.pk),
            "tracking_number": numbers[event.shipment_id],
            "code": event.code,
            "milestone": event.milestone or None,
            "reason": event.reason or None,
            "occurred_at": event.occurred_at,
            "recorded_at": event.recorded_at,
            "facility": event.facility.code if event.facility_id else None,
            "partner_event_id": event.partner_event_id if event.partner_id == partner.pk else None,
            "signed_by": projection.signed_by(event, partner),
        }
        for event in rows
    ]
    # The cursor of the last item is where the next request starts, even on the last page, so
    # that a client polling the feed keeps its place; ``next`` is null only when nothing is left.
    last = items[-1]["id"] if items else after
    return page_response(request, {"events": items, "cursor": last}, last if more else None, "after", limit)


def _settled() -> datetime:
    """Return the newest change time a page may show (older than the settle window)."""
    return timezone.now() - timedelta(seconds=settings.PHOENIX_FEED_SETTLE_SECONDS)


def page_response(request, body: dict, cursor: str | None, name: str, limit: int) -> Response:
    """Return the page with ``next`` in the body and, when there is one, in a Link header."""
    next_url = None
    if cursor is not None:
        params = request.query_params.copy()
        params.pop("updated_after", None)
        params[name] = cursor
        params["limit"] = str(limit)
        next_url = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
    response = Response({**body, "next": next_url})
    if next_url:
        response["Link"] = f'<{next_url}>; rel="next"'
    return response


def page_limit(request) -> int:
    value = request.query_params.get("limit", str(PAGE_DEFAULT))
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= PAGE_MAX:
        message = f"Give a whole number from 1 to {PAGE_MAX}."
        raise ApiError(400, "invalid", message, {"limit": [message]})
    return int(value)


# RFC 3339's date-time, as the schema says (parse_datetime alone also takes a space for the T,
# no seconds, a comma before the fraction).
RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _updated_after(request) -> datetime:
    value = request.query_params.get("updated_after", "")
    if not RFC3339.fullmatch(value):
        value = ""  # refused below, with the same message
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None or timezone.is_naive(parsed):
        message = "Give a date and time with its offset, such as 2026-11-27T10:00:00-06:00, or a cursor."
        raise ApiError(400, "invalid", message, {"updated_after": [message]})
    return parsed


def _decode(value: str, name: str) -> str:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _bad_cursor(name) from None


def _shipment_cursor(value: str) -> tuple[datetime, int]:
    stamp, _, pk = _decode(value, "cursor").partition("|")
    try:
        parsed = parse_datetime(stamp)
    except ValueError:
        parsed = None
    if parsed is None or not (pk.isascii() and pk.isdigit()):
        raise _bad_cursor("cursor")
    return parsed, int(pk)


def _event_cursor(value: str) -> int:
    decoded = _decode(value, "after")
    if not decoded.startswith("e") or not (decoded[1:].isascii() and decoded[1:].isdigit()):
        raise _bad_cursor("after")
    return int(decoded[1:])


def _bad_cursor(name: str) -> ApiError:
    message = "This cursor is not one Phoenix gave out; use the next link of the previous page."
    return ApiError(400, "invalid_cursor", message, {name: [message]})
