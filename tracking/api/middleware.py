"""Headers of the partner API's answers: Cache-Control private for a partner's token, and the
RateLimit / RateLimit-Policy headers of the quotas the request met."""

from django.http import HttpRequest, HttpResponse


class PrivateAnswersMiddleware:
    """Mark every answer to a token-authenticated API request ``Cache-Control: private, no-store``.

    Such answers may carry the partner's private data (recipients, notes, references, event
    ids): no shared cache or proxy may keep them, nor the browser's disk. Anonymous answers
    (the public projection) keep their own headers. Set by PartnerTokenAuthentication.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if getattr(request, "partner_answer", False):
            response["Cache-Control"] = "private, no-store"
        if policies := getattr(request, "rate_limits", None):
            rate_limit_headers(response, policies)
        return response


def rate_limit_headers(response: HttpResponse, policies: dict[str, tuple[int, int, int, int]]) -> None:
    """Set ``RateLimit-Policy`` and ``RateLimit`` as the IETF draft (draft-ietf-httpapi-ratelimit-headers)
    writes them: one item per quota, ``q`` its size and ``w`` its window in seconds; ``r`` what is
    left and ``t`` the seconds until it refills. Quotas: ``ip`` or ``partner`` (requests) and
    ``lookup`` (the lookup budget's points)."""
    response["RateLimit-Policy"] = ", ".join(f'"{name}";q={q};w={w}' for name, (q, w, _r, _t) in policies.items())
    response["RateLimit"] = ", ".join(f'"{name}";r={r};t={t}' for name, (_q, _w, r, t) in policies.items())
