"""Logging filters: what a log line may say about a request.

Django's own loggers (``django.request``, ``django.security``) attach the request to warnings
such as "Forbidden: /track/QP.../" and the JSON formatter writes its ``repr``, which carries the
query string. A wrong postal code answers 403, so the code a visitor typed, the key to the
recipient's name and address, would reach CloudWatch. The gunicorn access log redacts it the
same way (deploy/gunicorn.conf.py). The signed links in the e-mails carry their token in the
path (``/notify/confirm/<token>/``, ``/notify/unsubscribe/<token>/``): it is redacted too.
"""

import logging
import re
from urllib.parse import parse_qsl, urlencode

REDACTED_PARAMETERS = frozenset({"postal_code"})
# Paths whose next segment is a secret: the confirmation and unsubscribe links' tokens.
_SECRET_PATH = re.compile(r"(/notify/(?:confirm|unsubscribe)/)[^/?#\s]+")


def redacted_path(path: str) -> str:
    """Return ``path`` (or any text holding one) with the token of an e-mail link redacted."""
    return _SECRET_PATH.sub(r"\1redacted", path)


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
            record.request = f"{request.method} {redacted_path(request.path)}" + (f"?{query}" if query else "")
            # Django's own message names the path too ("Not Found: /notify/confirm/...").
            if isinstance(record.args, tuple):
                record.args = tuple(redacted_path(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True
