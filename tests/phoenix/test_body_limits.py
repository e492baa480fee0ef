"""Request bodies are limited by route and refused before they are read (issue 17: a 300 MB
multipart POST to the CSRF-exempt /i18n/setlang/ was accepted and spooled to disk)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.deploy.conftest import free_port, stop, wait_for_http

REPO = Path(__file__).resolve().parents[2]
KIB = 1024
MIB = 1024 * KIB


def _post(path: str, size: int, **extra):
    return Client().generic("POST", path, b"x" * size, content_type="application/x-www-form-urlencoded", **extra)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/i18n/setlang/", "/track/QP123456789012/", "/track/QP123456789012/notify/"])
def test_public_forms_take_at_most_16_kib(path):
    assert _post(path, 16 * KIB).status_code != 413
    refused = _post(path, 16 * KIB + 1)
    assert refused.status_code == 413
    assert refused["Content-Type"].startswith("text/plain")
    assert "at most 16 KiB here" in refused.content.decode()


def test_the_api_takes_about_a_mebibyte_and_refuses_more_in_its_error_shape():
    refused = Client().generic("POST", "/api/v1/events", b" " * (MIB + 1), content_type="application/json")
    assert refused.status_code == 413
    error = json.loads(refused.content)["error"]
    assert error["code"] == "request_too_large" and "at most 1 MiB here" in error["message"]


@pytest.mark.django_db
def test_admin_uploads_take_the_upload_size():
    assert _post("/admin/login/", 6 * MIB).status_code != 413  # a 5 MiB proof image and its form
    assert _post("/admin/login/", 20 * MIB + 1).status_code == 413


def test_a_chunked_body_is_answered_411():
    response = Client().generic("POST", "/i18n/setlang/", b"", HTTP_TRANSFER_ENCODING="chunked")
    assert response.status_code == 411
    assert "Content-Length" in response.content.decode()


@pytest.fixture
def gunicorn(tmp_path):
    """The production gunicorn config on a free port, its temporary files in a directory of its own."""
    spool = tmp_path / "tmp"
    spool.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "PHOENIX_ENV_FILE"))}
    env.update(
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_SECURE_COOKIES="0",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        PYTHONPATH=str(REPO),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="1",
        GUNICORN_THREADS="2",
        GUNICORN_ACCESS_LOG="",
        TMPDIR=str(spool),
    )
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with (tmp_path / "gunicorn.log").open("w") as log:
        process = subprocess.Popen(
            [str(gunicorn), "--config", str(REPO / "deploy" / "gunicorn.conf.py")],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process)
        yield port, spool
    finally:
        stop(process)


def test_gunicorn_refuses_a_300_mb_upload_to_the_language_switch_unread(gunicorn):
    port, spool = gunicorn
    boundary = "phoenixboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="language"\r\n\r\nen\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    length = 300 * 1000 * 1000
    request = (
        f"POST /i18n/setlang/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {length}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(request + head + b"\0" * (256 * KIB))  # the first 256 KiB of 300 MB
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large", answer[:300]
    assert list(spool.iterdir()) == []  # nothing was spooled
