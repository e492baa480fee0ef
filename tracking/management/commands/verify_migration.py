import json
import sys
from pathlib import Path

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError

from tracking.cutover import verify


def project_tables() -> list[str]:
    """Return the tables of every installed app's models, plus django_migrations."""
    tables = {
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy
    }
    return sorted(tables | {"django_migrations"})


class Command(BaseCommand):
    help = (
        "Compare two MySQL databases table by table, read-only: row counts, then checksums of "
        "primary-key ranges, narrowing differences down to primary keys. Exit status 0 when "
        "everything matches, 1 on differences, 2 on errors."
    )

    def add_arguments(self, parser):
        parser.add_argument("--source", required=True, help="mysql://user:password@host:3306/name (the original)")
        parser.add_argument("--target", required=True, help="mysql://user:password@host:3306/name (the copy)")
        parser.add_argument("--tables", default="", help="comma-separated tables (default: the project's tables)")
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=verify.DEFAULT_CHUNK_SIZE,
            help=f"rows per checksummed chunk (default {verify.DEFAULT_CHUNK_SIZE})",
        )
        parser.add_argument(
            "--max-rows-per-second",
            type=int,
            default=0,
            help="read at most this many rows per second from each side (default: no limit)",
        )
        parser.add_argument(
            "--max-keys",
            type=int,
            default=verify.DEFAULT_MAX_KEYS,
            help=f"list at most this many differing keys per table (default {verify.DEFAULT_MAX_KEYS})",
        )
        parser.add_argument("--json", dest="json_path", default="", help="also write the report as JSON to FILE")
        parser.add_argument("--quiet", action="store_true", help="no progress on stderr")

    def handle(self, *args, source, target, tables, chunk_size, max_rows_per_second, max_keys, json_path, quiet, **o):
        if chunk_size < 2 or chunk_size > 1_000_000:
            self._fail("--chunk-size must be between 2 and 1,000,000")
        if max_rows_per_second < 0 or max_keys < 1:
            self._fail("--max-rows-per-second must be 0 or more and --max-keys 1 or more")
        names = [name.strip() for name in tables.split(",") if name.strip()] or project_tables()
        options = verify.Options(chunk_size=chunk_size, max_rows_per_second=max_rows_per_second, max_keys=max_keys)
        try:
            report = verify.compare(
                source, target, names, options, progress=verify.Progress(stream=sys.stderr, enabled=not quiet)
            )
        except verify.VerifyError as exc:
            self._fail(str(exc))
        self.stdout.write(report.as_text())
        if json_path:
            try:
                Path(json_path).write_text(json.dumps(report.as_dict(), indent=2) + "\n")
            except OSError as exc:
                self._fail(f"cannot write {json_path}: {exc.strerror}")
        if not report.match:
            sys.exit(1)

    def _fail(self, message: str):
        """Exit with status 2 and one line on stderr."""
        raise CommandError(f"verify_migration: {message}", returncode=2)
