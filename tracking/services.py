"""Workflows across models: creating shipments and recording events.

Every path that changes a shipment's state (API, admin actions, CSV import, seeding) goes
through these functions so that the forward-only milestone rules hold everywhere.
"""

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, OperationalError, connections, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from phoenix.db.errors import is_busy
from tracking import milestones, numbers, phones, sealing
from tracking.images import image_clean, image_content_type
from tracking.models import (
    Contact,
    EventCode,
    EventSource,
    ExceptionReason,
    Facility,
    Partner,
    PartnerScope,
    PhoneSubscription,
    ProofOfDelivery,
    Shipment,
    TrackingEvent,
)
from tracking.notify.outbox import notifications_owed, notifications_owed_many, state_before

logger = logging.getLogger(__name__)

# The writer. Decisions about what exists (tokens, shipments, replayed event ids) are read
# here, never from a replica that may lag behind a write made a moment ago.
WRITER = "default"

MAX_NUMBER_ATTEMPTS = 5


def shipment_create(
    *,
    origin_facility: Facility,
    destination_facility: Facility,
    destination_postal_code: str,
    weight_grams: int,
    recipient: dict,
    sender: dict | None = None,
    pieces: int = 1,
    service: str = "standard",
    reference: str = "",
    partner: Partner | None = None,
    occurred_at: datetime | None = None,
    source: str = EventSource.SYSTEM,
    phone_updates: dict | None = None,
    number_draw: Callable[[], str] = numbers.generate,
) -> Shipment:
    """Create a shipment with its contacts and its ``label_created`` event.

    ``phone_updates`` (``phone_subscription_add``'s arguments but the shipment and source) is
    the shipper's word that the recipient agreed to WhatsApp/SMS updates at that number.

    A sandbox partner's shipment is a test (``is_test``); ``number_draw`` draws its number
    (the sandbox draws its magic numbers, tracking/sandbox.py).
    """
    occurred_at = occurred_at or timezone.now()
    with transaction.atomic():
        shipment = Shipment(
            partner=partner,
            is_test=bool(partner and partner.is_sandbox),
            reference=reference,
            service=service,
            weight_grams=weight_grams,
            pieces=pieces,
            origin_facility=origin_facility,
            destination_facility=destination_facility,
            origin_city=origin_facility.city,
            destination_city=destination_facility.city,
            destination_postal_code=destination_postal_code,
            milestone=milestones.LABEL_CREATED,
            milestone_at=occurred_at,
            last_event_at=occurred_at,
        )
        _save_with_fresh_number(shipment, number_draw)
        Contact.objects.create(shipment=shipment, role=Contact.Role.RECIPIENT, **recipient)
        if sender:
            Contact.objects.create(shipment=shipment, role=Contact.Role.SENDER, **sender)
        TrackingEvent.objects.create(
            shipment=shipment,
            code=EventCode.LABEL_CREATED,
            milestone=milestones.LABEL_CREATED,
            occurred_at=occurred_at,
            facility=origin_facility,
            source=source,
            partner=partner,
            owner=partner,
        )
        if phone_updates:
            phone_subscription_add(
                shipment=shipment, source=PHONE_SOURCES.get(source, PhoneSubscription.Source.ADMIN), **phone_updates
            )
    return shipment


PHONE_SOURCES = {
    EventSource.API: PhoneSubscription.Source.API,
    EventSource.IMPORT: PhoneSubscription.Source.IMPORT,
    EventSource.ADMIN: PhoneSubscription.Source.ADMIN,
}
PHONE_TOPICS = (
    milestones.PICKED_UP,
    milestones.OUT_FOR_DELIVERY,
    milestones.DELIVERED,
    milestones.AVAILABLE_FOR_PICKUP,
    "exception",
)


def phone_subscription_add(
    *,
    shipment: Shipment,
    phone: str,
    consent_source: str,
    consent_at: datetime,
    source: str,
    first_name: str = "",
    language: str = "es",
    channel: str = "whatsapp",
    topics=PHONE_TOPICS,
    status: str = PhoneSubscription.Status.ACTIVE,
    default_country: str = "MX",
) -> PhoneSubscription:
    """Store a phone subscription with its consent (the number sealed); raise phones.InvalidPhone.

    The same number for the same shipment is stored once: a repeat updates the consent.
    """
    e164, country = phones.phone_normalize(phone, default_country=default_country)
    subscription, _created = PhoneSubscription.objects.update_or_create(
        shipment=shipment,
        phone_hash=sealing.digest(e164, purpose="notify.phone"),
        defaults={
            "phone_encrypted": sealing.seal(e164),
            "phone_masked": phones.phone_mask(e164),
            "country": country,
            "channel": channel,
            "first_name": first_name.strip().split(" ")[0][:50] if first_name.strip() else "",
            "topics": list(topics),
            "language": language,
            "status": status,
            "source": source,
            "consent_source": consent_source[:200],
            "consent_at": consent_at,
        },
    )
    return subscription


def _save_with_fresh_number(shipment: Shipment, draw: Callable[[], str]) -> None:
    """Save a new shipment, drawing another number on the (rare) collision."""
    from django.db import IntegrityError

    for _attempt in range(MAX_NUMBER_ATTEMPTS):
        shipment.tracking_number = draw()
        try:
            with transaction.atomic():
                shipment.save()
            return
        except IntegrityError:
            if not Shipment.objects.filter(tracking_number=shipment.tracking_number).exists():
                raise
    raise RuntimeError("could not draw an unused tracking number")


def event_record(
    *,
    shipment: Shipment,
    code: str,
    occurred_at: datetime,
    facility: Facility | None = None,
    reason: str = "",
    close_exception: bool = False,
    note: str = "",
    source: str = EventSource.SYSTEM,
    partner: Partner | None = None,
    partner_event_id: str | None = None,
    token=None,
    created_by=None,
) -> TrackingEvent:
    """Record one event and move the shipment's state forward as the rules allow."""
    if code not in milestones.EVENT_CODES:
        raise ValueError(f"unknown event code {code!r}")
    with transaction.atomic():
        # Lock the shipment row so that two scans of one parcel apply in turn.
        locked = Shipment.objects.select_for_update().get(pk=shipment.pk)
        event = TrackingEvent.objects.create(
            shipment=locked,
            code=code,
            milestone=milestones.EVENT_CODES[code] or "",
            reason=reason,
            close_exception=close_exception,
            occurred_at=occurred_at,
            facility=facility,
            note=note,
            source=source,
            partner=partner,
            partner_event_id=partner_event_id,
            token=token,
            owner_id=locked.partner_id,
            created_by=created_by,
        )
        before = state_before(locked)
        changed = milestones.apply_event(locked, event)
        # Saved even when nothing else changed: the timeline did, and updated_at is what the
        # public pages' ETag is made of.
        locked.save(update_fields=[*changed, "updated_at"])
        # What the event owes subscribers and partner webhooks, committed with the event.
        notifications_owed(shipment=locked, steps=[before.step(event, locked)])
    shipment.refresh_from_db()
    return event


def shipment_create_many(
    *, partner: Partner | None, items: list[dict], source: str = EventSource.API
) -> list[Shipment]:
    """Create several shipments in one transaction: all of them or none.

    Each item holds ``shipment_create``'s keyword arguments (facilities already resolved).
    """
    with transaction.atomic(using=WRITER):
        return [shipment_create(partner=partner, source=source, **item) for item in items]


# --- Bulk event ingest ---------------------------------------------------------------------

MAX_EVENTS_PER_INGEST = 500
EVENT_ID_PATTERN = re.compile(r"[\x21-\x7e]{1,100}")  # printable ASCII, no spaces
INGEST_ATTEMPTS = 3
# A lock wait timeout or a deadlock (errors.BUSY_CODES) rolls the whole insert back; it is run
# once more, as an id conflict is: the ingest is idempotent, so nothing can be stored twice.
INGEST_BUSY_RETRIES = 1

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
REJECTED = "rejected"


@dataclass
class _Event:
    index: int
    id: str
    number: str
    code: str
    reason: str
    close_exception: bool
    occurred_at: datetime
    facility: str
    note: str


def events_ingest(*, partner: Partner | None, items: list, source: str = EventSource.API, token=None) -> list[dict]:
    """Validate and record a batch of scan events; return one result per item, in input order.

    Each result is ``{"id": ..., "status": "accepted" | "duplicate" | "rejected", "errors":
    {field: [message, ...]}}``. An event whose id this partner already sent (earlier or in this
    batch) is a duplicate and changes nothing. Milestones follow ``milestones.apply_event`` with
    each shipment's new events in scan order, so late events never move a milestone back.

    A partner writes only the shipments it may (``_partner_write_check``): any other number is
    rejected with the same error as an unknown one. ``partner=None`` (the staff CSV import) is
    not scoped. ``token``, the API token that sent the batch, is kept on each event (signed_by).

    A constant number of queries per batch: shipments, facilities and the partner's scopes by
    key, then in one
    transaction the affected shipments locked in id order, the replayed ids, one bulk insert
    and one bulk update. A concurrent request with the same ids makes the insert fail; the
    transaction is then retried and sees those ids as duplicates.
    """
    now = timezone.now()
    results: list[dict] = []
    events: list[_Event] = []
    for index, raw in enumerate(items):
        event, errors = _event_clean(index, raw, now)
        event_id = raw.get("id") if isinstance(raw, dict) else None
        results.append({"id": event_id if isinstance(event_id, str) else None, "status": REJECTED, "errors": errors})
        if event is not None:
            events.append(event)
    if not events:
        return results

    found = {
        number: (pk, owner)
        for number, pk, owner in Shipment.objects.using(WRITER)
        .filter(tracking_number__in={e.number for e in events})
        .values_list("tracking_number", "pk", "partner_id")
    }
    facility_codes = {e.facility.upper() for e in events if e.facility}
    facility_ids = {
        code.upper(): pk
        for code, pk in Facility.objects.using(WRITER).filter(code__in=facility_codes).values_list("code", "pk")
    }
    may_write = _partner_write_check(partner)
    shipment_ids = {number: pk for number, (pk, _owner) in found.items()}
    known: list[_Event] = []
    for event in events:
        errors = {}
        facility_id = facility_ids.get(event.facility.upper()) if event.facility else None
        # A shipment this partner may not write is answered exactly as an unknown number, so
        # that the answers tell nothing about which numbers exist.
        if event.number not in found or not may_write(found[event.number][1], facility_id):
            errors["tracking_number"] = [f"No shipment has the tracking number {event.number}."]
        if event.facility and event.facility.upper() not in facility_ids:
            errors["facility"] = [f"No facility has the code {event.facility}."]
        if errors:
            results[event.index]["errors"] = errors
        else:
            known.append(event)
    if not known:
        return results

    busy_retries = INGEST_BUSY_RETRIES
    attempt = 0
    while True:
        attempt += 1
        try:
            statuses = _events_insert(partner, known, shipment_ids, facility_ids, source, now, token)
            break
        except OperationalError as exc:
            if not is_busy(exc) or busy_retries == 0 or connections[WRITER].in_atomic_block:
                raise  # a second busy answer becomes a 503 with Retry-After (phoenix/db/middleware.py)
            busy_retries -= 1
            logger.warning("event ingest for partner %s: the database was busy (%s), retrying once", partner, exc)
        except IntegrityError:
            # Another request inserted one of these ids (or deleted a shipment) meanwhile.
            if attempt == INGEST_ATTEMPTS:
                raise
            logger.info("event ingest conflict for partner %s, retrying (%d)", partner, attempt)
    for event in known:
        results[event.index]["status"] = statuses[event.index]
        if statuses[event.index] == REJECTED:
            results[event.index]["errors"] = {
                "tracking_number": [f"No shipment has the tracking number {event.number}."]
            }
    return results


def _partner_write_check(partner: Partner | None):
    """Return ``may_write(shipment_owner_id, event_facility_id)`` for this partner's events.

    No partner (the staff CSV import) writes every shipment. A partner writes its own
    shipments, those of the shippers named by its carrier scopes, and any shipment for an
    event scanned at a facility named by one of its hub scopes (PartnerScope, set by staff).
    """
    if partner is None:
        return lambda owner_id, facility_id: True
    hubs: set[int] = set()
    shippers: set[int] = {partner.pk}
    for kind, facility_id, shipper_id in (
        PartnerScope.objects.using(WRITER).filter(partner=partner).values_list("kind", "facility_id", "shipper_id")
    ):
        if kind == PartnerScope.Kind.HUB and facility_id is not None:
            hubs.add(facility_id)
        elif kind == PartnerScope.Kind.CARRIER and shipper_id is not None:
            shippers.add(shipper_id)
    return lambda owner_id, facility_id: owner_id in shippers or (facility_id is not None and facility_id in hubs)


def _events_insert(partner, events, shipment_ids, facility_ids, source, now, token=None) -> dict[int, str]:
    """Insert the new events and move their shipments on; return a status per item index."""
    statuses: dict[int, str] = {}
    with transaction.atomic(using=WRITER):
        locked = {
            shipment.pk: shipment
            for shipment in Shipment.objects.using(WRITER)
            .select_for_update()
            .filter(pk__in={shipment_ids[e.number] for e in events})
            .order_by("pk")
        }
        seen = {
            value.lower()
            for value in TrackingEvent.objects.using(WRITER)
            .filter(partner=partner, partner_event_id__in=[e.id for e in events])
            .values_list("partner_event_id", flat=True)
        }
        rows: list[TrackingEvent] = []
        for event in events:
            shipment = locked.get(shipment_ids[event.number])
            if shipment is None:
                statuses[event.index] = REJECTED
                continue
            if event.id.lower() in seen:
                statuses[event.index] = DUPLICATE
                continue
            seen.add(event.id.lower())
            statuses[event.index] = ACCEPTED
            rows.append(
                TrackingEvent(
                    shipment=shipment,
                    code=event.code,
                    milestone=milestones.EVENT_CODES[event.code] or "",
                    reason=event.reason,
                    close_exception=event.close_exception,
                    occurred_at=event.occurred_at,
                    facility_id=facility_ids.get(event.facility.upper()) if event.facility else None,
                    note=event.note,
                    source=source,
                    partner=partner,
                    partner_event_id=event.id,
                    token=token,
                    owner_id=shipment.partner_id,
                )
            )
        if not rows:
            return statuses
        TrackingEvent.objects.using(WRITER).bulk_create(rows)
        _events_fill_ids(partner, rows)

        changed_fields: set[str] = set()
        steps: dict[int, list] = {}
        for row in sorted(rows, key=lambda r: (r.shipment_id, r.occurred_at)):
            shipment = locked[row.shipment_id]
            before = state_before(shipment)
            changed = milestones.apply_event(shipment, row)
            steps.setdefault(row.shipment_id, []).append(before.step(row, shipment))
            changed_fields.update(changed)
        # What the new events owe (e-mails, webhooks) is recorded in this same transaction.
        notifications_owed_many(changes=[(locked[pk], shipment_steps) for pk, shipment_steps in steps.items()])
        # Every shipment that got an event is saved, even when only its timeline changed:
        # updated_at is what the public pages' ETag is made of.
        touched = {pk: locked[pk] for pk in steps}
        for shipment in touched.values():
            shipment.updated_at = now
        _shipments_update(list(touched.values()), sorted(changed_fields | {"updated_at"}))
    return statuses


def _events_fill_ids(partner, rows: list[TrackingEvent]) -> None:
    """Give bulk-created events their primary keys where the database did not return them.

    MariaDB returns ids from a bulk INSERT; MySQL 8 (Aurora) does not: one query by the
    partner's event ids, which are unique per partner.
    """
    missing = [row for row in rows if row.pk is None]
    if not missing:
        return
    ids = {
        event_id.lower(): pk
        for event_id, pk in TrackingEvent.objects.using(WRITER)
        .filter(partner=partner, partner_event_id__in=[row.partner_event_id for row in missing])
        .values_list("partner_event_id", "pk")
    }
    for row in missing:
        row.pk = ids[row.partner_event_id.lower()]


def _shipments_update(shipments: list[Shipment], fields: list[str]) -> None:
    """Write ``fields`` of each shipment on the writer in one statement.

    On MySQL and MariaDB, one UPDATE joined to the new values (a derived table of UNION ALL
    rows): executemany of one UPDATE per shipment was one round trip each (mysqlclient batches
    only INSERTs), 500 of them for a batch of 500 scans of different parcels. Elsewhere (SQLite
    under `make run`), one primary-key UPDATE per shipment. Django's bulk_update builds a CASE
    per field and row; compiling it took most of the CPU of a 500-event batch, see
    docs/performance.md.
    """
    connection = connections[WRITER]
    quote = connection.ops.quote_name
    columns = [Shipment._meta.get_field(name) for name in fields]
    table, pk = quote(Shipment._meta.db_table), quote(Shipment._meta.pk.column)
    rows = [
        [shipment.pk] + [column.get_db_prep_save(getattr(shipment, column.attname), connection) for column in columns]
        for shipment in shipments
    ]
    if not rows:
        return
    with connection.cursor() as cursor:
        if connection.vendor != "mysql" or len(rows) == 1:
            sql = "UPDATE {} SET {} WHERE {} = %s".format(
                table, ", ".join(f"{quote(column.column)} = %s" for column in columns), pk
            )
            cursor.executemany(sql, [values[1:] + values[:1] for values in rows])
            return
        names = [quote("pk")] + [quote(column.column) for column in columns]
        first = "SELECT " + ", ".join(f"%s AS {name}" for name in names)
        other = " UNION ALL SELECT " + ", ".join(["%s"] * len(names))
        assignments = ", ".join(f"s.{name} = v.{name}" for name in names[1:])
        cursor.execute(
            f"UPDATE {table} AS s JOIN ({first}{other * (len(rows) - 1)}) AS v ON s.{pk} = v.{names[0]}"
            f" SET {assignments}",
            [value for values in rows for value in values],
        )


def _event_clean(index: int, raw, now: datetime) -> tuple[_Event | None, dict[str, list[str]]]:
    """Return a validated event from one raw item (JSON or CSV values), or the errors by field."""
    if not isinstance(raw, dict):
        return None, {"non_field_errors": ["Each event must be a JSON object."]}
    errors: dict[str, list[str]] = {}

    def text(field: str, max_length: int, required: bool = False) -> str:
        value = raw.get(field)
        if value is None or value == "":
            if required:
                errors[field] = ["This field is required."]
            return ""
        if not isinstance(value, str):
            errors[field] = ["Must be a string."]
            return ""
        if len(value) > max_length:
            errors[field] = [f"At most {max_length} characters."]
        elif "\x00" in value or any("\ud800" <= char <= "\udfff" for char in value):
            errors[field] = ["Contains characters that are not allowed."]
        return value

    event_id = text("id", 100, required=True)
    if event_id and "id" not in errors and not EVENT_ID_PATTERN.fullmatch(event_id):
        errors["id"] = ["Use 1 to 100 printable ASCII characters without spaces."]

    number = text("tracking_number", 40, required=True)
    if number and "tracking_number" not in errors:
        try:
            number = numbers.parse(number)
        except numbers.InvalidTrackingNumber as exc:
            errors["tracking_number"] = [numbers.error_message(number, exc.reason)]

    code = text("code", 32)
    milestone = text("milestone", 32)
    reason = text("reason", 32)
    close_exception = raw.get("close_exception")
    if close_exception is None:
        close_exception = False
    elif not isinstance(close_exception, bool):
        errors["close_exception"] = ["Must be true or false."]
        close_exception = False
    if code and code not in milestones.EVENT_CODES:
        errors["code"] = [f"Unknown event code {code!r}."]
    if milestone and milestone not in milestones.MILESTONES:
        errors["milestone"] = [f"Unknown milestone {milestone!r}."]
    if code and milestone and not errors.get("code") and milestones.EVENT_CODES[code] != milestone:
        errors["milestone"] = [f"Event code {code!r} does not mean milestone {milestone!r}; give one of them."]
    if reason and reason not in ExceptionReason.values:
        errors["reason"] = [f"Unknown reason {reason!r}."]
    code = code or milestone or (EventCode.EXCEPTION if reason else "")
    code = code or (EventCode.EXCEPTION_CLEARED if close_exception else "")
    if not code and not errors.keys() & {"code", "milestone", "reason"}:
        errors["milestone"] = ["Give a milestone (or an event code), a reason, or close_exception."]

    occurred_at = _occurred_at_clean(raw.get("occurred_at"), now, errors)
    facility = text("facility", 12)
    note = text("note", 500)
    if errors:
        return None, errors
    return _Event(index, event_id, number, code, reason, close_exception, occurred_at, facility, note), errors


def _occurred_at_clean(value, now: datetime, errors: dict) -> datetime | None:
    if value is None or value == "":
        errors["occurred_at"] = ["This field is required."]
        return None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is None:
            errors["occurred_at"] = ["Not an ISO 8601 date and time, e.g. 2026-11-27T10:00:00-06:00."]
            return None
        value = parsed
    if not isinstance(value, datetime):
        errors["occurred_at"] = ["Must be a string with an ISO 8601 date and time."]
        return None
    if timezone.is_naive(value):
        errors["occurred_at"] = ["Give the UTC offset of the scan time, e.g. 2026-11-27T10:00:00-06:00."]
        return None
    if value > now + timedelta(seconds=settings.PHOENIX_EVENT_MAX_FUTURE_SECONDS):
        errors["occurred_at"] = ["Is in the future; check the scanner's clock."]
        return None
    if value.year < 2000:
        errors["occurred_at"] = ["Is before the year 2000; check the scanner's clock."]
        return None
    return value


def proof_of_delivery_attach(*, shipment: Shipment, kind: str, image, uploaded_by=None) -> ProofOfDelivery:
    """Store a photo or signature image against the shipment's delivery event.

    The image is checked by its content and stored re-encoded without its metadata
    (``tracking.images``); raises ValidationError when it is not acceptable and ValueError when
    the shipment has no delivery event yet.
    """
    content_type = image_content_type(image)
    image = image_clean(image, content_type)
    event = shipment.events.filter(milestone=milestones.DELIVERED).order_by("-occurred_at", "-id").first()
    if event is None:
        raise ValueError(f"{shipment.tracking_number} has no delivery event")
    proof = ProofOfDelivery(
        shipment=shipment, event=event, kind=kind, image=image, content_type=content_type, uploaded_by=uploaded_by
    )
    proof.save()
    logger.info("proof of delivery %s stored for %s", proof.pk, shipment.tracking_number)
    return proof
