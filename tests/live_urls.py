"""URLs of the live test app: the real ones plus a few views that write and read on purpose."""

from django.urls import include, path

from tests import live_views

urlpatterns = [
    path("_live/shipments/<str:number>", live_views.reference_read),
    path("_live/shipments/<str:number>/reference", live_views.reference_write),
    path("api/_live/shipments/<str:number>/reference", live_views.reference_write),
    path("_live/session", live_views.session_touch),
    path("_live/sleep", live_views.sleep),
    path("api/_live/sleep", live_views.sleep),
    path("_live/hold", live_views.hold),
    path("", include("phoenix.urls")),
]
