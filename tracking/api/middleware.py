"""Cache-Control for the partner API: an answer to a request with a partner's token is private."""

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
        return response
