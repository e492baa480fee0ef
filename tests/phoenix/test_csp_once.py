"""The Content-Security-Policy header, written once per process (phoenix.headers.CSPMiddleware),
is what django-csp writes; a view's own policy and a nonce still go through django-csp."""

import pytest
from csp.constants import HEADER, NONCE
from csp.utils import build_policy
from django.http import HttpResponse
from django.test import RequestFactory

from phoenix.headers import CSPMiddleware

pytestmark = pytest.mark.django_db


def _through(response, path="/"):
    request = RequestFactory().get(path)
    middleware = CSPMiddleware(lambda request: response)
    return request, middleware(request)


def test_pages_get_the_policy_of_the_settings(client):
    expected = build_policy()
    assert "default-src 'none'" in expected
    assert client.get("/")[HEADER] == expected
    assert client.get("/track/QP000000000001/")[HEADER] == expected


def test_a_changed_setting_changes_the_header(settings):
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'self'"]}}
    assert _through(HttpResponse())[1][HEADER] == "default-src 'self'"


def test_a_view_policy_an_exemption_and_a_nonce_are_django_csps(settings):
    updated = HttpResponse()
    updated._csp_update = {"img-src": ["https://maps.example"]}
    assert "https://maps.example" in _through(updated)[1][HEADER]
    exempt = HttpResponse()
    exempt._csp_exempt = True
    assert HEADER not in _through(exempt)[1]
    own = HttpResponse()
    own[HEADER] = "default-src 'self'"
    assert _through(own)[1][HEADER] == "default-src 'self'"

    def with_nonce(request):
        nonce = str(request.csp_nonce)
        return HttpResponse(nonce)

    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"script-src": ["'self'", NONCE]}}
    answer = CSPMiddleware(with_nonce)(RequestFactory().get("/"))
    assert f"'nonce-{answer.content.decode()}'" in answer[HEADER]
