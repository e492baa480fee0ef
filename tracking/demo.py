"""Demo data: facilities in Mexico and the United States and plausible shipment histories.

Pure helpers (no Django imports) so that seeding a million shipments spends its time in the
database, not in the ORM. ``tracking/management/commands/seed_demo.py`` writes the rows.
"""

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate

from tracking import milestones as m

# code, name, kind, city, state, country, time zone, postal codes served, address
FACILITIES = [
    (
        "MEX01",
        "Ciudad de México Hub",
        "hub",
        "Ciudad de México",
        "CDMX",
        "MX",
        "America/Mexico_City",
        ["06700", "03100", "11560"],
        "Av. Tláhuac 4200, Iztapalapa",
    ),
    (
        "GDL01",
        "Guadalajara Hub",
        "hub",
        "Guadalajara",
        "Jalisco",
        "MX",
        "America/Mexico_City",
        ["44100", "44600", "45050"],
        "Av. Lázaro Cárdenas 3430",
    ),
    (
        "MTY01",
        "Monterrey Hub",
        "hub",
        "Monterrey",
        "Nuevo León",
        "MX",
        "America/Monterrey",
        ["64000", "64620", "66220"],
        "Av. Ruiz Cortines 2700",
    ),
    (
        "TIJ01",
        "Tijuana Cross-border",
        "hub",
        "Tijuana",
        "Baja California",
        "MX",
        "America/Tijuana",
        ["22000", "22320"],
        "Blvd. Agua Caliente 11200",
    ),
    (
        "CUN01",
        "Cancún Branch",
        "branch",
        "Cancún",
        "Quintana Roo",
        "MX",
        "America/Cancun",
        ["77500", "77533"],
        "Av. Tulum 260, SM 25",
    ),
    (
        "PUE01",
        "Puebla Branch",
        "branch",
        "Puebla",
        "Puebla",
        "MX",
        "America/Mexico_City",
        ["72000", "72160"],
        "Blvd. 5 de Mayo 1502",
    ),
    (
        "MER01",
        "Mérida Branch",
        "branch",
        "Mérida",
        "Yucatán",
        "MX",
        "America/Merida",
        ["97000", "97130"],
        "Calle 60 No. 455",
    ),
    (
        "LAX01",
        "Los Angeles Hub",
        "hub",
        "Los Angeles",
        "CA",
        "US",
        "America/Los_Angeles",
        ["90001", "90012", "90210"],
        "1200 E 7th St",
    ),
    ("HOU01", "Houston Hub", "hub", "Houston", "TX", "US", "America/Chicago", ["77002", "77019"], "8100 Airport Blvd"),
    (
        "SAT01",
        "San Antonio Branch",
        "branch",
        "San Antonio",
        "TX",
        "US",
        "America/Chicago",
        ["78205", "78212"],
        "410 S Main Ave",
    ),
    ("CHI01", "Chicago Hub", "hub", "Chicago", "IL", "US", "America/Chicago", ["60601", "60614"], "2600 S Halsted St"),
    (
        "PHX01",
        "Phoenix Branch",
        "branch",
        "Phoenix",
        "AZ",
        "US",
        "America/Phoenix",
        ["85001", "85016"],
        "1 E Washington St",
    ),
]

FIRST_NAMES = [
    "María",
    "José",
    "Guadalupe",
    "Juan",
    "Fernanda",
    "Luis",
    "Sofía",
    "Carlos",
    "Ana",
    "Miguel",
    "Emily",
    "James",
    "Olivia",
    "Daniel",
    "Ximena",
    "Diego",
]
LAST_NAMES = [
    "Hernández",
    "García",
    "Martínez",
    "López",
    "González",
    "Rodríguez",
    "Pérez",
    "Sánchez",
    "Ramírez",
    "Flores",
    "Smith",
    "Johnson",
    "Torres",
    "Rivera",
]
STREETS = [
    "Av. Reforma",
    "Calle Morelos",
    "Av. Juárez",
    "Calle Hidalgo",
    "Main St",
    "Oak Ave",
    "Av. Insurgentes",
    "Calle 5 de Mayo",
    "Elm St",
]

# Final milestone -> weight: mostly delivered or on the way, a few of everything else.
OUTCOMES = [
    (m.DELIVERED, 40),
    (m.IN_TRANSIT, 14),
    (m.OUT_FOR_DELIVERY, 8),
    (m.AT_DESTINATION, 6),
    (m.PICKED_UP, 5),
    (m.LABEL_CREATED, 5),
    (m.DELIVERY_ATTEMPTED, 5),
    (m.AVAILABLE_FOR_PICKUP, 4),
    (m.RETURNING_TO_SENDER, 3),
    (m.RETURNED_TO_SENDER, 3),
    (m.CANCELLED, 3),
    (m.LOST, 1),
]

_OUTCOME_NAMES = [o for o, _ in OUTCOMES]
_OUTCOME_CUM = list(accumulate(w for _, w in OUTCOMES))


@dataclass
class PlannedEvent:
    code: str
    milestone: str
    facility: int  # index into the facilities list
    occurred_at: datetime
    reason: str = ""
    close_exception: bool = False


@dataclass
class PlannedShipment:
    origin: int
    destination: int
    postal_code: str
    weight_grams: int
    pieces: int
    service: str
    created_at: datetime
    events: list[PlannedEvent] = field(default_factory=list)
    milestone: str = m.LABEL_CREATED
    milestone_at: datetime | None = None
    exception_reason: str = ""
    exception_at: datetime | None = None
    exception_open: bool = False
    delivered_at: datetime | None = None
    last_event_at: datetime | None = None
    eta_earliest: datetime | None = None
    eta_latest: datetime | None = None


def plan_shipment(rng: random.Random, now: datetime) -> PlannedShipment:
    """Return a shipment with a realistic history of 3 to 12 events ending before ``now``."""
    outcome = rng.choices(_OUTCOME_NAMES, cum_weights=_OUTCOME_CUM)[0]
    origin, destination = rng.sample(range(len(FACILITIES)), 2)
    postal_code = rng.choice(FACILITIES[destination][7])
    start = now - timedelta(days=rng.uniform(0.2, 20))
    shipment = PlannedShipment(
        origin=origin,
        destination=destination,
        postal_code=postal_code,
        weight_grams=rng.randint(150, 25000),
        pieces=rng.choice([1, 1, 1, 1, 2, 3]),
        service=rng.choice(["standard", "standard", "express", "economy"]),
        created_at=start,
    )
    steps = _path_to(outcome, rng)
    hubs_between = [i for i in range(len(FACILITIES)) if i not in (origin, destination)]
    # Pad with in-transit scans at intermediate hubs for 3..12 events in all.
    target = rng.randint(3, 12)
    transit_scans = max(0, target - len(steps))
    if m.IN_TRANSIT in [s[1] for s in steps] and transit_scans:
        at = [s[1] for s in steps].index(m.IN_TRANSIT)
        extra = [
            ("arrived_at_facility" if k % 2 == 0 else "departed_facility", m.IN_TRANSIT, "")
            for k in range(transit_scans)
        ]
        steps = steps[: at + 1] + extra + steps[at + 1 :]
    while len(steps) < 3:
        steps.insert(1, ("note", "", ""))
    span = (now - start) * rng.uniform(0.5, 0.98)
    gap = span / max(len(steps), 1)
    at_time = start
    for index, (code, milestone, reason) in enumerate(steps):
        if milestone in (
            m.AT_DESTINATION,
            m.OUT_FOR_DELIVERY,
            m.DELIVERY_ATTEMPTED,
            m.AVAILABLE_FOR_PICKUP,
            m.DELIVERED,
        ):
            facility = destination
        elif index <= 1:
            facility = origin
        else:
            facility = rng.choice(hubs_between) if milestone == m.IN_TRANSIT else origin
        shipment.events.append(
            PlannedEvent(
                code, milestone, facility, at_time, reason=reason, close_exception=(code == "exception_cleared")
            )
        )
        at_time += gap * rng.uniform(0.6, 1.4)
        at_time = min(at_time, now - timedelta(minutes=rng.randint(2, 90)))
    _derive_state(shipment)
    if shipment.milestone not in m.TERMINAL:
        days = {"express": 2, "standard": 4, "economy": 7}[shipment.service]
        eta = (start + timedelta(days=days)).replace(hour=9, minute=0, second=0, microsecond=0)
        eta = max(eta, (now + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0))
        shipment.eta_earliest, shipment.eta_latest = eta, eta + timedelta(hours=9)
    return shipment


def _path_to(outcome: str, rng: random.Random) -> list[tuple[str, str, str]]:
    """Return (event code, milestone, reason) steps that end at ``outcome``."""
    base = [(m.LABEL_CREATED, m.LABEL_CREATED, "")]
    if outcome == m.LABEL_CREATED:
        return base + [("note", "", "")]
    if outcome == m.CANCELLED:
        return base + [("note", "", ""), (m.CANCELLED, m.CANCELLED, "")]
    path = base + [(m.PICKED_UP, m.PICKED_UP, "")]
    if outcome == m.PICKED_UP:
        return path + [("departed_facility", "", "")]
    path.append((m.IN_TRANSIT, m.IN_TRANSIT, ""))
    if rng.random() < 0.1:
        reason = rng.choice(["weather_delay", "missed_connection", "customs_documentation"])
        path += [("exception", "", reason)]
        if outcome != m.IN_TRANSIT or rng.random() < 0.5:
            path += [("exception_cleared", "", "")]
    if outcome == m.IN_TRANSIT:
        return path
    if outcome == m.LOST:
        return path + [(m.LOST, m.LOST, "")]
    path.append((m.AT_DESTINATION, m.AT_DESTINATION, ""))
    if outcome == m.AT_DESTINATION:
        return path
    if outcome in (m.RETURNING_TO_SENDER, m.RETURNED_TO_SENDER):
        path += [(m.RETURNING_TO_SENDER, m.RETURNING_TO_SENDER, "refused")]
        return path + ([(m.RETURNED_TO_SENDER, m.RETURNED_TO_SENDER, "")] if outcome == m.RETURNED_TO_SENDER else [])
    path.append((m.OUT_FOR_DELIVERY, m.OUT_FOR_DELIVERY, ""))
    if outcome == m.OUT_FOR_DELIVERY:
        return path
    if outcome in (m.DELIVERY_ATTEMPTED, m.AVAILABLE_FOR_PICKUP) or rng.random() < 0.15:
        path.append((m.DELIVERY_ATTEMPTED, m.DELIVERY_ATTEMPTED, "recipient_not_home"))
        if outcome == m.DELIVERY_ATTEMPTED:
            return path
        if outcome == m.AVAILABLE_FOR_PICKUP:
            return path + [(m.AVAILABLE_FOR_PICKUP, m.AVAILABLE_FOR_PICKUP, "")]
        path.append((m.OUT_FOR_DELIVERY, m.OUT_FOR_DELIVERY, ""))
    return path + [(m.DELIVERED, m.DELIVERED, "")]


def _derive_state(shipment: PlannedShipment) -> None:
    """Apply the events in order with the rules the domain services use."""
    for event in shipment.events:
        m.apply_event(shipment, event)


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)} {rng.choice(LAST_NAMES)}"


def phone(rng: random.Random, country: str) -> str:
    if country == "MX":
        return f"+52 {rng.randint(33, 99)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"
    return f"+1 {rng.randint(201, 989)} {rng.randint(200, 999)} {rng.randint(1000, 9999)}"


def ascii_slug(name: str) -> str:
    """Return ``name`` as a lowercase ASCII e-mail local part."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return ".".join(plain.lower().split()[:2])


def street(rng: random.Random) -> str:
    return f"{rng.choice(STREETS)} {rng.randint(1, 2999)}"
