"""Encrypt small secrets at rest (subscriber addresses, webhook secrets) with the secret key.

The Fernet key is derived from SECRET_KEY; values sealed under a key listed in
SECRET_KEY_FALLBACKS still open, so the secret key can be rotated the usual Django way.
"""

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

_PURPOSE = b"phoenix.sealing.v1"


def _fernet(secret: str) -> Fernet:
    digest = hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _box() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet(key) for key in keys])


def seal(value: str) -> str:
    """Return ``value`` encrypted and authenticated, as ASCII text."""
    return _box().encrypt(value.encode()).decode()


def unseal(token: str) -> str:
    """Return the value sealed in ``token``; raise ValueError when it cannot be opened."""
    try:
        return _box().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("sealed value cannot be opened with the current secret keys") from None


def digest(value: str, *, purpose: str) -> str:
    """Return a keyed hash of ``value`` (hex): comparable, not reversible, safe to log."""
    key = hashlib.sha256(f"{purpose}:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
