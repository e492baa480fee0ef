"""/healthz answers any Host without the database; /readyz tells whether the writer takes writes."""

import http.client
import urllib.parse

import pytest

pytestmark = pytest.mark.cluster


def _get(base_url: str, path: str, host: str) -> tuple[int, str]:
    address = urllib.parse.urlparse(base_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_healthz_answers_an_unknown_host_without_the_database(live_app):
    assert _get(live_app.base_url, "/", "10.0.3.17")[0] == 400  # ALLOWED_HOSTS still guards the rest
    with live_app.endpoint_down(live_app.writer), live_app.endpoint_down(live_app.reader):
        assert _get(live_app.base_url, "/healthz", "10.0.3.17") == (200, "ok")


def test_readyz_reports_both_servers_and_200_when_the_writer_is_writable(live_app):
    response = live_app.client().get("/readyz")
    assert response.status == 200
    body = response.json()
    assert body["ready"] is True
    assert body["writer"]["role"] == "writable"
    assert body["reader"]["role"] == "read-only"


def test_readyz_is_503_when_the_writer_is_read_only_or_gone(live_app):
    with live_app.writer_read_only():
        read_only = live_app.client().get("/readyz")
    with live_app.endpoint_down(live_app.writer):
        gone = live_app.client().get("/readyz")
    assert read_only.status == 503
    assert read_only.json()["writer"]["role"] == "read-only"
    assert gone.status == 503
    assert gone.json()["writer"]["role"] == "unreachable"
    assert gone.json()["reader"]["role"] == "read-only"
