from django.urls import path, re_path
from django.views.decorators.http import require_GET
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from tracking import api

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


urlpatterns = [
    path("v1/tracking/<str:number>", api.tracking_detail, name="tracking-detail"),
    path("v1/tracking", api.tracking_list, name="tracking-list"),
    path("v1/shipments", api.shipments_create, name="shipments"),
    path("v1/events", api.events_create, name="events"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", _docs_view(), name="docs"),
    # Anything else under /api/ answers a JSON 404, never an HTML page.
    re_path(r"", api.not_found),
]
