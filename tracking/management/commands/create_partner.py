from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from tracking.api.tokens import partner_token_create
from tracking.models import Facility, Partner, PartnerScope
from tracking.services import WRITER


class Command(BaseCommand):
    help = (
        "Create a partner and print its API token once (only a hash is stored). "
        "--token-for NAME adds a token to an existing partner; --disable NAME refuses its tokens. "
        "--hub CODE (repeatable) gives a new partner a hub scope: it may write events scanned at that facility "
        "for any shipment (otherwise a partner writes only its own shipments)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", help="name of the new partner")
        parser.add_argument("--token-for", metavar="NAME", help="add another token to this existing partner")
        parser.add_argument("--disable", metavar="NAME", help="disable this partner: its tokens are refused")
        parser.add_argument("--token-name", default="", help="what the token is for (shown in the admin)")
        parser.add_argument(
            "--hub", metavar="CODE", action="append", default=[], help="facility code of a hub scope (repeatable)"
        )
        parser.add_argument(
            "--sandbox",
            action="store_true",
            help="a new sandbox (test) partner: its tokens start phxt_ and its shipments e-mail nobody",
        )
        parser.add_argument("--dry-run", action="store_true", help="check the arguments, change nothing")

    def handle(self, *args, name, token_for, disable, token_name, hub, sandbox, dry_run, **options):
        chosen = [value for value in (name, token_for, disable) if value]
        if len(chosen) != 1:
            raise CommandError("Give exactly one of: NAME, --token-for NAME, --disable NAME.")
        if sandbox and not name:
            raise CommandError("--sandbox goes with a new partner's NAME.")
        if hub and not name:
            raise CommandError(
                "--hub goes with a new partner's NAME; change an existing partner's scopes in the admin."
            )
        if len(token_name) > 100:
            raise CommandError("--token-name is at most 100 characters.")
        partners = Partner.objects.using(WRITER)
        if name:
            name = name.strip()
            if not name or len(name) > 100:
                raise CommandError("The partner name must have 1 to 100 characters.")
            if partners.filter(name=name).exists():
                raise CommandError(f"A partner named {name!r} exists; use --token-for {name!r} to add a token.")
            hubs = list(Facility.objects.using(WRITER).filter(code__in={code.upper() for code in hub}))
            missing = sorted({code.upper() for code in hub} - {facility.code.upper() for facility in hubs})
            if missing:
                raise CommandError(f"No facility has the code {', '.join(missing)}.")
            if dry_run:
                self.stdout.write(f"Would create partner {name!r} with a token.")
                return
            with transaction.atomic(using=WRITER):
                partner = Partner.objects.create(name=name, is_sandbox=sandbox)
                _, key = partner_token_create(partner=partner, name=token_name)
                for facility in hubs:
                    PartnerScope.objects.create(
                        partner=partner, kind=PartnerScope.Kind.HUB, facility=facility, note="create_partner --hub"
                    )
            self._print_key(partner, key)
            for facility in hubs:
                self.stdout.write(f"Hub scope: may write events scanned at {facility.code}.")
            return
        partner = partners.filter(name=(token_for or disable).strip()).first()
        if partner is None:
            raise CommandError(f"No partner is named {(token_for or disable)!r}.")
        if dry_run:
            self.stdout.write(f"Would {'add a token to' if token_for else 'disable'} partner {partner.name!r}.")
            return
        if token_for:
            if not partner.is_active:
                raise CommandError(f"Partner {partner.name!r} is disabled; enable it in the admin first.")
            _, key = partner_token_create(partner=partner, name=token_name)
            self._print_key(partner, key)
            return
        partners.filter(pk=partner.pk).update(is_active=False)
        self.stdout.write(f"Disabled partner {partner.name!r}: its tokens are refused from now on.")

    def _print_key(self, partner: Partner, key: str) -> None:
        self.stdout.write(f"Partner {partner.name!r} (id {partner.pk}). Its API token, shown only this once:")
        self.stdout.write(key)
        self.stdout.write("Send it as: Authorization: Token <token>")
