from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from phoenix import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("tracking.urls_notify")),
    path("api/", include("tracking.api_urls")),
    # Django's set_language view: the language switcher posts to it (works without JavaScript).
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("tracking.urls")),
]

if settings.PHOENIX_BENCH:
    # Only in `make bench`: the floor the pages are measured against.
    urlpatterns.append(path("bench/floor", views.bench_floor))
