"""Helpers for the partner API tests."""

import json

from django.test import Client


class ApiClient:
    """Django's test client speaking JSON, with an optional partner key."""

    def __init__(self, key: str | None = None):
        self.client = Client()
        self.key = key

    def _headers(self, headers: dict | None) -> dict:
        base = {"HTTP_AUTHORIZATION": f"Token {self.key}"} if self.key else {}
        return {**base, **(headers or {})}

    def get(self, path: str, params=None, **headers):
        return self.client.get(path, params or {}, **self._headers(headers))

    def post(self, path: str, data=None, raw: bytes | str | None = None, content_type="application/json", **headers):
        body = raw if raw is not None else json.dumps(data)
        return self.client.generic("POST", path, body, content_type=content_type, **self._headers(headers))

    def patch(self, path: str, data=None, **headers):
        return self.client.generic(
            "PATCH", path, json.dumps(data), content_type="application/json", **self._headers(headers)
        )

    def delete(self, path: str, **headers):
        return self.client.generic("DELETE", path, **self._headers(headers))


def error_of(response) -> dict:
    """Return the error object of a response, checking the one shape."""
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    assert body["error"]["message"]
    return body["error"]
