import multiprocessing
import random
import re
import sys
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connections, transaction
from django.utils import timezone

from tracking import demo, numbers
from tracking.models import Contact, Facility, Shipment, TrackingEvent

BATCH = 2000
# With --workers, the work is cut into chunks of this many shipments, each with its own id range
# and its own residue class of tracking-number bodies, so that processes never collide.
CHUNK = BATCH * 5


class Command(BaseCommand):
    help = (
        "Seed demo data: facilities in Mexico and the US and N shipments with 3 to 12 events "
        "each, every milestone and a few open exceptions. Bulk inserts on the writer; fast "
        "enough for a million shipments."
    )

    def add_arguments(self, parser):
        parser.add_argument("--shipments", type=int, default=200, help="how many shipments to add (default 200)")
        parser.add_argument("--seed", type=int, default=None, help="random seed, for repeatable data")
        parser.add_argument("--quiet", action="store_true", help="no progress lines")
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            help="processes inserting in parallel, with disjoint id and number ranges (default 1)",
        )
        parser.add_argument(
            "--if-empty", action="store_true", help="seed only when there are no shipments yet; list some either way"
        )

    def handle(self, *args, shipments: int, seed: int | None, quiet: bool, if_empty: bool, workers: int, **options):
        if shipments < 0 or shipments > 20_000_000:
            raise CommandError("--shipments must be between 0 and 20,000,000")
        if not 1 <= workers <= 16:
            raise CommandError("--workers must be between 1 and 16")
        if if_empty and Shipment.objects.using("default").exists():
            self.stdout.write("Demo data is already there. Tracking numbers to try:")
            self._print_samples(
                {
                    s.milestone: (s.tracking_number, s.destination_postal_code)
                    for s in Shipment.objects.using("default").order_by("milestone", "id").distinct()[:200]
                }
            )
            return
        facilities = self._facilities()
        started = time.monotonic()
        samples: dict[str, tuple[str, str]] = {}

        def progress(done: int, chunk_samples) -> None:
            for number, milestone, postal_code in chunk_samples:
                samples.setdefault(milestone, (number, postal_code))
            if not quiet and (done % (BATCH * 25) == 0 or done == shipments):
                rate = done / max(time.monotonic() - started, 1e-6)
                sys.stderr.write(f"  seeded {done:,}/{shipments:,} shipments ({rate:,.0f}/s)\n")

        if workers == 1:
            rng = random.Random(seed)
            done = 0
            while done < shipments:
                size = min(BATCH, shipments - done)
                chunk_samples = self._insert_batch(rng, facilities, size)
                done += size
                progress(done, chunk_samples)
        else:
            self._seed_parallel(shipments, seed, facilities, workers, progress)
        elapsed = time.monotonic() - started
        self.stdout.write(f"Seeded {shipments:,} shipments in {elapsed:.1f}s. Tracking numbers to try:")
        self._print_samples(samples)

    def _seed_parallel(self, shipments: int, seed: int | None, facilities, workers: int, progress) -> None:
        """Insert ``shipments`` in chunks spread over ``workers`` forked processes.

        Chunk k gets the ids first_id + k * CHUNK onwards and the tracking-number bodies
        congruent to k modulo the number of chunks, so no two processes ever try the same key.
        """
        first_id = (Shipment.objects.using("default").order_by("-id").values_list("id", flat=True).first() or 0) + 1
        count = (shipments + CHUNK - 1) // CHUNK
        chunks = [
            (k, count, first_id + k * CHUNK, min(CHUNK, shipments - k * CHUNK), seed, [f.pk for f in facilities])
            for k in range(count)
        ]
        # The children inherit the parent's memory; they must open their own connections.
        connections.close_all()
        done = 0
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for size, chunk_samples in pool.imap_unordered(_seed_chunk, chunks):
                done += size
                progress(done, chunk_samples)

    def _print_samples(self, samples: dict[str, tuple[str, str]]) -> None:
        for milestone, (number, postal_code) in sorted(samples.items())[:12]:
            self.stdout.write(f"  {numbers.display(number)}  {milestone:<22} postal code {postal_code}")

    def _facilities(self) -> list[Facility]:
        by_code = {
            f.code: f for f in Facility.objects.using("default").filter(code__in=[row[0] for row in demo.FACILITIES])
        }
        result = []
        for code, name, kind, city, state, country, tz, _codes, address in demo.FACILITIES:
            if code not in by_code:
                by_code[code] = Facility.objects.using("default").create(
                    code=code,
                    name=name,
                    kind=kind,
                    city=city,
                    state=state,
                    country=country,
                    time_zone=tz,
                    address=address,
                )
            result.append(by_code[code])
        return result

    def _insert_batch(
        self,
        rng: random.Random,
        facilities: list[Facility],
        size: int,
        *,
        first_id: int | None = None,
        residue: tuple[int, int] = (0, 1),
    ) -> list[tuple[str, str, str]]:
        """Insert ``size`` shipments with contacts and events in one transaction.

        Rows are written as multi-row INSERT statements built here: the values are numbers,
        timestamps and text from demo.py's fixed vocabularies (checked by ``_text``), which is
        several times faster than escaping a million values one by one.
        """
        now = timezone.now().replace(tzinfo=None)  # naive UTC, as stored
        planned = [demo.plan_shipment(rng, now) for _ in range(size)]
        tracking_numbers = self._fresh_numbers(rng, size, residue)
        connection = connections["default"]
        with transaction.atomic(using="default"), connection.cursor() as cursor:
            if first_id is None:
                first_id = (
                    Shipment.objects.using("default").order_by("-id").values_list("id", flat=True).first() or 0
                ) + 1
            shipment_rows, contact_rows, event_rows = [], [], []
            for offset, (plan, number) in enumerate(zip(planned, tracking_numbers, strict=True)):
                sid = first_id + offset
                origin, destination = facilities[plan.origin], facilities[plan.destination]
                shipment_rows.append(
                    f"({sid},'{number}','{plan.service}',{plan.weight_grams},{plan.pieces},{origin.id},"
                    f"{destination.id},{_text(origin.city)},{_text(destination.city)},'{plan.postal_code}',"
                    f"'{plan.milestone}',{_ts(plan.milestone_at)},{int(plan.exception_open)},"
                    f"'{plan.exception_reason}',{_ts(plan.exception_at)},{_ts(plan.eta_earliest)},"
                    f"{_ts(plan.eta_latest)},{_ts(plan.delivered_at)},{_ts(plan.last_event_at)},"
                    f"{_ts(plan.created_at)},{_ts(plan.last_event_at or now)},'')"
                )
                for role, city, country, postal in (
                    ("recipient", destination.city, destination.country, plan.postal_code),
                    ("sender", origin.city, origin.country, demo.FACILITIES[plan.origin][7][0]),
                ):
                    name = demo.person(rng)
                    email = f"{demo.ascii_slug(name)}.{sid}@example.com"
                    contact_rows.append(
                        f"({sid},'{role}',{_text(name)},'{demo.phone(rng, country)}','{email}',"
                        f"{_text(demo.street(rng))},{_text(city)},'','{postal}','{country}')"
                    )
                for event in plan.events:
                    event_rows.append(
                        f"({sid},'{event.code}','{event.milestone}','{event.reason}',{int(event.close_exception)},"
                        f"{_ts(event.occurred_at)},{_ts(event.occurred_at)},{facilities[event.facility].id},'','system')"
                    )
            self._insert(
                cursor,
                Shipment,
                [
                    "id",
                    "tracking_number",
                    "service",
                    "weight_grams",
                    "pieces",
                    "origin_facility_id",
                    "destination_facility_id",
                    "origin_city",
                    "destination_city",
                    "destination_postal_code",
                    "milestone",
                    "milestone_at",
                    "exception_open",
                    "exception_reason",
                    "exception_at",
                    "eta_earliest",
                    "eta_latest",
                    "delivered_at",
                    "last_event_at",
                    "created_at",
                    "updated_at",
                    "reference",
                ],
                shipment_rows,
                connection,
            )
            self._insert(
                cursor,
                Contact,
                [
                    "shipment_id",
                    "role",
                    "name",
                    "phone",
                    "email",
                    "address",
                    "city",
                    "state",
                    "postal_code",
                    "country",
                ],
                contact_rows,
                connection,
            )
            self._insert(
                cursor,
                TrackingEvent,
                [
                    "shipment_id",
                    "code",
                    "milestone",
                    "reason",
                    "close_exception",
                    "occurred_at",
                    "recorded_at",
                    "facility_id",
                    "note",
                    "source",
                ],
                event_rows,
                connection,
            )
        return [
            (number, plan.milestone, plan.postal_code) for plan, number in zip(planned, tracking_numbers, strict=True)
        ]

    @staticmethod
    def _insert(cursor, model, columns: list[str], rows: list[str], connection) -> None:
        table = connection.ops.quote_name(model._meta.db_table)
        names = ", ".join(connection.ops.quote_name(c) for c in columns)
        for start in range(0, len(rows), 1000):
            cursor.execute(f"INSERT INTO {table} ({names}) VALUES {','.join(rows[start : start + 1000])}")

    @staticmethod
    def _fresh_numbers(rng: random.Random, size: int, residue: tuple[int, int] = (0, 1)) -> list[str]:
        """Return ``size`` tracking numbers not yet in the database (one query per batch).

        Their bodies are congruent to ``residue[0]`` modulo ``residue[1]`` (parallel chunks).
        """
        remainder, modulus = residue
        top = 10**numbers.BODY_DIGITS // modulus
        result: set[str] = set()
        while len(result) < size:
            candidates = {
                numbers.from_body(rng.randrange(top) * modulus + remainder) for _ in range(size - len(result))
            }
            taken = set(
                Shipment.objects.using("default")
                .filter(tracking_number__in=candidates)
                .values_list("tracking_number", flat=True)
            )
            result |= candidates - taken
        return list(result)[:size]


def _seed_chunk(chunk) -> tuple[int, list[tuple[str, str, str]]]:
    """Insert one chunk of shipments in a worker process; return its size and sample numbers."""
    index, count, first_id, size, seed, facility_ids = chunk
    rng = random.Random(None if seed is None else f"{seed}:{index}")
    by_id = Facility.objects.using("default").in_bulk(facility_ids)
    facilities = [by_id[pk] for pk in facility_ids]
    command = Command()
    samples = {}
    try:
        for offset in range(0, size, BATCH):
            for number, milestone, postal_code in command._insert_batch(
                rng,
                facilities,
                min(BATCH, size - offset),
                first_id=first_id + offset,
                residue=(index, count),
            ):
                samples.setdefault(milestone, (number, milestone, postal_code))
    finally:
        connections.close_all()
    return size, list(samples.values())


_SAFE_TEXT = re.compile(r"[\w .,#°-]*")


def _text(value: str) -> str:
    """Return a quoted SQL literal for demo text, refusing anything that would need escaping."""
    if not _SAFE_TEXT.fullmatch(value):
        raise ValueError(f"demo text {value!r} has characters that need escaping")
    return f"'{value}'"


def _ts(value) -> str:
    """Return a naive-UTC datetime as an SQL literal (NULL for None)."""
    return "NULL" if value is None else f"'{value.isoformat(sep=' ')}'"
