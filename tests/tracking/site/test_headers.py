"""Security headers on the public pages and the admin, and static files as production serves them."""

import re

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _policy(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";") if part.strip())


def test_public_pages_send_a_strict_content_security_policy(client, on_the_way):
    for url in ["/", reverse("tracking:detail", args=[on_the_way.tracking_number]), "/no-such-page/"]:
        policy = _policy(client.get(url))
        assert policy["default-src"] == "'none'"
        assert policy["script-src"] == "'self'"
        assert policy["style-src"] == "'self'"
        assert policy["frame-ancestors"] == "'none'"
        assert "unsafe-inline" not in str(policy)


def test_the_pages_have_no_inline_script_or_style(client, on_the_way):
    for url in ["/", reverse("tracking:detail", args=[on_the_way.tracking_number])]:
        html = client.get(url).content.decode()
        assert "<script" not in html
        assert "<style" not in html and " style=" not in html


def test_the_admin_login_renders_under_the_policy(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert _policy(response)["script-src"] == "'self'"


def test_whitenoise_serves_the_collected_static_files(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0)
    client = Client()  # a new handler: WhiteNoise indexes STATIC_ROOT when its middleware starts
    page = client.get("/")
    css_url = re.search(r'<link rel="stylesheet" href="([^"]+)"', page.content.decode()).group(1)
    assert (
        css_url.startswith("/static/tracking/site.")
        and css_url.endswith(".css")
        and css_url != "/static/tracking/site.css"
    )
    css = client.get(css_url, HTTP_ACCEPT_ENCODING="gzip")
    assert css.status_code == 200
    assert css.headers["Content-Encoding"] == "gzip"
    assert "immutable" in css.headers["Cache-Control"]
