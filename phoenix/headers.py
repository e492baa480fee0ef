"""Response headers every answer gets, /healthz and /readyz included."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class PermissionsPolicyMiddleware:
    """Add ``Permissions-Policy`` (PHOENIX_PERMISSIONS_POLICY): no page of Phoenix uses the
    camera, microphone, location, payment or USB, so no page, nor anything injected into one,
    may ask for them. Django's SecurityMiddleware has no setting for this header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if settings.PHOENIX_PERMISSIONS_POLICY:
            response.headers.setdefault("Permissions-Policy", settings.PHOENIX_PERMISSIONS_POLICY)
        return response
