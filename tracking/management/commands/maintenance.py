import getpass

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from tracking.cutover.maintenance import maintenance_switch
from tracking.models import MaintenanceSwitch


class Command(BaseCommand):
    help = (
        "Turn the write freeze on or off, or show it. While on, every instance answers writes "
        "(pages, admin, API) with 503 and Retry-After, and keeps serving reads."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["on", "off", "status"])
        parser.add_argument("--message", default="", help="what customers read (default: a generic notice)")

    def handle(self, *args, action: str, message: str, **options):
        if len(message) > 500:
            raise CommandError("--message is longer than 500 characters")
        database = settings.DATABASES["default"]
        where = f"{database.get('HOST') or 'local'}/{database.get('NAME')}"
        try:
            if action == "status":
                switch = MaintenanceSwitch.objects.using("default").filter(pk=1).first()
            else:
                switch = maintenance_switch(enabled=action == "on", message=message, changed_by=_operator())
        except DatabaseError as exc:
            raise CommandError(f"cannot reach the maintenance switch on {where}: {exc}") from None
        if switch is None or not switch.enabled:
            since = f" since {switch.changed_at:%Y-%m-%d %H:%M:%S %Z} ({switch.changed_by})" if switch else ""
            self.stdout.write(f"Maintenance is OFF on {where}{since}: writes are accepted.")
            return
        self.stdout.write(
            f"Maintenance is ON on {where} since {switch.changed_at:%Y-%m-%d %H:%M:%S %Z} ({switch.changed_by}): "
            f"writes answer 503 on every instance within {settings.PHOENIX_MAINTENANCE_CACHE_SECONDS} s."
        )
        if switch.message:
            self.stdout.write(f"Message: {switch.message}")


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
