"""Partner webhooks: endpoint registration, the URL rules (no SSRF), signing and one POST.

Signature header (docs/notifications.md has a verification snippet):

    QualityPost-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>

During the overlap after a rotation there is one ``v1`` per valid secret (the new one first);
a receiver accepts the request when any ``v1`` matches its secret. Receivers reject a
timestamp more than ``TOLERANCE_SECONDS`` away from their clock.
"""

import contextlib
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from tracking import sealing
from tracking.models import Partner, WebhookEndpoint

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "QualityPost-Signature"
TOLERANCE_SECONDS = 300
USER_AGENT = "QualityPost-Webhooks/1"
PING_TYPE = "webhook.ping"


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

# After a rotation the previous secret keeps signing for this long (docs/notifications.md).
SECRET_OVERLAP = timedelta(hours=24)


def endpoint_create(
    *, partner: Partner, url: str, topics: list[str], is_active: bool = True
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; return it and its signing secret (shown once, stored sealed)."""
    url_check(url)
    _topics_check(topics)
    secret = endpoint_secret_new()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            partner=partner, url=url, topics=list(topics), is_active=is_active, secret_encrypted=sealing.seal(secret)
        )
    logger.info("webhook endpoint %s registered for partner %s", endpoint.pk, partner.pk)
    return endpoint, secret


def endpoint_update(
    *, endpoint: WebhookEndpoint, url: str | None = None, topics: list[str] | None = None
) -> WebhookEndpoint:
    """Change an endpoint's URL or events wanted, with the same rules as at registration."""
    fields = []
    if url is not None:
        url_check(url)
        endpoint.url = url
        fields.append("url")
    if topics is not None:
        _topics_check(topics)
        endpoint.topics = list(topics)
        fields.append("topics")
    if fields:
        endpoint.save(update_fields=fields)
        logger.info("webhook endpoint %s changed: %s", endpoint.pk, ", ".join(fields))
    return endpoint


def endpoint_disable(*, endpoint: WebhookEndpoint, now: datetime | None = None) -> None:
    """Stop deliveries to ``endpoint`` (the partner's choice): nothing new is owed to it, and
    what is queued fails when its turn comes."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False, disabled_at=now or timezone.now())
    endpoint.refresh_from_db()
    logger.info("webhook endpoint %s disabled by its partner", endpoint.pk)


def _topics_check(topics) -> None:
    if not isinstance(topics, (list, tuple)) or not topics or set(topics) - set(WebhookEndpoint.Topic.values):
        raise ValidationError(_("Choose at least one event type."), code="topics")


def endpoint_secret_new() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def endpoint_secret_rotate(
    *, endpoint: WebhookEndpoint, overlap: timedelta = SECRET_OVERLAP, now: datetime | None = None
) -> str:
    """Give ``endpoint`` a new signing secret; return it (shown once, stored sealed).

    The secret it replaces keeps signing beside the new one for ``overlap`` (zero: it stops at
    once, for a secret that leaked), so a receiver can switch without losing a delivery. A
    second rotation within the overlap keeps only the secret it replaces.
    """
    secret = endpoint_secret_new()
    until = (now or timezone.now()) + overlap
    with transaction.atomic():
        current = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            secret_encrypted=sealing.seal(secret),
            previous_secret_encrypted=current.secret_encrypted if overlap > timedelta(0) else "",
            previous_secret_until=until if overlap > timedelta(0) else None,
        )
    endpoint.refresh_from_db()
    logger.info("webhook endpoint %s secret rotated (previous valid until %s)", endpoint.pk, until)
    return secret


def endpoint_secrets(endpoint: WebhookEndpoint, *, now: datetime | None = None) -> list[str]:
    """Return the secrets that sign ``endpoint``'s deliveries: the current one, then the previous
    one while its overlap lasts. Raise ValueError when a sealed secret cannot be opened."""
    found = [sealing.unseal(endpoint.secret_encrypted)]
    until = endpoint.previous_secret_until
    if endpoint.previous_secret_encrypted and until is not None and until > (now or timezone.now()):
        found.append(sealing.unseal(endpoint.previous_secret_encrypted))
    return found


# --- Signing -----------------------------------------------------------------------------------


def signature(secret: str, body: bytes, *, timestamp: int) -> str:
    """Return the ``QualityPost-Signature`` header value for ``body`` sent at ``timestamp``."""
    return signature_header([secret], body, timestamp=timestamp)


def signature_header(signing_secrets: list[str], body: bytes, *, timestamp: int) -> str:
    """Return ``t=<timestamp>,v1=<mac>[,v1=<mac>]``: one ``v1`` per secret, the current first."""
    macs = [hmac.new(s.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest() for s in signing_secrets]
    return ",".join([f"t={timestamp}", *(f"v1={mac}" for mac in macs)])


def signature_verify(secret: str, header: str, body: bytes, *, now: float | None = None) -> bool:
    """Return True when any ``v1`` of ``header`` signs ``body`` with ``secret`` within the tolerance."""
    pairs = [part.split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [value for name, value in pairs if name == "t"]
    try:
        timestamp = int(stamps[0])
    except (IndexError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = signature(secret, body, timestamp=timestamp).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, value) for name, value in pairs if name == "v1")


def endpoint_ping(*, endpoint: WebhookEndpoint) -> tuple[str, "Outcome"]:
    """POST a signed ``webhook.ping`` to ``endpoint`` now; return its id and the outcome.

    Signed like every delivery (both secrets during an overlap). Nothing is stored or retried,
    and the outcome does not count towards disabling the endpoint.
    """
    event_id = str(uuid.uuid4())
    body = json.dumps(
        {
            "id": event_id,
            "type": PING_TYPE,
            "created_at": timezone.now(),
            "data": {"webhook_id": endpoint.pk, "url": endpoint.url},
        },
        cls=DjangoJSONEncoder,
        separators=(",", ":"),
    )
    outcome = webhook_post(url=endpoint.url, signing_secrets=endpoint_secrets(endpoint), body=body, event_id=event_id)
    logger.info("webhook endpoint %s pinged: %s", endpoint.pk, outcome.status or outcome.error)
    return event_id, outcome


# --- One POST ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None
    error: str


def webhook_post(*, url: str, signing_secrets: list[str], body: str, event_id: str) -> Outcome:
    """POST ``body`` to ``url`` signed with ``signing_secrets``; 2xx is success, anything else is not.

    The URL is checked again here, because DNS may have changed since registration; the
    connection goes to the checked address. Redirects are not followed. The whole attempt
    (connect, TLS, request, status line, headers, up to 64 KiB of body) has one wall-clock
    deadline, PHOENIX_WEBHOOK_TIMEOUT seconds: a receiver that trickles a byte at a time is cut
    off at the deadline, not after one socket timeout per byte. Touches no database, so the
    sender may run it in a lane thread.
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
        SIGNATURE_HEADER: signature_header(signing_secrets, payload, timestamp=int(time.time())),
    }
    deadline = float(settings.PHOENIX_WEBHOOK_TIMEOUT)
    started = time.monotonic()
    cut_off = threading.Event()
    try:
        sock = socket.create_connection((target.address, target.port), timeout=deadline)
        # At the deadline a duplicate of the socket is shut down, which ends whatever read or
        # write (the TLS handshake included) is waiting on the connection.
        watch = sock.dup()
        timer = threading.Timer(max(0.0, deadline - (time.monotonic() - started)), _cut, (watch, cut_off))
        timer.daemon = True
        timer.start()
        connection = http.client.HTTPConnection(target.host, target.port, timeout=deadline)
        try:
            if target.scheme == "https":
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=target.host)
            connection.sock = sock
            connection.request("POST", target.path, body=payload, headers=headers)
            response = connection.getresponse()
            response.read(64 * 1024)
            status = response.status
        finally:
            timer.cancel()
            connection.close()
            sock.close()
            watch.close()
    except (OSError, http.client.HTTPException) as exc:
        if cut_off.is_set() or isinstance(exc, TimeoutError):
            return Outcome(ok=False, status=None, error=f"deadline: no complete answer within {deadline:g} s")
        return Outcome(ok=False, status=None, error=f"{type(exc).__name__}: {exc}"[:500])
    if 200 <= status < 300:
        return Outcome(ok=True, status=status, error="")
    return Outcome(ok=False, status=status, error=f"HTTP {status}")


def _cut(watch: socket.socket, cut_off: threading.Event) -> None:
    cut_off.set()
    with contextlib.suppress(OSError):  # the attempt ended and closed it meanwhile
        watch.shutdown(socket.SHUT_RDWR)
