from functools import wraps

from django.urls import path, re_path
from django.utils import translation
from django.views.decorators.http import require_GET
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from tracking.api import sandbox, webhooks
from tracking.api import views as api

app_name = "api"


def _docs_view():
    """Swagger UI from drf-spectacular-sidecar, its initialiser loaded as a script file.

    SpectacularSwaggerSplitView serves the page and, at ``?script``, the initialiser, so the
    page needs no inline script; our template also drops the inline style block. The page
    carries its own strict Content-Security-Policy.
    """
    view = SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="tracking/api_docs.html")

    def docs(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        )
        return response

    return require_GET(docs)


def english(view):
    """Answer in English whatever the browser language: machines read these messages."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        with translation.override("en"):
            return view(request, *args, **kwargs)

    return wrapped


urlpatterns = [
    path("v1/tracking/<str:number>", english(api.tracking_read), name="tracking-detail"),
    path("v1/tracking", english(api.tracking_list), name="tracking-list"),
    path("v1/proofs/<int:id>", english(api.proof_file), name="proof"),
    path("v1/shipments", english(api.shipments), name="shipments"),
    path("v1/events", english(api.events), name="events"),
    path("v1/webhooks", english(webhooks.webhooks_collection), name="webhooks"),
    path("v1/webhooks/<int:id>", english(webhooks.webhook_detail), name="webhook"),
    path("v1/webhooks/<int:id>/ping", english(webhooks.webhook_ping), name="webhook-ping"),
    path("v1/webhooks/<int:id>/rotate-secret", english(webhooks.webhook_rotate_secret), name="webhook-rotate"),
    path("v1/webhooks/<int:id>/deliveries", english(webhooks.webhook_deliveries), name="webhook-deliveries"),
    path("v1/webhooks/<int:id>/replay", english(webhooks.webhook_replay_failed), name="webhook-replay"),
    path(
        "v1/webhooks/<int:id>/deliveries/<str:delivery>/replay",
        english(webhooks.webhook_delivery_replay),
        name="webhook-delivery-replay",
    ),
    path("v1/sandbox/shipments", english(sandbox.sandbox_shipments), name="sandbox-shipments"),
    path("v1/sandbox/shipments/<str:number>/advance", english(sandbox.sandbox_advance), name="sandbox-advance"),
    path("schema/", english(SpectacularAPIView.as_view()), name="schema"),
    path("docs/", english(_docs_view()), name="docs"),
    # Anything else under /api/ answers a JSON 404, never an HTML page.
    re_path(r"", english(api.not_found)),
]
