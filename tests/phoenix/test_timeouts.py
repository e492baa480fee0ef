"""Database timeouts per role (phoenix/dburl.py) and the /healthz fast path's request matcher."""

import importlib.util
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from phoenix.dburl import database_config

URL = "mysql://phoenix:secret@db.example:3306/phoenix"


def _options(monkeypatch, role: str, **env: str) -> dict:
    for name in ("PHOENIX_DB_CONNECT_TIMEOUT", "PHOENIX_DB_READ_TIMEOUT", "PHOENIX_DB_WRITE_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.replace("PHOENIX_DB_", "PHOENIX_DB_READER_"), raising=False)
    monkeypatch.setenv("SOME_URL", URL)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return database_config("SOME_URL", role=role)["OPTIONS"]


def test_every_connection_waits_less_than_gunicorns_timeout_and_the_reader_least(monkeypatch):
    writer, reader = _options(monkeypatch, "writer"), _options(monkeypatch, "reader")
    for options in (writer, reader):
        assert options["connect_timeout"] <= 2
        assert options["read_timeout"] < 30 and options["write_timeout"] < 30
    assert reader["read_timeout"] < writer["read_timeout"]


def test_each_role_has_its_own_overrides(monkeypatch):
    options = _options(monkeypatch, "reader", PHOENIX_DB_READ_TIMEOUT="20", PHOENIX_DB_READER_READ_TIMEOUT="4")
    assert options["read_timeout"] == 4
    assert _options(monkeypatch, "writer", PHOENIX_DB_READ_TIMEOUT="20")["read_timeout"] == 20


@pytest.mark.parametrize("value", ["0", "soon"])
def test_a_timeout_that_would_wait_forever_or_is_not_a_number_is_refused(monkeypatch, value):
    with pytest.raises(ImproperlyConfigured, match="PHOENIX_DB_READER_READ_TIMEOUT"):
        _options(monkeypatch, "reader", PHOENIX_DB_READER_READ_TIMEOUT=value)


def _worker_module():
    path = Path(__file__).resolve().parents[2] / "phoenix" / "gunicorn_worker.py"
    spec = importlib.util.spec_from_file_location("phoenix_gunicorn_worker_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("head", "answered"),
    [
        (b"GET /healthz HTTP/1.1\r\nHost: 10.0.3.17\r\n\r\n", True),
        (b"GET /healthz/ HTTP/1.1\r\n", True),
        (b"GET /healthz?from=alb HTTP/1.0\r\n", True),
        (b"GET /healthzz HTTP/1.1\r\n", False),
        (b"GET /readyz HTTP/1.1\r\n", False),
        (b"POST /healthz HTTP/1.1\r\n", False),
        (b"GET /track/healthz HTTP/1.1\r\n", False),
    ],
)
def test_only_a_get_of_healthz_is_answered_before_the_thread_pool(head, answered):
    assert _worker_module().is_healthz(head) is answered
