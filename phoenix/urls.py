from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from phoenix import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("tracking.urls")),
]

if settings.PHOENIX_BENCH:
    # Only in `make bench`: the floor the pages are measured against.
    urlpatterns.append(path("bench/floor", views.bench_floor))
