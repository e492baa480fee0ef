"""Response headers every answer gets, /healthz and /readyz included; the CSP header."""

import http.client

from csp import middleware as csp
from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
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


_policies: dict[bool, tuple[str, tuple[str, ...]]] = {}


@receiver(setting_changed)
def _forget_policies(**kwargs) -> None:
    _policies.clear()


def _policy(report_only: bool) -> tuple[str, tuple[str, ...]]:
    """Return the header from the settings alone and the URL prefixes it leaves out, once."""
    try:
        return _policies[report_only]
    except KeyError:
        name = "CONTENT_SECURITY_POLICY_REPORT_ONLY" if report_only else "CONTENT_SECURITY_POLICY"
        prefixes = tuple((getattr(settings, name, None) or {}).get("EXCLUDE_URL_PREFIXES") or ())
        return _policies.setdefault(report_only, (build_policy(report_only=report_only), prefixes))


class CSPMiddleware(csp.CSPMiddleware):
    """django-csp's middleware, the policy built once per process when the answer needs no other.

    django-csp builds the header anew for every answer (some 300 k instructions a page); it
    depends only on the settings unless a view changed the policy (the csp_update, csp_replace,
    csp_exempt decorators) or a template used a nonce. Those answers go through django-csp
    unchanged; every other answer gets the same header, written once.
    """

    _OVERRIDES = ("_csp_config", "_csp_update", "_csp_replace", "_csp_config_ro", "_csp_update_ro", "_csp_replace_ro")

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        own = getattr(request, "_csp_nonce", None) is None and not any(
            getattr(response, name, None) for name in self._OVERRIDES
        )
        debug_page = settings.DEBUG and response.status_code in (
            http.client.INTERNAL_SERVER_ERROR,
            http.client.NOT_FOUND,
        )
        if not own or debug_page:
            return super().process_response(request, response)
        for report_only, header, exempt in (
            (False, HEADER, "_csp_exempt"),
            (True, HEADER_REPORT_ONLY, "_csp_exempt_ro"),
        ):
            policy, prefixes = _policy(report_only)
            if (
                policy
                and header not in response
                and getattr(response, exempt, False) is False
                and not request.path_info.startswith(prefixes)
            ):
                response[header] = policy
        request.csp_nonce = csp.CheckableLazyObject(self._csp_nonce_post_response)
        return response
