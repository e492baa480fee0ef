from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("tracking.urls_notify")),
    path("api/", include("tracking.api_urls")),
    # Django's set_language view: the language switcher posts to it (works without JavaScript).
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("tracking.urls")),
]
