from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

from tracking.services import WRITER

DEVICE_NAME = "authenticator"


class Command(BaseCommand):
    help = (
        "Enrol a TOTP authenticator for a staff user, the admin's second factor (docs/security.md). "
        "USERNAME alone makes a new, unconfirmed device and prints its otpauth:// link and secret once "
        "(add it to an authenticator app); USERNAME --confirm CODE confirms it with the code the app shows. "
        "--remove deletes the user's devices (a lost phone)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--confirm", metavar="CODE", help="the 6-digit code the authenticator app shows now")
        parser.add_argument("--remove", action="store_true", help="delete every TOTP device of the user")

    def handle(self, *args, username, confirm, remove, **options):
        user = get_user_model().objects.using(WRITER).filter(username=username).first()
        if user is None:
            raise CommandError(f"No user is called {username!r}.")
        if not user.is_staff:
            raise CommandError(f"{username} is not staff: only staff use the admin.")
        devices = TOTPDevice.objects.using(WRITER).filter(user=user)
        if remove:
            count, _ = devices.delete()
            self.stdout.write(f"Removed {count} device(s) of {username}; enrol a new one before they log in again.")
            return
        if confirm is not None:
            self._confirm(username, devices.filter(confirmed=False).order_by("-id").first(), confirm)
            return
        devices.filter(confirmed=False).delete()  # an enrolment started again replaces the last one
        device = TOTPDevice.objects.db_manager(WRITER).create(user=user, name=DEVICE_NAME, confirmed=False)
        self.stdout.write(
            f"Add this to {username}'s authenticator app (shown once; a QR code of the link works too):\n"
            f"  {device.config_url}\n"
            f"  secret: {device.config_url.split('secret=')[1].split('&')[0]}\n"
            f"Then run: manage.py staff_otp_enrol {username} --confirm CODE"
        )

    def _confirm(self, username: str, device, code: str) -> None:
        if device is None:
            raise CommandError(f"{username} has no enrolment waiting; run manage.py staff_otp_enrol {username} first.")
        if not (code.isdigit() and device.verify_token(code)):
            raise CommandError("That code is not the one the authenticator shows now; check the app's clock and retry.")
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        self.stdout.write(f"Confirmed: {username} now logs in to the admin with a code from this authenticator.")
