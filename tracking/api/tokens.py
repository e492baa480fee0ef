"""Partner API tokens: ``phx_<prefix>_<secret>``, stored as a SHA-256 hash, looked up by prefix.

A sandbox partner's keys start ``phxt_`` instead, so that a test key is told from a live one by
eye and by code; a key whose marker does not match its partner is refused.

The key is shown once, when it is made (``manage.py create_partner`` or the admin); nothing
stores it. See docs/api.md.
"""

import hashlib
import secrets

from tracking.models import Partner, PartnerToken
from tracking.services import WRITER

TOKEN_PREFIX_BYTES = 6
TOKEN_SECRET_BYTES = 32
LIVE = "phx"
SANDBOX = "phxt"


def token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def partner_token_create(*, partner: Partner, name: str = "") -> tuple[PartnerToken, str]:
    """Create a token for ``partner``; return it with its key, which is not stored anywhere."""
    prefix = secrets.token_hex(TOKEN_PREFIX_BYTES)
    marker = SANDBOX if partner.is_sandbox else LIVE
    key = f"{marker}_{prefix}_{secrets.token_urlsafe(TOKEN_SECRET_BYTES)}"
    token = PartnerToken.objects.create(partner=partner, name=name, prefix=prefix, key_hash=token_hash(key))
    return token, key


def partner_token_find(key: str) -> PartnerToken | None:
    """Return the active token whose key is ``key``, with its partner, read from the writer.

    One query. A malformed key returns None without touching the database.
    """
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] not in (LIVE, SANDBOX) or len(parts[1]) != 2 * TOKEN_PREFIX_BYTES:
        return None
    token = PartnerToken.objects.using(WRITER).select_related("partner").filter(prefix=parts[1]).first()
    if token is None or not secrets.compare_digest(token.key_hash, token_hash(key)):
        return None
    if (parts[0] == SANDBOX) != token.partner.is_sandbox:
        return None
    return token
