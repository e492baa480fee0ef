"""The tracking object partners read: the public projection, and ``private`` for the owner.

Shared by the tracking lookups and the changes feed, so a shipment reads the same wherever a
partner meets it. Personal data and proofs appear only with the owning partner's token.
"""

from django.urls import reverse

from tracking.models import Contact, ProofOfDelivery, Shipment, TrackingEvent


def by_number(request, canonical: list[str]) -> dict[str, dict]:
    """Return the projection of each found shipment by number (see ``of``; one query more)."""
    if not canonical:
        return {}
    return {
        data["tracking_number"]: data
        for data in of(request, list(Shipment.objects.filter(tracking_number__in=canonical)))
    }


def of(request, shipments: list[Shipment]) -> list[dict]:
    """Return the projection of each shipment, in the order given.

    One query (events with their facilities), plus two (contacts, proofs of delivery) when the
    request's partner owns any of them, whatever the count.
    """
    if not shipments:
        return []
    partner = request.auth.partner if request.auth is not None else None
    timeline: dict[int, list[TrackingEvent]] = {s.pk: [] for s in shipments}
    events = (
        TrackingEvent.objects.filter(shipment__in=shipments)
        .select_related("facility")
        .order_by("shipment_id", "-occurred_at", "-id")
    )
    for event in events:
        timeline[event.shipment_id].append(event)
    owned = {s.pk for s in shipments if partner is not None and s.partner_id == partner.pk}
    contacts: dict[int, dict[str, Contact]] = {pk: {} for pk in owned}
    proofs: dict[int, list[dict]] = {pk: [] for pk in owned}
    if owned:
        for contact in Contact.objects.filter(shipment_id__in=owned):
            contacts[contact.shipment_id][contact.role] = contact
        for proof in ProofOfDelivery.objects.filter(shipment_id__in=owned).order_by("shipment_id", "uploaded_at", "id"):
            proofs[proof.shipment_id].append(_proof(request, proof))
    return [_projection(s, timeline[s.pk], contacts.get(s.pk), proofs.get(s.pk), partner) for s in shipments]


def _projection(shipment: Shipment, events: list[TrackingEvent], contacts, proofs, partner) -> dict:
    data = {
        "tracking_number": shipment.tracking_number,
        "display_number": shipment.display_number,
        "milestone": shipment.milestone,
        "milestone_at": shipment.milestone_at,
        "delivered_at": shipment.delivered_at,
        "exception": {"open": shipment.exception_open, "reason": shipment.exception_reason or None},
        "eta": {"earliest": shipment.eta_earliest, "latest": shipment.eta_latest},
        "origin": {"city": shipment.origin_city},
        "destination": {"city": shipment.destination_city},
        "events": [
            {
                "code": e.code,
                "milestone": e.milestone or None,
                "reason": e.reason or None,
                "occurred_at": e.occurred_at,
                "facility": {"city": e.facility.city} if e.facility else None,
            }
            for e in events
        ],
    }
    if contacts is None:
        return data
    data["private"] = {
        "reference": shipment.reference,
        "service": shipment.service,
        "weight_grams": shipment.weight_grams,
        "pieces": shipment.pieces,
        "destination_postal_code": shipment.destination_postal_code,
        "recipient": _contact(contacts.get(Contact.Role.RECIPIENT)),
        "sender": _contact(contacts.get(Contact.Role.SENDER)),
        "events": [
            {
                "occurred_at": e.occurred_at,
                "facility": e.facility.code if e.facility else None,
                "note": e.note,
                "id": e.partner_event_id if e.partner_id == partner.pk else None,
            }
            for e in events
        ],
        "proof_of_delivery": proofs,
    }
    return data


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
