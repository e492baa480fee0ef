"""Verify an Amazon SNS HTTP(S) message: its topic, and its signature against AWS's certificate.

SNS signs every message it posts (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA) over a
canonical string of its fields, with a certificate published at ``SigningCertURL``. The URL must
be HTTPS on an ``sns.<region>.amazonaws.com`` host (``PHOENIX_SNS_CERT_URL_PATTERN``; tests
point it at loopback) so that a forger cannot name their own certificate; certificates are
fetched once per process.
"""

import base64
import re
from functools import lru_cache

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from django.conf import settings

_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}


class NotVerified(Exception):
    """The message is not from SNS for our topic."""


def canonical(envelope: dict) -> bytes:
    """Return the string SNS signs for ``envelope`` (its fields, in order, as name\\nvalue\\n)."""
    fields = _FIELDS.get(envelope.get("Type"))
    if fields is None:
        raise NotVerified("unknown SNS message type")
    parts = []
    for name in fields:
        if name in envelope and envelope[name] is not None:
            parts.append(f"{name}\n{envelope[name]}\n")
        elif name != "Subject":
            raise NotVerified(f"the message has no {name}")
    return "".join(parts).encode()


def verify(envelope: dict) -> None:
    """Raise NotVerified unless ``envelope`` is for our topic and signed by SNS."""
    topic = settings.PHOENIX_SMS_EVENTS_TOPIC_ARN
    if not topic or envelope.get("TopicArn") != topic:
        raise NotVerified("not our topic")
    algorithm = _HASHES.get(str(envelope.get("SignatureVersion")))
    url = str(envelope.get("SigningCertURL", ""))
    if algorithm is None or not re.match(settings.PHOENIX_SNS_CERT_URL_PATTERN, url):
        raise NotVerified("unsupported signature or certificate URL")
    try:
        signature = base64.b64decode(str(envelope.get("Signature", "")), validate=True)
    except ValueError:
        raise NotVerified("the signature is not base64") from None
    try:
        _public_key(url).verify(signature, canonical(envelope), padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise NotVerified("bad signature") from None


@lru_cache(maxsize=16)
def _public_key(url: str):
    try:
        response = requests.get(url, timeout=5, allow_redirects=False)
        response.raise_for_status()
        return x509.load_pem_x509_certificate(response.content).public_key()
    except (requests.RequestException, ValueError) as exc:
        raise NotVerified(f"the signing certificate cannot be read: {type(exc).__name__}") from None
