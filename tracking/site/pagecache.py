"""A short-lived cache of the public tracking page, in each gunicorn worker.

The page without the postal code carries no personal data and is already public: browsers and
any shared cache may keep it for ``PUBLIC_MAX_AGE`` seconds (tracking/site/views.py). This cache keeps
the rendered page for at most that long, so that a customer refreshing, or the many people
following one parcel, cost neither the two reads nor the template. What a visitor sees is never
older than the HTTP contract already allows: a page served from here carries a ``max-age`` reduced
by the time it spent in the cache, so that the browser's copy expires when the original would have.

Nobody who just wrote sees a cached page: a request pinned to the writer (the ``phoenix_pin``
cookie of staff who saved a change, see phoenix/db/pinning.py) skips the cache both ways.
Personal pages (``?postal_code=``), errors and 404s are never stored.

The ``pages`` cache alias is per process (local memory) by default; ``PHOENIX_PAGE_CACHE_SECONDS=0``
switches the cache off.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django.utils.translation import get_language

from phoenix.db import state


@dataclass(frozen=True)
class CachedPage:
    etag: str
    body: bytes
    content_type: str
    stored_at: float  # time.time() when it was rendered

    def max_age(self, public_max_age: int) -> int:
        """Return the seconds a browser may still keep this page (its original max-age, less its age)."""
        return max(0, public_max_age - int(time.time() - self.stored_at))


def _seconds(public_max_age: int) -> int:
    return min(settings.PHOENIX_PAGE_CACHE_SECONDS, public_max_age)


def _usable(request: HttpRequest) -> bool:
    return settings.PHOENIX_PAGE_CACHE_SECONDS > 0 and not state.current().pins


def _key(request: HttpRequest, number: str) -> str:
    # The page is per language, and its "link to this page" shows the scheme and host.
    scheme = "https" if request.is_secure() else "http"
    return f"track:{number}:{get_language()}:{scheme}:{request.get_host()}"


def get(request: HttpRequest, number: str) -> CachedPage | None:
    """Return the cached public page of ``number`` in the request's language, if fresh enough."""
    if not _usable(request):
        return None
    return caches["pages"].get(_key(request, number))


def put(request: HttpRequest, number: str, response: HttpResponse, etag: str, public_max_age: int) -> None:
    """Keep a freshly rendered public page (200 only) for the next visitors."""
    if not _usable(request) or response.status_code != 200 or response.streaming:
        return
    page = CachedPage(etag=etag, body=response.content, content_type=response["Content-Type"], stored_at=time.time())
    caches["pages"].set(_key(request, number), page, timeout=_seconds(public_max_age))
