"""The client's address behind the load balancer."""

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """Return the address of the client that connected to the outermost proxy.

    Each trusted proxy (the ALB in AWS, HAProxy locally) appends the address it saw to
    X-Forwarded-For, so the entry ``PHOENIX_PROXY_HOPS`` from the right is the client's;
    entries further left come from the client itself and can be forged. Without the header
    (a direct connection) the socket's peer address is the client. One function for the
    lookup budget, the login lockout and the notifications' rate limit.
    """
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    count = settings.PHOENIX_PROXY_HOPS
    if count > 0 and forwarded:
        return forwarded[-min(count, len(forwarded))]
    return request.META.get("REMOTE_ADDR", "")
