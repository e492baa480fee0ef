"""Time the shipment change list (first page, filters, searches) against a floor; see docs/performance.md."""

import os
import platform
import re
import statistics
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.test import Client

from tracking import numbers
from tracking.models import Contact, Facility, Shipment

SECTION = "admin-changelist"
USERNAME = "bench-admin"


class Command(BaseCommand):
    help = (
        "Benchmark the admin shipment change list in-process (Django test client, real database): "
        "median and p95 of N runs per page, against a floor (SELECT 1 and the admin index page). "
        "Optionally seeds shipments first and writes its section of docs/performance.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=30, help="timed runs per page (default 30)")
        parser.add_argument(
            "--ensure-shipments", type=int, default=0, help="seed_demo until there are at least this many shipments"
        )
        parser.add_argument("--write", metavar="FILE", help="rewrite this benchmark's section of FILE (markdown)")
        parser.add_argument("--command-line", default="", help="the command to quote in the report")

    def handle(self, *args, runs: int, ensure_shipments: int, write: str | None, command_line: str, **options):
        if runs < 1:
            raise CommandError("--runs must be at least 1")
        have = Shipment.objects.using("default").count()
        if have < ensure_shipments:
            self.stderr.write(f"Seeding {ensure_shipments - have:,} shipments (have {have:,}) ...")
            call_command("seed_demo", "--shipments", str(ensure_shipments - have), "--quiet", stdout=self.stderr)
            have = ensure_shipments
        if not have:
            raise CommandError("there are no shipments; use --ensure-shipments N")
        client = self._client()
        self._wait_for_reader(have)
        pages = self._pages()
        results = []
        floor = self._time(lambda: self._select_one(), runs)
        results.append(("floor: `SELECT 1` round trip (writer)", floor))
        for label, url in pages:
            response = client.get(url, secure=True)
            if response.status_code != 200:
                raise CommandError(f"{url} answered {response.status_code}")
            timings = self._time(lambda url=url: client.get(url, secure=True), runs)
            results.append((label, timings))
            self.stdout.write(f"{label:<52} median {statistics.median(timings):7.1f} ms")
        report = self._report(results, runs, have, command_line)
        self.stdout.write(report)
        if write:
            self._write_section(Path(write), report)
            self.stdout.write(f"Wrote section {SECTION} of {write}.")

    def _client(self) -> Client:
        user, _created = get_user_model().objects.get_or_create(
            username=USERNAME, defaults={"is_staff": True, "is_superuser": True}
        )
        client = Client(HTTP_HOST="localhost")
        client.force_login(user)
        return client

    def _wait_for_reader(self, shipments: int, timeout: float = 1800) -> None:
        """Wait until the replica has the seeded rows and the bench user (lag is not measured here)."""
        if "reader" not in connections or self._server_id("reader") == self._server_id("default"):
            return  # no replica, or the reader is the writer itself (the test runner's mirror)
        deadline = time.monotonic() + timeout
        reader = get_user_model().objects.using("reader")
        while not (reader.filter(username=USERNAME).exists() and Shipment.objects.using("reader").count() >= shipments):
            if time.monotonic() > deadline:
                raise CommandError("the reader did not catch up with the writer")
            time.sleep(2)

    @staticmethod
    def _server_id(alias: str) -> int:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT @@server_id")
            return cursor.fetchone()[0]

    def _pages(self) -> list[tuple[str, str]]:
        newest = Shipment.objects.order_by("-created_at").only("tracking_number").first()
        oldest = Shipment.objects.order_by("created_at").only("tracking_number").first()
        recipient = Contact.objects.filter(role="recipient").exclude(phone="").order_by("-id").first()
        facility = Facility.objects.order_by("id").first()
        digits = re.sub(r"\D", "", recipient.phone) if recipient else "0000000000"
        name = " ".join(recipient.name.split()[:2]) if recipient else "Ana"
        base = "/admin/tracking/shipment/"
        last_page = min(49, (Shipment.objects.count() - 1) // 50)
        return [
            ("floor: admin index page", "/admin/"),
            ("change list, first page", base),
            (f"change list, page {last_page + 1}", f"{base}?p={last_page}"),
            ("filter: milestone in_transit", f"{base}?milestone__exact=in_transit"),
            ("filter: open exceptions", f"{base}?exception_open__exact=1"),
            ("filter: destination facility", f"{base}?destination_facility__id__exact={facility.pk}"),
            (
                "search: tracking number (grouped, lower case)",
                f"{base}?q={numbers.display(newest.tracking_number).lower().replace(' ', '+')}",
            ),
            ("search: oldest shipment's number", f"{base}?q={oldest.tracking_number}"),
            ("search: recipient phone (digits only)", f"{base}?q={digits[-10:]}"),
            ("search: recipient name (first two words)", f"{base}?q={name.replace(' ', '+')}"),
            ("change form of one shipment", f"{base}{newest.pk}/change/"),
        ]

    @staticmethod
    def _select_one() -> None:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    @staticmethod
    def _time(action, runs: int) -> list[float]:
        action()  # warm-up: connection, templates, caches
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            action()
            timings.append((time.perf_counter() - started) * 1000)
        return timings

    @staticmethod
    def _p95(timings: list[float]) -> float:
        ordered = sorted(timings)
        return ordered[max(0, int(len(ordered) * 0.95 + 0.999999) - 1)]

    def _report(self, results, runs: int, shipments: int, command_line: str) -> str:
        floor_page = statistics.median(next(t for label, t in results if label == "floor: admin index page"))
        memory = ""
        if Path("/proc/meminfo").exists():
            kb = int(Path("/proc/meminfo").read_text().split()[1])
            memory = f", {kb / 1024 / 1024:.0f} GiB memory"
        vendor = connections["default"].vendor
        load = f"load average {os.getloadavg()[0]:.1f} at the end"
        lines = [
            f"<!-- section:{SECTION} -->",
            "## Admin shipment change list",
            "",
            f"{shipments:,} shipments on the local MariaDB writer ({vendor}); {runs} timed runs per row after one "
            f"warm-up, in-process Django test client logged in as a superuser (whole request: middleware, "
            f"queries, template). Machine: {os.cpu_count()} CPUs{memory}, {platform.python_implementation()} "
            f"{platform.python_version()}, {load} (other work shared the machine). Ratio = median / median of the "
            "admin index page (the floor page).",
            "",
            f"Command: `{command_line or 'manage.py bench_admin'}`",
            "",
            "| request | median ms | p95 ms | × floor page |",
            "| --- | ---: | ---: | ---: |",
        ]
        for label, timings in results:
            median = statistics.median(timings)
            lines.append(f"| {label} | {median:.2f} | {self._p95(timings):.2f} | {median / floor_page:.2f} |")
        lines += ["", f"<!-- /section:{SECTION} -->"]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _write_section(path: Path, report: str) -> None:
        text = path.read_text() if path.exists() else ""
        pattern = re.compile(rf"<!-- section:{SECTION} -->.*?<!-- /section:{SECTION} -->\n?", re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _m: report, text)
        else:
            text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + report
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
