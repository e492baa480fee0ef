"""Spanish and English: the browser's language, the switcher, and complete translations."""

import subprocess

import pytest
from django.conf import settings
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_browsers_language_is_respected(client):
    assert "¿Dónde está mi paquete?" in client.get("/", HTTP_ACCEPT_LANGUAGE="es-MX,es;q=0.9").content.decode()
    assert "Where is my package?" in client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()


def test_spanish_is_the_default(client):
    assert '<html lang="es">' in client.get("/").content.decode()


def test_the_switcher_sets_the_language_and_returns_to_the_page(client, on_the_way):
    url = reverse("tracking:detail", args=[on_the_way.tracking_number])
    response = client.post("/i18n/setlang/", {"language": "es", "next": url}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302
    assert response.headers["Location"] == url
    assert "En reparto" in client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_the_switcher_needs_the_csrf_token():
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.status_code == 403


def test_every_message_is_translated_into_spanish():
    po = settings.BASE_DIR / "locale" / "es" / "LC_MESSAGES" / "django.po"
    result = subprocess.run(["msgfmt", "--statistics", "-o", "/dev/null", str(po)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr
