"""Logging filters: what a log line may say about a request.

Django's own loggers (``django.request``, ``django.security``) attach the request to warnings
such as "Forbidden: /track/QP.../" and the JSON formatter writes its ``repr``, which carries the
query string. A wrong postal code answers 403, so the code a visitor typed, the key to the
recipient's name and address, would reach CloudWatch. The gunicorn access log redacts it the
same way (deploy/gunicorn.conf.py).
"""

import logging
from urllib.parse import parse_qsl, urlencode

REDACTED_PARAMETERS = frozenset({"postal_code"})


def redacted_query(query: str) -> str:
    """Return ``query`` with the value of every secret parameter replaced by "redacted"."""
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(name in REDACTED_PARAMETERS for name, _ in pairs):
        return query
    return urlencode([(name, "redacted" if name in REDACTED_PARAMETERS else value) for name, value in pairs])


class RedactRequest(logging.Filter):
    """Replace a record's ``request`` by its method, path and redacted query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if request is not None and hasattr(request, "path") and not isinstance(request, str):
            query = redacted_query(request.META.get("QUERY_STRING", ""))
            record.request = f"{request.method} {request.path}" + (f"?{query}" if query else "")
        return True
