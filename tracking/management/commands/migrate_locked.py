import logging

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

logger = logging.getLogger(__name__)

LOCK_NAME = "phoenix-migrate"


class Command(BaseCommand):
    help = (
        "Run `migrate` under the MySQL lock GET_LOCK('phoenix-migrate') on the writer, so that "
        "instances booting at the same moment migrate once: the others wait, then find nothing "
        "to apply. On SQLite it simply migrates."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--timeout", type=int, default=900, help="seconds to wait for another instance's migration (default 900)"
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="database alias (default: the writer)")

    def handle(self, *args, timeout: int, database: str, **options):
        if timeout < 0:
            raise CommandError("--timeout must be zero or more seconds")
        if database not in connections:
            raise CommandError(f"unknown database alias {database!r}")
        verbosity = options["verbosity"]
        if connections[database].vendor != "mysql":
            call_command("migrate", database=database, interactive=False, verbosity=verbosity)
            return

        # The lock lives on a connection of its own, so that whatever migrate does with the
        # alias's connection (close it, reconnect after a failover) cannot drop the lock early.
        lock = connections[database].copy()
        try:
            self._acquire(lock, timeout)
            try:
                call_command("migrate", database=database, interactive=False, verbosity=verbosity)
            finally:
                with lock.cursor() as cursor:
                    cursor.execute("SELECT RELEASE_LOCK(%s)", [LOCK_NAME])
        finally:
            lock.close()
        self.stdout.write(f"Migrations are up to date; released the lock {LOCK_NAME!r}.")

    def _acquire(self, lock, timeout: int) -> None:
        """Take the named lock, waiting up to TIMEOUT seconds, or raise CommandError."""
        with lock.cursor() as cursor:
            cursor.execute("SELECT GET_LOCK(%s, 0)", [LOCK_NAME])
            (acquired,) = cursor.fetchone()
            if acquired != 1:
                self.stdout.write(
                    f"Another instance is migrating; waiting up to {timeout} s for the lock {LOCK_NAME!r}."
                )
                logger.info("waiting for the migration lock %s", LOCK_NAME)
                cursor.execute("SELECT GET_LOCK(%s, %s)", [LOCK_NAME, timeout])
                (acquired,) = cursor.fetchone()
        if acquired != 1:
            raise CommandError(
                f"Timed out after {timeout} s waiting for the migration lock {LOCK_NAME!r}: another "
                "instance is still migrating, or holds the lock. Check `SELECT IS_USED_LOCK('phoenix-migrate')` "
                "on the writer, then run `manage.py migrate_locked` again."
            )
        self.stdout.write(f"Holding the lock {LOCK_NAME!r}; migrating.")
