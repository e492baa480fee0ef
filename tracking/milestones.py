"""Milestones and event codes: the forward-only transition table. No Django imports.

A shipment's milestone only moves along ``TRANSITIONS``. An event that arrives late (its scan
time is older than the scan that set the current milestone) joins the timeline but never moves
the milestone, so the public status cannot go backwards when scanners upload out of order.
"""

from datetime import datetime

LABEL_CREATED = "label_created"
PICKED_UP = "picked_up"
IN_TRANSIT = "in_transit"
AT_DESTINATION = "at_destination"
OUT_FOR_DELIVERY = "out_for_delivery"
DELIVERY_ATTEMPTED = "delivery_attempted"
AVAILABLE_FOR_PICKUP = "available_for_pickup"
DELIVERED = "delivered"
RETURNING_TO_SENDER = "returning_to_sender"
RETURNED_TO_SENDER = "returned_to_sender"
CANCELLED = "cancelled"
LOST = "lost"

MILESTONES = (
    LABEL_CREATED,
    PICKED_UP,
    IN_TRANSIT,
    AT_DESTINATION,
    OUT_FOR_DELIVERY,
    DELIVERY_ATTEMPTED,
    AVAILABLE_FOR_PICKUP,
    DELIVERED,
    RETURNING_TO_SENDER,
    RETURNED_TO_SENDER,
    CANCELLED,
    LOST,
)

TERMINAL = frozenset({DELIVERED, RETURNED_TO_SENDER, CANCELLED})

_ON_THE_WAY = {IN_TRANSIT, AT_DESTINATION, OUT_FOR_DELIVERY, DELIVERED, RETURNING_TO_SENDER, LOST}

# current milestone -> milestones it may move to. Moving to the same milestone is not a
# transition (a second in-transit scan just joins the timeline).
TRANSITIONS: dict[str, frozenset[str]] = {
    LABEL_CREATED: frozenset({PICKED_UP, CANCELLED} | _ON_THE_WAY),
    PICKED_UP: frozenset(_ON_THE_WAY),
    IN_TRANSIT: frozenset(_ON_THE_WAY - {IN_TRANSIT} | {AVAILABLE_FOR_PICKUP}),
    AT_DESTINATION: frozenset({OUT_FOR_DELIVERY, AVAILABLE_FOR_PICKUP, DELIVERED, RETURNING_TO_SENDER, LOST}),
    OUT_FOR_DELIVERY: frozenset({DELIVERY_ATTEMPTED, AVAILABLE_FOR_PICKUP, DELIVERED, RETURNING_TO_SENDER, LOST}),
    # A failed attempt is followed by another delivery run the next day.
    DELIVERY_ATTEMPTED: frozenset({OUT_FOR_DELIVERY, AVAILABLE_FOR_PICKUP, DELIVERED, RETURNING_TO_SENDER, LOST}),
    AVAILABLE_FOR_PICKUP: frozenset({DELIVERED, RETURNING_TO_SENDER, LOST}),
    RETURNING_TO_SENDER: frozenset({RETURNED_TO_SENDER, LOST}),
    # A parcel declared lost can still be found and delivered or returned.
    LOST: frozenset({DELIVERED, RETURNED_TO_SENDER, RETURNING_TO_SENDER}),
    DELIVERED: frozenset(),
    RETURNED_TO_SENDER: frozenset(),
    CANCELLED: frozenset(),
}

# Scanner and partner event codes -> the milestone they mean (None: informational only).
EVENT_CODES: dict[str, str | None] = {milestone: milestone for milestone in MILESTONES}
EVENT_CODES.update(
    {
        "arrived_at_facility": IN_TRANSIT,
        "departed_facility": IN_TRANSIT,
        "customs_cleared": IN_TRANSIT,
        "exception": None,
        "exception_cleared": None,
        "note": None,
    }
)


def can_move(current: str, new: str) -> bool:
    """Return True when the table allows ``current`` -> ``new``."""
    return new in TRANSITIONS.get(current, frozenset())


def next_milestone(current: str, current_at: datetime | None, candidate: str | None, candidate_at: datetime) -> str:
    """Return the milestone after an event with ``candidate`` scanned at ``candidate_at``.

    The milestone moves only when the transition is in the table and the event is not older
    than the scan that set the current milestone.
    """
    if candidate is None or candidate == current:
        return current
    if current_at is not None and candidate_at < current_at:
        return current
    return candidate if can_move(current, candidate) else current


def apply_event(shipment, event) -> list[str]:
    """Apply an event's effect to a shipment-like object in memory; return the changed fields.

    ``shipment`` has ``milestone``, ``milestone_at``, ``exception_open``, ``exception_reason``,
    ``exception_at``, ``delivered_at`` and ``last_event_at``; ``event`` has ``code``,
    ``milestone``, ``occurred_at``, ``reason`` and ``close_exception``. Late events (older than
    the state they would change) leave the shipment as it is. Shared by the domain services
    and by demo seeding so both follow one set of rules.
    """
    changed: list[str] = []
    new = next_milestone(shipment.milestone, shipment.milestone_at, event.milestone or None, event.occurred_at)
    if new != shipment.milestone or shipment.milestone_at is None:
        shipment.milestone = new
        shipment.milestone_at = event.occurred_at
        changed += ["milestone", "milestone_at"]
        if new == DELIVERED:
            shipment.delivered_at = event.occurred_at
            changed.append("delivered_at")
    terminal = shipment.milestone in TERMINAL
    exception_is_current = shipment.exception_at is None or event.occurred_at >= shipment.exception_at
    closes = event.close_exception or event.code == "exception_cleared"
    if exception_is_current and event.reason and not terminal:
        shipment.exception_open = True
        shipment.exception_reason = event.reason
        shipment.exception_at = event.occurred_at
        changed += ["exception_open", "exception_reason", "exception_at"]
    elif exception_is_current and (closes or (terminal and shipment.exception_open)):
        # Remember when it was closed, so that an older exception arriving late stays closed.
        shipment.exception_open = False
        shipment.exception_at = event.occurred_at
        changed += ["exception_open", "exception_at"]
    if shipment.last_event_at is None or event.occurred_at > shipment.last_event_at:
        shipment.last_event_at = event.occurred_at
        changed.append("last_event_at")
    return changed
