"""Helpers for the site tests."""

from contextlib import ExitStack

from django.db import connections
from django.test.utils import CaptureQueriesContext


def get_with_queries(client, url, params=None, **headers):
    """Return the response to a GET and the SQL each alias (writer, reader) ran serving it."""
    return _with_queries(client.get, url, params, headers)


def post_with_queries(client, url, data=None, **headers):
    """Return the response to a POST and the SQL each alias (writer, reader) ran serving it."""
    return _with_queries(client.post, url, data, headers)


def _with_queries(method, url, data, headers):
    with ExitStack() as stack:
        captured = {
            alias: stack.enter_context(CaptureQueriesContext(connections[alias])) for alias in ("default", "reader")
        }
        response = method(url, data or {}, **headers)
    return response, {alias: [q["sql"] for q in c.captured_queries] for alias, c in captured.items()}
