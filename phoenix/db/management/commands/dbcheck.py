import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from phoenix.db import health, lag
from phoenix.db.state import READER, WRITER


class Command(BaseCommand):
    help = (
        "Check each database alias: host, role (writable or read-only), replica lag, latency. "
        "Exit status 1 when the writer is not writable, 2 when the reader is a replica more than "
        "--max-lag seconds behind or whose lag is unknown (replication stopped)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=3.0, help="seconds per server (default 3)")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print one JSON object instead of a table"
        )
        parser.add_argument(
            "--max-lag",
            type=float,
            default=None,
            help="seconds of replica lag above which the exit status is 2 (default PHOENIX_MAX_REPLICA_LAG)",
        )

    def handle(self, *args, timeout: float, as_json: bool = False, max_lag: float | None = None, **options):
        probes = [health.probe(alias, timeout=timeout, with_lag=True) for alias in settings.DATABASES]
        if as_json:
            self.stdout.write(json.dumps([probe.as_dict() for probe in probes], indent=2))
        else:
            for probe in probes:
                self.stdout.write(_line(probe))
        writer = next(probe for probe in probes if probe.alias == WRITER)
        if not writer.writable:
            raise CommandError(f"the writer ({writer.host}) is {writer.role}", returncode=1)
        bound = lag.max_lag() if max_lag is None else max_lag
        reader = next((probe for probe in probes if probe.alias == READER), None)
        if bound > 0 and reader is not None and reader.reachable and reader.replica:
            behind = health.Lag(reader.lag_seconds, reader.lag, replica=True)
            if behind.beyond(bound):
                raise CommandError(f"the reader's replica lag is {reader.lag}, more than {bound:g} s", returncode=2)
        if not as_json:
            self.stdout.write(self.style.SUCCESS("writer is writable"))


def _line(probe: health.Probe) -> str:
    if not probe.reachable:
        return f"{probe.alias:<8} {probe.host:<24} unreachable  {probe.error}"
    latency = f"{probe.latency_ms:.2f} ms" if probe.latency_ms is not None else "unknown"
    return f"{probe.alias:<8} {probe.host:<24} {probe.role:<12} lag {probe.lag:<30} latency {latency}"
