"""Public tracking lookups: what anyone who knows a tracking number may see of a shipment.

The pages (and, later, the public API) build their answers from ``PublicShipment`` and
``PublicEvent``, which carry no personal data; ``PrivateDetails`` exist only after the
destination postal code was given (docs/site.md, Privacy). Every function names its queries:
a tracking page or a 25-number lookup costs at most two, both reads, which the database router
sends to the reader.
"""

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connections, models, router
from django.db.models import FilteredRelation, Q
from django.utils import dateformat, dates, formats, timezone, translation
from django.utils.translation import get_language, gettext_lazy, pgettext_lazy
from django.utils.translation import gettext as _

from tracking import milestones as m
from tracking import numbers
from tracking.models import Contact, EventCode, ExceptionReason, Facility, Milestone, Service, Shipment, TrackingEvent


# The public views are named tuples (immutable, built in C: a page builds some twenty of them).
class PublicEvent(NamedTuple):
    code: str
    label: str
    occurred_at: datetime
    city: str
    time_zone: str


class Branch(NamedTuple):
    name: str
    address: str
    city: str
    is_branch: bool


class PublicShipment(NamedTuple):
    number: str
    milestone: str
    milestone_label: str
    milestone_at: datetime | None
    exception_reason: str
    exception_label: str
    eta_earliest: datetime | None
    eta_latest: datetime | None
    delivered_at: datetime | None
    last_event: PublicEvent | None
    last_event_at: datetime | None
    origin_city: str
    destination_city: str
    destination: Branch
    time_zone: str
    updated_at: datetime
    service_label: str
    pieces: int
    weight_grams: int

    @property
    def display_number(self) -> str:
        return numbers.display(self.number)

    @property
    def is_delivered(self) -> bool:
        return self.milestone == m.DELIVERED

    @property
    def is_terminal(self) -> bool:
        return self.milestone in m.TERMINAL

    @property
    def weight_kg(self) -> float:
        return self.weight_grams / 1000


@dataclass(frozen=True)
class PrivateDetails:
    """Shown only after the destination postal code was given."""

    recipient_name: str
    address: str
    city: str
    state: str
    postal_code: str
    proof_of_delivery: PublicEvent | None
    proof_note: str


class TimelineRow(NamedTuple):
    """One line of a page's history, its time already written out in the facility's zone."""

    event: PublicEvent
    iso: str  # the local time, ISO 8601, for <time datetime>
    day: str  # "vie 27 nov" (the template's date:"D j M")
    time: str  # the language's TIME_FORMAT
    zone: str  # the zone's abbreviation (date:"T")


@dataclass(frozen=True)
class Step:
    label: str
    state: str  # "done", "current" or "todo"


def _facility_city(facility: Facility | None) -> str:
    return facility.city if facility else ""


def _public(shipment: Shipment, last_event: PublicEvent | None) -> PublicShipment:
    destination = shipment.destination_facility
    return _public_values(
        {name: getattr(shipment, name) for name in _PAGE_SHIPMENT_COLUMNS},
        {name: getattr(destination, name) for name in _PAGE_FACILITY_COLUMNS},
        last_event,
    )


def _public_values(shipment: dict, destination: dict, last_event: PublicEvent | None) -> PublicShipment:
    """Return the public view from a shipment's and its destination's values (no model instances)."""
    exception_open = shipment["exception_open"]
    return PublicShipment(
        number=shipment["tracking_number"],
        milestone=shipment["milestone"],
        milestone_label=_label(Milestone, shipment["milestone"]),
        milestone_at=shipment["milestone_at"],
        exception_reason=shipment["exception_reason"] if exception_open else "",
        exception_label=_label(ExceptionReason, shipment["exception_reason"]) if exception_open else "",
        eta_earliest=shipment["eta_earliest"],
        eta_latest=shipment["eta_latest"],
        delivered_at=shipment["delivered_at"],
        last_event=last_event,
        last_event_at=shipment["last_event_at"],
        origin_city=shipment["origin_city"],
        destination_city=shipment["destination_city"],
        destination=Branch(
            name=destination["name"],
            address=destination["address"],
            city=destination["city"],
            is_branch=destination["kind"] == Facility.Kind.BRANCH,
        ),
        time_zone=destination["time_zone"],
        updated_at=shipment["updated_at"],
        service_label=_label(Service, shipment["service"]),
        pieces=shipment["pieces"],
        weight_grams=shipment["weight_grams"],
    )


def _label(choices: type[models.TextChoices], value: str) -> str:
    """Return the translated label of ``value`` (``value`` itself when it is not a choice).

    Cheaper than ``Model.get_FOO_display()``, which hashes every lazy label of the field's
    choices (one gettext each) on every call: a timeline of 8 events paid ~200 gettext calls.
    """
    try:
        return str(choices(value).label)
    except ValueError:
        return value


def _event_label(code: str) -> str:
    return _label(EventCode, code)


def shipments_many(tracking_numbers: list[str]) -> dict[str, PublicShipment]:
    """Return the public view of each known number, with its newest event. Two queries in fixed
    SQL (one statement per count of numbers, made once), read as rows: no queryset to compile
    with four subqueries, no model instances, whatever the count of numbers.

    The destination facilities come in a second query (by primary key) rather than a join: with
    the join, MariaDB may start from the dozen facilities and scan every shipment bound to each
    (a cost that grows with the table: 6.4x slower at 1,000,000 shipments than at 10,000),
    instead of looking the numbers up in their unique index.
    """
    if not tracking_numbers:
        return {}
    connection = connections[router.db_for_read(Shipment)]
    with connection.cursor() as cursor:
        cursor.execute(_many_sql(len(tracking_numbers)), list(tracking_numbers))
        names = (*_PAGE_SHIPMENT_COLUMNS, "destination_facility_id", *_LAST_EVENT)
        rows = [{name: _aware(connection, value) for name, value in zip(names, row, strict=True)} for row in cursor]
        if not rows:
            return {}
        facility_ids = sorted({row["destination_facility_id"] for row in rows})
        cursor.execute(_facilities_sql(len(facility_ids)), facility_ids)
        destinations = {row[0]: dict(zip(_PAGE_FACILITY_COLUMNS, row[1:], strict=True)) for row in cursor}
    found = {}
    for row in rows:
        destination = destinations[row["destination_facility_id"]]
        last = None
        if row["last_code"]:
            last = PublicEvent(
                code=row["last_code"],
                label=_event_label(row["last_code"]),
                occurred_at=row["last_occurred_at"],
                city=row["last_city"] or "",
                time_zone=row["last_time_zone"] or destination["time_zone"],
            )
        row["exception_open"] = bool(row["exception_open"])
        found[row["tracking_number"]] = _public_values(row, destination, last)
    return found


_LAST_EVENT = ("last_code", "last_occurred_at", "last_city", "last_time_zone")


@functools.cache
def _many_sql(count: int) -> str:
    """The lookup's shipments with their newest event, in fixed SQL (index event_timeline)."""
    shipment, facility, event = (model._meta.db_table for model in (Shipment, Facility, TrackingEvent))

    def latest(column: str, join: str = "") -> str:
        return (
            f"(SELECT {column} FROM {event} e{join} WHERE e.shipment_id = s.id"
            " ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1)"
        )

    facility_join = f" LEFT JOIN {facility} f ON f.id = e.facility_id"
    columns = [f"s.{name}" for name in _PAGE_SHIPMENT_COLUMNS] + ["s.destination_facility_id"]
    columns += [latest("e.code"), latest("e.occurred_at"), latest("f.city", facility_join)]
    columns.append(latest("f.time_zone", facility_join))
    placeholders = ", ".join(["%s"] * count)
    # A sandbox partner's test shipments are not public.
    return (
        f"SELECT {', '.join(columns)} FROM {shipment} s WHERE s.tracking_number IN ({placeholders}) AND NOT s.is_test"
    )


@functools.cache
def _facilities_sql(count: int) -> str:
    columns = ", ".join(_PAGE_FACILITY_COLUMNS)
    return f"SELECT id, {columns} FROM {Facility._meta.db_table} WHERE id IN ({', '.join(['%s'] * count)})"


def _aware(connection, value):
    """The database's naive datetimes are in the connection's zone (UTC)."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=connection.timezone)
    return value


@functools.cache
def _public_page_sql() -> str:
    shipment, facility, event = (model._meta.db_table for model in (Shipment, Facility, TrackingEvent))
    columns = [f"s.{name}" for name in _PAGE_SHIPMENT_COLUMNS] + [f"d.{name}" for name in _PAGE_FACILITY_COLUMNS]
    return (
        f"SELECT {', '.join(columns)}, e.code, e.occurred_at, f.city, f.time_zone"
        f" FROM {shipment} s JOIN {facility} d ON d.id = s.destination_facility_id"
        f" LEFT JOIN {event} e ON e.shipment_id = s.id LEFT JOIN {facility} f ON f.id = e.facility_id"
        " WHERE s.tracking_number = %s AND NOT s.is_test ORDER BY e.occurred_at DESC, e.id DESC"
    )


# What the public page reads of the shipment and of its destination, in the order selected.
_PAGE_SHIPMENT_COLUMNS = (
    "tracking_number",
    "milestone",
    "milestone_at",
    "exception_open",
    "exception_reason",
    "eta_earliest",
    "eta_latest",
    "delivered_at",
    "last_event_at",
    "origin_city",
    "destination_city",
    "updated_at",
    "service",
    "pieces",
    "weight_grams",
)
_PAGE_FACILITY_COLUMNS = ("name", "address", "city", "kind", "time_zone")


def public_page(number: str) -> tuple[PublicShipment, list[PublicEvent]] | None:
    """Return the public view of a shipment and its timeline (newest first), or None. One query.

    The tracking page's hot path, in fixed SQL rather than the ORM: building two querysets and
    some twenty model instances cost four times the round trips themselves (docs/performance.md);
    the row becomes the public view directly, without a model instance.
    The read is routed like any other (router.db_for_read), so pins and failover still apply.
    """
    connection = connections[router.db_for_read(Shipment)]
    with connection.cursor() as cursor:
        cursor.execute(_public_page_sql(), [number])
        rows = cursor.fetchall()
    if not rows:
        return None

    def aware(value):
        return _aware(connection, value)

    shipment_end = len(_PAGE_SHIPMENT_COLUMNS)
    facility_end = shipment_end + len(_PAGE_FACILITY_COLUMNS)
    destination = dict(zip(_PAGE_FACILITY_COLUMNS, rows[0][shipment_end:facility_end], strict=True))
    shipment = {name: aware(value) for name, value in zip(_PAGE_SHIPMENT_COLUMNS, rows[0][:shipment_end], strict=True)}
    shipment["exception_open"] = bool(shipment["exception_open"])
    events = [
        PublicEvent(
            code=code,
            label=_event_label(code),
            occurred_at=aware(at),
            city=city or "",
            time_zone=zone or destination["time_zone"],
        )
        for code, at, city, zone in (row[facility_end:] for row in rows)
        if code is not None
    ]
    return _public_values(shipment, destination, events[0] if events else None), events


def shipment_find(number: str, *, with_recipient: bool = False) -> Shipment | None:
    """Return the shipment with its facilities (and recipient, when asked) or None. One query.

    A sandbox partner's test shipment is not public: None.
    """
    queryset = Shipment.objects.select_related("origin_facility", "destination_facility")
    if with_recipient:
        queryset = queryset.annotate(
            recipient=FilteredRelation("contacts", condition=Q(contacts__role=Contact.Role.RECIPIENT))
        ).select_related("recipient")
    # Sliced rather than .first(): the number is unique, and ordering by pk costs the ORM more
    # than the rest of the query's compilation.
    return next(iter(queryset.filter(tracking_number=number, is_test=False)[:1]), None)


def timeline(shipment: Shipment) -> list[TrackingEvent]:
    """Return the shipment's events, newest scan first, with their facilities. One query."""
    return list(shipment.events.select_related("facility").order_by("-occurred_at", "-pk"))


def public_event(event: TrackingEvent, default_time_zone: str) -> PublicEvent:
    return PublicEvent(
        code=event.code,
        label=_event_label(event.code),
        occurred_at=event.occurred_at,
        city=_facility_city(event.facility),
        time_zone=event.facility.time_zone if event.facility else default_time_zone,
    )


def shipment_public(shipment: Shipment, events: list[TrackingEvent]) -> tuple[PublicShipment, list[PublicEvent]]:
    """Return the public view of a shipment found by shipment_find() and its timeline."""
    zone = shipment.destination_facility.time_zone
    public_events = [public_event(event, zone) for event in events]
    return _public(shipment, public_events[0] if public_events else None), public_events


def shipment_private(shipment: Shipment, events: list[TrackingEvent]) -> PrivateDetails | None:
    """Return the recipient's details; only for a shipment found ``with_recipient``."""
    recipient = getattr(shipment, "recipient", None)
    delivered = next((event for event in events if event.code == EventCode.DELIVERED), None)
    zone = shipment.destination_facility.time_zone
    return PrivateDetails(
        recipient_name=recipient.name if recipient else "",
        address=recipient.address if recipient else "",
        city=recipient.city if recipient else shipment.destination_city,
        state=recipient.state if recipient else "",
        postal_code=shipment.destination_postal_code,
        proof_of_delivery=public_event(delivered, zone) if delivered else None,
        proof_note=delivered.note if delivered else "",
    )


def timeline_rows(events: list[PublicEvent]) -> list[TimelineRow]:
    """Return the history lines of a page, written as the template's date filters would write them.

    Done here rather than with {% timezone %} and four date filters per line: that was half of
    the tracking page's rendering time (docs/performance.md).
    """
    weekdays, months = _date_names(get_language() or settings.LANGUAGE_CODE)
    time_format = formats.get_format("TIME_FORMAT")
    rows = []
    for event in events:
        local = event.occurred_at.astimezone(ZoneInfo(event.time_zone))
        rows.append(
            TimelineRow(
                event=event,
                iso=local.isoformat(),
                day=f"{weekdays[local.weekday()]} {local.day} {months[local.month]}",
                time=clock(local, time_format),
                zone=local.tzname() or "",
            )
        )
    return rows


# Format characters of Django's ``time`` filter that read only the hour, minute and second.
_CLOCK_ONLY = frozenset("aAfgGhHiPs")
_clocks: dict[tuple, str] = {}


def clock(local: datetime, time_format: str) -> str:
    """Return dateformat.time_format(local, time_format), written once per language and minute
    of the day when the format reads nothing else (the languages' TIME_FORMAT)."""
    key = (get_language(), time_format, local.hour, local.minute, local.second)
    try:
        return _clocks[key]
    except KeyError:
        text = dateformat.time_format(local, time_format)
        if _CLOCK_ONLY.issuperset(char for char in time_format if char.isalpha()) and len(_clocks) < 200_000:
            _clocks[key] = text
        return text


@functools.cache
def _date_names(language: str) -> tuple[tuple[str, ...], dict[int, str]]:
    """Return the abbreviated weekday and month names of ``language`` (as date:"D" and "M")."""
    with translation.override(language):
        weekdays = tuple(str(dates.WEEKDAYS_ABBR[day]) for day in range(7))
        months = {month: str(name).title() for month, name in dates.MONTHS_3.items()}
    return weekdays, months


# The milestones on the way to the door, in order, and where the others sit on that line.
_TRACK = (m.LABEL_CREATED, m.PICKED_UP, m.IN_TRANSIT, m.AT_DESTINATION, m.OUT_FOR_DELIVERY, m.DELIVERED)
_RETURN_TRACK = (m.LABEL_CREATED, m.PICKED_UP, m.IN_TRANSIT, m.RETURNING_TO_SENDER, m.RETURNED_TO_SENDER)
_POSITION = {m.DELIVERY_ATTEMPTED: m.OUT_FOR_DELIVERY, m.AVAILABLE_FOR_PICKUP: m.OUT_FOR_DELIVERY, m.LOST: m.IN_TRANSIT}


def progress(milestone: str) -> list[Step]:
    """Return the steps of the progress bar for a milestone (empty for a cancelled label)."""
    if milestone == m.CANCELLED:
        return []
    track = list(_RETURN_TRACK if milestone in (m.RETURNING_TO_SENDER, m.RETURNED_TO_SENDER) else _TRACK)
    position = _POSITION.get(milestone, milestone)
    index = track.index(position)
    if milestone == m.AVAILABLE_FOR_PICKUP:
        track[index:] = [m.AVAILABLE_FOR_PICKUP, m.DELIVERED]
    elif milestone == m.DELIVERY_ATTEMPTED:
        track[index] = m.DELIVERY_ATTEMPTED
    arrived = milestone in (m.DELIVERED, m.RETURNED_TO_SENDER)
    steps = []
    for i, step in enumerate(track):
        done = i < index or (i == index and arrived)
        state = "done" if done else "current" if i == index else "todo"
        steps.append(Step(label=str(Milestone(step).label), state=state))
    return steps


@functools.lru_cache(maxsize=64)
def _progress(language: str, milestone: str) -> tuple[Step, ...]:
    return tuple(progress(milestone))


def progress_once(milestone: str) -> tuple[Step, ...]:
    """``progress``, made once per language and milestone (the steps are the same for all)."""
    return _progress(get_language() or settings.LANGUAGE_CODE, milestone)


def _local_date(moment: datetime, zone: str) -> str:
    return formats.date_format(timezone.localtime(moment, ZoneInfo(zone)), "DATE_FORMAT")


# What happens next after an open exception, translated only when shown.
_EXCEPTION_STEPS = {
    ExceptionReason.RECIPIENT_NOT_HOME: gettext_lazy("Nobody was home to receive it. We will try again tomorrow."),
    ExceptionReason.WEATHER_DELAY: gettext_lazy(
        "Bad weather is slowing us down. We will move your package as soon as it is safe; the delivery date may change."
    ),
    ExceptionReason.CUSTOMS_DOCUMENTATION: gettext_lazy(
        "Customs needs documents for this package. We asked the sender for them; you do not need "
        "to do anything unless we contact you."
    ),
    ExceptionReason.ADDRESS_ISSUE: gettext_lazy(
        "The address is incomplete or incorrect. Ask the sender to confirm it with us so that we can deliver."
    ),
    ExceptionReason.REFUSED: gettext_lazy("The package was refused. We will return it to the sender."),
    ExceptionReason.DAMAGED: gettext_lazy(
        "The package was damaged on the way. We are checking it and will contact the sender."
    ),
    ExceptionReason.MISSED_CONNECTION: gettext_lazy(
        "The package missed a connection and leaves on the next one. Expect up to one day of delay."
    ),
    ExceptionReason.HELD_AT_FACILITY: gettext_lazy(
        "We are holding the package at a facility while we sort out a problem. No action is needed from you."
    ),
}


def next_step(shipment: PublicShipment) -> str:
    """Return what happens next, in plain words, for the milestone and any open exception."""
    branch = shipment.destination
    if shipment.milestone == m.AVAILABLE_FOR_PICKUP and shipment.milestone_at:
        until = shipment.milestone_at + timedelta(days=settings.PHOENIX_PICKUP_HOLD_DAYS)
        place = f"{branch.name}, {branch.address}, {branch.city}" if branch.address else branch.name
        return _("Pick it up at %(place)s until %(date)s. Bring an official ID and your tracking number.") % {
            "place": place,
            "date": _local_date(until, shipment.time_zone),
        }
    reason = shipment.exception_reason
    if reason in _EXCEPTION_STEPS:
        return str(_EXCEPTION_STEPS[reason])
    if shipment.milestone == m.DELIVERY_ATTEMPTED:
        return _("We could not deliver it. We will try again tomorrow.")
    if shipment.milestone == m.LOST:
        return _("We cannot find this package right now and are searching for it. The sender has been told.")
    if shipment.milestone == m.CANCELLED:
        return _("The sender cancelled this shipment before it was picked up.")
    return ""


def _age_bucket(moment: datetime | None, now: datetime) -> str:
    """Return how stale "last scan N minutes ago" is, so that a cached page changes with it."""
    if moment is None:
        return "-"
    seconds = int((now - moment).total_seconds())
    return (
        f"m{seconds // 60}" if seconds < 3600 else f"h{seconds // 3600}" if seconds < 172800 else f"d{seconds // 86400}"
    )


def etag(parts: list[str], shipments: Iterable[Shipment | PublicShipment]) -> str:
    """Return an ETag for a page about ``shipments``: it changes when one of them changes,
    when the language changes, and when its "last scan" age would read differently."""
    now = timezone.now()
    digest = hashlib.sha256()
    for part in [get_language() or "", *parts]:
        digest.update(part.encode() + b"\0")
    for shipment in shipments:
        digest.update(f"{shipment.updated_at.isoformat()}|{_age_bucket(shipment.last_event_at, now)}".encode())
    return f'W/"{digest.hexdigest()[:32]}"'


# Shown instead of a card for a number that is not (or not yet) a shipment.
PROBLEMS = {
    "format": pgettext_lazy(
        "lookup", "This is not a QualityPost tracking number. Our numbers start with QP followed by 12 digits."
    ),
    "check_digit": pgettext_lazy(
        "lookup",
        "This number looks mistyped: one digit is wrong or two digits are swapped. Check it against your "
        "receipt and try again.",
    ),
    "unknown": pgettext_lazy(
        "lookup",
        "We have no shipment with this number yet. If the label was created in the last few hours, "
        "try again later; otherwise check the number with the sender.",
    ),
}
