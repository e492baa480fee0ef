"""Workflows across models: creating shipments and recording events.

Every path that changes a shipment's state (API, admin actions, CSV import, seeding) goes
through these functions so that the forward-only milestone rules hold everywhere.
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from tracking import milestones, numbers
from tracking.models import (
    Contact,
    EventCode,
    EventSource,
    Facility,
    Partner,
    Shipment,
    TrackingEvent,
)

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
) -> Shipment:
    """Create a shipment with its contacts and its ``label_created`` event."""
    occurred_at = occurred_at or timezone.now()
    with transaction.atomic():
        shipment = Shipment(
            partner=partner,
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
        _save_with_fresh_number(shipment)
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
        )
    return shipment


def _save_with_fresh_number(shipment: Shipment) -> None:
    """Save a new shipment, drawing another number on the (rare) collision."""
    from django.db import IntegrityError

    for _attempt in range(MAX_NUMBER_ATTEMPTS):
        shipment.tracking_number = numbers.generate()
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
            created_by=created_by,
        )
        changed = milestones.apply_event(locked, event)
        # Saved even when nothing else changed: the timeline did, and updated_at is what the
        # public pages' ETag is made of.
        locked.save(update_fields=[*changed, "updated_at"])
    shipment.refresh_from_db()
    return event
