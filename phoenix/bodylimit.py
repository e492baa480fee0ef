"""Request bodies limited by route, refused before a byte of them is read.

The limits (bytes), by the path's first segment:

- ``/api/``: PHOENIX_API_MAX_BODY_BYTES (1 MiB; a batch of 500 scan events is about 150 KB);
- ``/admin/``: PHOENIX_ADMIN_MAX_BODY_BYTES (20 MiB: proof-of-delivery images of up to
  PHOENIX_POD_MAX_BYTES and CSV imports);
- everything else (the public forms, the notify pages, ``/i18n/setlang/``):
  PHOENIX_FORM_MAX_BODY_BYTES (16 KiB).

A ``Content-Length`` over the limit is answered 413 at once, before the CSRF check, the form
parser or the multipart parser (which spools files to disk) could read anything; the answer is
JSON in the API's one error shape under ``/api/``, plain text elsewhere. A chunked body (no
``Content-Length``) is answered 411: Django reads no more of a body than its Content-Length
says, so a chunked one would reach a view as empty. gunicorn's gthread worker does not read the
rest of a refused body either: it drains at most 64 KiB and closes the connection.
"""

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def limit_for(path: str) -> int:
    """Return the largest body (bytes) a request to ``path`` may send."""
    if path.startswith("/api/"):
        return settings.PHOENIX_API_MAX_BODY_BYTES
    if path.startswith("/admin/"):
        return settings.PHOENIX_ADMIN_MAX_BODY_BYTES
    return settings.PHOENIX_FORM_MAX_BODY_BYTES


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit % (1024 * 1024) == 0 else f"{limit // 1024} KiB"


def _refuse(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    if request.path_info.startswith("/api/"):
        body = json.dumps({"error": {"code": code, "message": message, "fields": {}}})
        response = HttpResponse(body, status=status, content_type="application/json")
    else:
        response = HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


class BodyLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = limit_for(request.path_info)
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            message = f"Send the body with a Content-Length (at most {_size(limit)} here), not chunked."
            return _refuse(request, 411, "length_required", message)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _refuse(request, 400, "invalid", "The Content-Length header is not a number.")
        if length > limit:
            message = f"The request body is too large: at most {_size(limit)} here, this one has {length} bytes."
            return _refuse(request, 413, "request_too_large", message)
        return self.get_response(request)
