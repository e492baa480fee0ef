"""The lean middleware chain of public GET pages (phoenix/publicget.py): one rule in settings,
every middleware decided, a skipped one really skipped, and nothing else changed."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from phoenix import publicget
from tests import factories

pytestmark = pytest.mark.django_db

MARKER = "tests.phoenix.test_public_get.MarkerMiddleware"


class MarkerMiddleware:
    """Stands for any middleware: marks the answers it saw."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response["X-Marker"] = "ran"
        return response


def _get(handler, path, **extra):
    return handler.get_response(RequestFactory().get(path, **extra))


def test_every_middleware_has_a_decision_for_public_gets():
    from django.conf import settings

    assert publicget.check_public_get_middleware(None) == []
    assert set(settings.MIDDLEWARE) <= set(settings.PHOENIX_PUBLIC_GET_MIDDLEWARE)
    skipped = {path for path, how in settings.PHOENIX_PUBLIC_GET_MIDDLEWARE.items() if how == publicget.SKIP}
    assert skipped == {
        "phoenix.db.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "simple_history.middleware.HistoryRequestMiddleware",
        "axes.middleware.AxesMiddleware",
        "django_otp.middleware.OTPMiddleware",
    }


def test_a_middleware_without_a_decision_fails_the_check_and_the_start(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, MARKER]
    errors = publicget.check_public_get_middleware(None)
    assert [error.id for error in errors] == ["phoenix.E001"]
    assert MARKER in errors[0].msg
    with pytest.raises(ImproperlyConfigured, match="MarkerMiddleware has no decision"):
        publicget.PublicGetWSGIHandler()


def test_a_skipped_middleware_runs_for_everything_but_public_gets(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, MARKER]
    settings.PHOENIX_PUBLIC_GET_MIDDLEWARE = {**settings.PHOENIX_PUBLIC_GET_MIDDLEWARE, MARKER: publicget.SKIP}
    handler = publicget.PublicGetWSGIHandler()
    shipment = factories.shipment()
    public = ("/", f"/track/{shipment.tracking_number}/", "/track/?numbers=QP1")
    for path in (*public, f"/api/v1/tracking/{shipment.tracking_number}", "/api/v1/tracking?numbers=QP1"):
        assert "X-Marker" not in _get(handler, path), path
    for path in ("/api/v1/shipments", "/api/schema/", "/notify/x/"):
        assert _get(handler, path)["X-Marker"] == "ran", path
    assert _get(handler, "/admin/login/")["X-Marker"] == "ran"
    assert handler.get_response(RequestFactory().post("/track/"))["X-Marker"] == "ran"
    settings.PHOENIX_PUBLIC_GET_MIDDLEWARE = {**settings.PHOENIX_PUBLIC_GET_MIDDLEWARE, MARKER: publicget.RUN}
    assert publicget.PublicGetWSGIHandler().get_response(RequestFactory().get("/"))["X-Marker"] == "ran"


def test_public_pages_are_the_same_through_the_lean_chain(settings, client):
    """The lean chain answers what the full one (the test client's) does, headers included;
    the admin keeps its session and CSRF cookie."""
    handler = publicget.PublicGetWSGIHandler()
    shipment = factories.shipment()
    paths = ["/", f"/track/{shipment.tracking_number}/", f"/track/{shipment.tracking_number}/?postal_code=44100"]
    paths += [f"/api/v1/tracking/{shipment.tracking_number}", f"/api/v1/tracking?numbers={shipment.tracking_number}"]
    for path in [*paths, "/track/?numbers=QP1", "/track/QP000000000001/"]:
        for language in ("es", "en"):
            lean = _get(handler, path, HTTP_ACCEPT_LANGUAGE=language)
            full = client.get(path, HTTP_ACCEPT_LANGUAGE=language)
            assert (lean.status_code, lean.content) == (full.status_code, full.content), path
            # RateLimit's remaining count falls with every request (the budget is shared): the
            # header is there on both, its value is not compared.
            assert set(lean.headers) == set(full.headers), path
            varying = {"Date", "RateLimit"}
            assert {k: v for k, v in lean.items() if k not in varying} == {
                k: v for k, v in full.items() if k not in varying
            }, path
            assert not lean.cookies, path
    login = _get(handler, "/admin/login/")
    assert "csrftoken" in login.cookies
    assert "Cookie" in login["Vary"]


@pytest.mark.parametrize(
    ("path", "lean"),
    [
        ("/", True),
        ("/track/", True),
        ("/track/QP000000000001/", True),
        ("/api/v1/tracking/QP000000000001", True),
        ("/api/v1/tracking", True),
        # The notify pages read the session ("Check your inbox" names the masked address): a 500
        # on the lean chain, found by the production-shape journey.
        ("/track/QP000000000001/notify/", False),
        ("/track/QP000000000001/notify/sent/", False),
        ("/track/QP000000000001/notify/phone/", False),
        ("/admin/", False),
    ],
)
def test_only_the_public_pages_take_the_lean_chain(path, lean):
    assert bool(publicget._paths().match(path)) is lean


def test_a_skipped_middleware_may_not_hook_into_the_view(settings):
    settings.PHOENIX_PUBLIC_GET_MIDDLEWARE = {
        **settings.PHOENIX_PUBLIC_GET_MIDDLEWARE,
        "django.middleware.csrf.CsrfViewMiddleware": publicget.SKIP,  # it has process_view
    }
    with pytest.raises(ImproperlyConfigured, match="hooks into the view"):
        publicget.PublicGetWSGIHandler()
