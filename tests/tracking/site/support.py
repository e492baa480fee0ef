"""Helpers for the site tests."""

from contextlib import ExitStack

from django.db import connections
from django.test.utils import CaptureQueriesContext


def get_with_queries(client, url, params=None, **headers):
    """Return the response to a GET and the SQL each alias (writer, reader) ran serving it."""
    with ExitStack() as stack:
        captured = {
            alias: stack.enter_context(CaptureQueriesContext(connections[alias])) for alias in ("default", "reader")
        }
        response = client.get(url, params or {}, **headers)
    return response, {alias: [q["sql"] for q in c.captured_queries] for alias, c in captured.items()}
