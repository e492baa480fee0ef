from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.i18n import set_language

from phoenix import views
from phoenix.staffotp import StaffAdminSite

# The admin asks staff for their second factor (phoenix/staffotp.py), as django-otp documents it.
admin.site.__class__ = StaffAdminSite

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("tracking.notify.urls")),
    path("api/", include("tracking.api.urls")),
    # Django's set_language view: the language switcher on every public page posts to it (works
    # without JavaScript). Exempt from CSRF on purpose: the public pages are cached (by browsers,
    # and by tracking/site/pagecache.py), so they must not carry a per-visitor token or set a cookie,
    # and a forged post can only change the display language of the victim's next page. The
    # `next` address is still checked against ALLOWED_HOSTS by the view.
    path("i18n/setlang/", csrf_exempt(set_language), name="set_language"),
    path("", include("tracking.site.urls")),
]

if settings.PHOENIX_BENCH:
    # Only in `make bench`: the floor the pages are measured against.
    urlpatterns.append(path("bench/floor", views.bench_floor))
