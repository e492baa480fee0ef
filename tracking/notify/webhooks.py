"""Partner webhooks: endpoint registration, the URL rules (no SSRF), signing and one POST.

Signature header (docs/notifications.md has a verification snippet):

    QualityPost-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>

Receivers reject a timestamp more than ``TOLERANCE_SECONDS`` away from their clock.
"""

import hashlib
import hmac
import ipaddress
import logging
import secrets
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from tracking import sealing
from tracking.models import Partner, WebhookEndpoint

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "QualityPost-Signature"
TOLERANCE_SECONDS = 300
USER_AGENT = "QualityPost-Webhooks/1"


# --- URL rules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A checked webhook URL: where to connect (the resolved address) and what to ask for."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def url_check(url: str) -> Target:
    """Return where ``url`` may be delivered, or raise ValidationError saying why not.

    Production rules: HTTPS on port 443 only, no credentials in the URL, and every address the
    host resolves to must be public (not private, loopback, link-local, multicast or reserved),
    IPv4 addresses embedded in IPv6 forms (``::ffff:a.b.c.d``, ``::a.b.c.d``, NAT64
    ``64:ff9b::/96``, 6to4 ``2002::/16``, Teredo) included. With PHOENIX_WEBHOOK_ALLOW_LOOPBACK
    (tests, local stack) http://, 127.0.0.0/8 and any port are allowed as well, and nothing else. Called at registration and again before each delivery,
    and the delivery connects to the address checked here (no second DNS lookup to rebind).
    """
    allow_loopback = settings.PHOENIX_WEBHOOK_ALLOW_LOOPBACK
    parts = urlsplit(url)
    if parts.scheme != "https" and not (allow_loopback and parts.scheme == "http"):
        raise ValidationError(_("Webhook URLs must start with https://."), code="scheme")
    if parts.username or parts.password:
        raise ValidationError(_("Webhook URLs must not contain a user name or password."), code="credentials")
    host = parts.hostname
    if not host:
        raise ValidationError(_("The webhook URL has no host name."), code="host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValidationError(_("The webhook URL has an invalid port."), code="port") from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise ValidationError(_("The host name %(host)s does not resolve.") % {"host": host}, code="dns") from None
    addresses = sorted({info[4][0] for info in infos})
    if port != 443 and not allow_loopback:
        raise ValidationError(
            _("Webhook URLs must use the HTTPS port 443; %(port)s is not allowed.") % {"port": port}, code="port"
        )
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if allow_loopback and ip.is_loopback:
            continue
        if not _public(ip):
            raise ValidationError(
                _("Webhook URLs must point at a public address; %(host)s resolves to %(address)s.")
                % {"host": host, "address": address},
                code="private",
            )
    if parts.scheme == "http" and not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise ValidationError(_("Webhook URLs must start with https://."), code="scheme")
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    return Target(scheme=parts.scheme, host=host, port=port, path=path, address=addresses[0])


# IPv6 ranges whose addresses carry an IPv4 address in their low 32 bits: NAT64 (RFC 6052, the
# well-known and the local-use prefix) and the deprecated IPv4-compatible form ::a.b.c.d.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _public(ip) -> bool:
    """Return True for a global unicast address, and for an IPv6 one only when every IPv4
    address it embeds (mapped, compatible, NAT64, 6to4, Teredo) is global too: a gateway would
    otherwise carry the delivery to a private IPv4 address."""
    if not ip.is_global or ip.is_multicast:
        return False
    if ip.version == 4:
        return True
    embedded = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    if ip in _IPV4_COMPATIBLE or any(ip in network for network in _NAT64):
        embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return all(v4.is_global and not v4.is_multicast for v4 in embedded if v4 is not None)


# --- Registration ------------------------------------------------------------------------------


def endpoint_create(
    *, partner: Partner, url: str, topics: list[str], is_active: bool = True
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; return it and its signing secret (shown once, stored sealed)."""
    url_check(url)
    unknown = set(topics) - set(WebhookEndpoint.Topic.values)
    if unknown or not topics:
        raise ValidationError(_("Choose at least one event type."), code="topics")
    secret = endpoint_secret_new()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            partner=partner, url=url, topics=list(topics), is_active=is_active, secret_encrypted=sealing.seal(secret)
        )
    logger.info("webhook endpoint %s registered for partner %s", endpoint.pk, partner.pk)
    return endpoint, secret


def endpoint_secret_new() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def endpoint_secret_rotate(*, endpoint: WebhookEndpoint) -> str:
    """Give ``endpoint`` a new signing secret at once; return it (shown once, stored sealed)."""
    secret = endpoint_secret_new()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret_encrypted=sealing.seal(secret))
    logger.info("webhook endpoint %s secret rotated", endpoint.pk)
    return secret


# --- Signing -----------------------------------------------------------------------------------


def signature(secret: str, body: bytes, *, timestamp: int) -> str:
    """Return the ``QualityPost-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def signature_verify(secret: str, header: str, body: bytes, *, now: float | None = None) -> bool:
    """Return True when ``header`` signs ``body`` with ``secret`` within the tolerance."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = signature(secret, body, timestamp=timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


# --- One POST ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None
    error: str


def webhook_post(*, url: str, secret: str, body: str, event_id: str) -> Outcome:
    """POST ``body`` to ``url`` signed with ``secret``; 2xx is success, anything else is not.

    The URL is checked again here, because DNS may have changed since registration; the
    connection goes to the checked address. Redirects are not followed.
    """
    try:
        with translation.override("en"):  # the outcome goes to logs and the staff's admin
            target = url_check(url)
    except ValidationError as exc:
        return Outcome(ok=False, status=None, error=f"refused: {' '.join(exc.messages)}")
    payload = body.encode()
    headers = {
        "Host": target.host if target.port in (80, 443) else f"{target.host}:{target.port}",
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "QualityPost-Event-Id": event_id,
        SIGNATURE_HEADER: signature(secret, payload, timestamp=int(time.time())),
    }
    timeout = urllib3.Timeout(connect=settings.PHOENIX_WEBHOOK_TIMEOUT, read=settings.PHOENIX_WEBHOOK_TIMEOUT)
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            timeout=timeout,
            retries=False,
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, timeout=timeout, retries=False)
    try:
        with pool:
            response = pool.urlopen(
                "POST", target.path, body=payload, headers=headers, redirect=False, preload_content=False
            )
            response.read(64 * 1024)
            response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        return Outcome(ok=False, status=None, error=f"{type(exc).__name__}: {exc}"[:500])
    if 200 <= response.status < 300:
        return Outcome(ok=True, status=response.status, error="")
    return Outcome(ok=False, status=response.status, error=f"HTTP {response.status}")
