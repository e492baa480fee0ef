"""The tracking object partners read: the public projection, and ``private`` for the owner.

Shared by the tracking lookups and the changes feed, so a shipment reads the same wherever a
partner meets it. Personal data and proofs appear only with the owning partner's token.
"""

import base64
import functools
from datetime import datetime

from django.conf import settings
from django.db import connections, router
from django.db.models import Q
from django.urls import reverse
from django.utils import translation

from tracking import milestones, numbers
from tracking.api.errors import ApiError
from tracking.models import (
    Contact,
    EventCode,
    ExceptionReason,
    Facility,
    Milestone,
    ProofOfDelivery,
    Shipment,
    TrackingEvent,
)

LANGUAGES = ("es", "en")
# What an open exception is about, for partners that route their customer service by it.
REASON_GROUPS = {
    ExceptionReason.RECIPIENT_NOT_HOME: "recipient",
    ExceptionReason.REFUSED: "recipient",
    ExceptionReason.ADDRESS_ISSUE: "address",
    ExceptionReason.CUSTOMS_DOCUMENTATION: "customs",
    ExceptionReason.WEATHER_DELAY: "weather",
    ExceptionReason.MISSED_CONNECTION: "carrier",
    ExceptionReason.HELD_AT_FACILITY: "carrier",
    ExceptionReason.DAMAGED: "carrier",
}
# Someone must act for the parcel to move: the recipient (be home, collect it, fix the address,
# send papers) or the shipper on their behalf.
ACTION_REASONS = {
    ExceptionReason.RECIPIENT_NOT_HOME,
    ExceptionReason.ADDRESS_ISSUE,
    ExceptionReason.CUSTOMS_DOCUMENTATION,
    ExceptionReason.REFUSED,
}
ACTION_MILESTONES = {milestones.DELIVERY_ATTEMPTED, milestones.AVAILABLE_FOR_PICKUP}


def opaque(value: str) -> str:
    """Return ``value`` as an opaque token (URL-safe base64, no padding): ids and cursors."""
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def event_id(pk: int) -> str:
    """Return the opaque, stable id of an event (also a cursor of the events feed)."""
    return opaque(f"e{pk}")


def language_of(request) -> str | None:
    """Return the ``lang`` the request asks messages in, or None; raise ApiError for another."""
    language = request.query_params.get("lang")
    if language is not None and language not in LANGUAGES:
        message = "Give lang=es or lang=en, or leave it out."
        raise ApiError(400, "invalid", message, {"lang": [message]})
    return language


# What the projection reads of a shipment and of each event (values, not model instances).
SHIPMENT_FIELDS = (
    "id",
    "tracking_number",
    "partner_id",
    "milestone",
    "milestone_at",
    "delivered_at",
    "updated_at",
    "exception_open",
    "exception_reason",
    "eta_earliest",
    "eta_latest",
    "origin_city",
    "destination_city",
    "reference",
    "service",
    "weight_grams",
    "pieces",
    "destination_postal_code",
)
EVENT_FIELDS = (
    "id",
    "shipment_id",
    "code",
    "milestone",
    "reason",
    "occurred_at",
    "note",
    "partner_event_id",
    "partner_id",
    "facility_id",
    "facility__city",
    "facility__time_zone",
    "facility__code",
    # signed_by, for the owner
    "source",
    "token_id",
    "partner__name",
    "token__prefix",
    "token__name",
)


def by_number(request, canonical: list[str]) -> dict[str, dict]:
    """Return the projection of each found shipment by number (see ``of``; one query more)."""
    if not canonical:
        return {}
    found = Shipment.objects.filter(tracking_number__in=canonical)
    # A sandbox partner's test shipments are seen by that partner only.
    partner = request.auth.partner if request.auth is not None else None
    found = found.filter(Q(is_test=False) | Q(partner=partner)) if partner else found.filter(is_test=False)
    rows = list(found.values(*SHIPMENT_FIELDS))
    return {data["tracking_number"]: data for data in _of_values(request, rows)}


@functools.cache
def _public_sql() -> str:
    shipment, event, facility = (model._meta.db_table for model in (Shipment, TrackingEvent, Facility))
    event_columns = [f"e.{name}" for name in EVENT_FIELDS if "__" not in name and name != "shipment_id"]
    columns = [f"s.{name}" for name in SHIPMENT_FIELDS] + event_columns + ["f.city", "f.time_zone", "f.code"]
    return (
        f"SELECT {', '.join(columns)} FROM {shipment} s"
        f" LEFT JOIN {event} e ON e.shipment_id = s.id LEFT JOIN {facility} f ON f.id = e.facility_id"
        " WHERE s.tracking_number = %s AND NOT s.is_test ORDER BY e.occurred_at DESC, e.id DESC"
    )


_EVENT_ROW = tuple(name for name in EVENT_FIELDS if "__" not in name and name != "shipment_id")
_EVENT_ROW += ("facility__city", "facility__time_zone", "facility__code")


def public(number: str, language: str | None) -> dict | None:
    """Return the public projection of one shipment (as ``by_number`` for an anonymous
    request), or None. One query in fixed SQL: the tracking endpoint's hot path."""
    connection = connections[router.db_for_read(Shipment)]
    with connection.cursor() as cursor:
        cursor.execute(_public_sql(), [number])
        rows = cursor.fetchall()
    if not rows:
        return None

    def aware(value):
        """The database's naive datetimes are in the connection's zone (UTC)."""
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=connection.timezone)
        return value

    end = len(SHIPMENT_FIELDS)
    shipment = {name: aware(value) for name, value in zip(SHIPMENT_FIELDS, rows[0][:end], strict=True)}
    shipment["exception_open"] = bool(shipment["exception_open"])
    events = [
        {name: aware(value) for name, value in zip(_EVENT_ROW, row[end:], strict=True)}
        for row in rows
        if row[end] is not None
    ]
    data = _projection(shipment, events, None, None, None)
    if language:
        with translation.override(language):
            _localize(shipment, events, data)
    return data


def of(request, shipments: list[Shipment]) -> list[dict]:
    """Return the projection of each shipment, in the order given.

    One query (events with their facilities), plus two (contacts, proofs of delivery) when the
    request's partner owns any of them, whatever the count.
    """
    return _of_values(request, [{name: getattr(s, name) for name in SHIPMENT_FIELDS} for s in shipments])


def _of_values(request, shipments: list[dict]) -> list[dict]:
    """``of`` on the shipments' values (SHIPMENT_FIELDS): events read as values too."""
    if not shipments:
        return []
    language = language_of(request)
    partner = request.auth.partner if request.auth is not None else None
    timeline: dict[int, list[dict]] = {s["id"]: [] for s in shipments}
    events = (
        TrackingEvent.objects.filter(shipment_id__in=list(timeline))
        .order_by("shipment_id", "-occurred_at", "-id")
        .values(*EVENT_FIELDS)
    )
    for event in events:
        timeline[event["shipment_id"]].append(event)
    owned = {s["id"] for s in shipments if partner is not None and s["partner_id"] == partner.pk}
    contacts: dict[int, dict[str, Contact]] = {pk: {} for pk in owned}
    proofs: dict[int, list[dict]] = {pk: [] for pk in owned}
    if owned:
        for contact in Contact.objects.filter(shipment_id__in=owned):
            contacts[contact.shipment_id][contact.role] = contact
        for proof in ProofOfDelivery.objects.filter(shipment_id__in=owned).order_by("shipment_id", "uploaded_at", "id"):
            proofs[proof.shipment_id].append(_proof(request, proof))
    projections = [
        _projection(s, timeline[s["id"]], contacts.get(s["id"]), proofs.get(s["id"]), partner) for s in shipments
    ]
    if language:
        with translation.override(language):
            for shipment, data in zip(shipments, projections, strict=True):
                _localize(shipment, timeline[shipment["id"]], data)
    return projections


def _localize(shipment: dict, events: list[dict], data: dict) -> None:
    """Add ``message`` to the shipment and its events, in the active language."""
    message = str(Milestone(shipment["milestone"]).label)
    if shipment["exception_open"] and shipment["exception_reason"]:
        message = f"{message}: {ExceptionReason(shipment['exception_reason']).label}"
    data["message"] = message
    for event, item in zip(events, data["events"], strict=True):
        item["message"] = str(EventCode(event["code"]).label)


def _projection(shipment: dict, events: list[dict], contacts, proofs, partner) -> dict:
    # The per-shipment sequence of an event is its position in recorded order, as in webhooks.
    sequence = {pk: position for position, pk in enumerate(sorted(e["id"] for e in events), start=1)}
    reason = shipment["exception_reason"] if shipment["exception_open"] else ""
    number = shipment["tracking_number"]
    data = {
        "tracking_number": number,
        "display_number": numbers.display(number),
        "public_url": settings.PHOENIX_SITE_URL + reverse("tracking:detail", args=[number]),
        "milestone": shipment["milestone"],
        "milestone_at": shipment["milestone_at"],
        "delivered_at": shipment["delivered_at"],
        "updated_at": shipment["updated_at"],
        "action_required": reason in ACTION_REASONS or shipment["milestone"] in ACTION_MILESTONES,
        "exception": {
            "open": shipment["exception_open"],
            "reason": shipment["exception_reason"] or None,
            "group": REASON_GROUPS.get(reason) if reason else None,
        },
        "eta": {"earliest": shipment["eta_earliest"], "latest": shipment["eta_latest"]},
        "origin": {"city": shipment["origin_city"]},
        "destination": {"city": shipment["destination_city"]},
        "events": [
            {
                "id": event_id(e["id"]),
                "sequence": sequence[e["id"]],
                "code": e["code"],
                "milestone": e["milestone"] or None,
                "reason": e["reason"] or None,
                "occurred_at": e["occurred_at"],
                "time_zone": e["facility__time_zone"] if e["facility_id"] is not None else None,
                "facility": {"city": e["facility__city"]} if e["facility_id"] is not None else None,
            }
            for e in events
        ],
    }
    if contacts is None:
        return data
    data["private"] = {
        "reference": shipment["reference"],
        "service": shipment["service"],
        "weight_grams": shipment["weight_grams"],
        "pieces": shipment["pieces"],
        "destination_postal_code": shipment["destination_postal_code"],
        "recipient": _contact(contacts.get(Contact.Role.RECIPIENT)),
        "sender": _contact(contacts.get(Contact.Role.SENDER)),
        "events": [
            {
                "occurred_at": e["occurred_at"],
                "facility": e["facility__code"] if e["facility_id"] is not None else None,
                "note": e["note"],
                "id": e["partner_event_id"] if e["partner_id"] == partner.pk else None,
                "signed_by": _signed_by_row(e, partner),
            }
            for e in events
        ],
        "proof_of_delivery": proofs,
    }
    return data


def signed_by(event: TrackingEvent, owner) -> dict:
    """Return who recorded ``event``, for the shipment's owner: the source, the partner that sent
    it (a hub or carrier may write the owner's shipments) and, for the owner's own token, which one."""
    token = event.token if event.token_id and event.partner_id == owner.pk else None
    return {
        "source": event.source,
        "partner": event.partner.name if event.partner_id else None,
        "token": {"prefix": token.prefix, "name": token.name} if token else None,
    }


def _signed_by_row(event: dict, owner) -> dict:
    """``signed_by`` of an event read as values (EVENT_FIELDS)."""
    own_token = event["token_id"] is not None and event["partner_id"] == owner.pk
    return {
        "source": event["source"],
        "partner": event["partner__name"] if event["partner_id"] is not None else None,
        "token": {"prefix": event["token__prefix"], "name": event["token__name"]} if own_token else None,
    }


def _proof(request, proof: ProofOfDelivery) -> dict:
    return {
        "id": proof.pk,
        "kind": proof.kind,
        "content_type": proof.content_type,
        "uploaded_at": proof.uploaded_at,
        "url": request.build_absolute_uri(reverse("api:proof", args=[proof.pk])),
    }


def _contact(contact: Contact | None) -> dict | None:
    if contact is None:
        return None
    fields = ("name", "phone", "email", "address", "city", "state", "postal_code", "country")
    return {field: getattr(contact, field) for field in fields}
