"""Spanish and English: the browser's language, the switcher, and complete translations."""

import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from tracking import numbers
from tracking.models import EventCode, ExceptionReason, Facility, Milestone, Service

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


def test_the_switcher_works_without_a_csrf_token_and_public_pages_set_no_cookie(on_the_way):
    """Public pages are cached, so they carry no per-visitor token and set no cookie; the
    switcher (a cookie-only preference) is the one form that posts without the token."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    url = reverse("tracking:detail", args=[on_the_way.tracking_number])
    several = f"/track/?numbers={on_the_way.tracking_number},{numbers.from_body(7)}"
    for page in ("/", url, several):
        response = client.get(page)
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers, page
        assert "csrfmiddlewaretoken" not in response.content.decode(), page
    response = client.post("/i18n/setlang/", {"language": "en", "next": url})
    assert response.status_code == 302 and response.headers["Location"] == url
    assert "Out for delivery" in client.get(url).content.decode()


def test_the_switcher_never_redirects_off_site():
    from django.test import Client

    response = Client().post("/i18n/setlang/", {"language": "en", "next": "https://evil.example/"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def _untranslated(po: Path) -> list[str]:
    """Return the msgids of a .po file whose translation is empty (a small reader, no polib)."""
    entries, current, field = [], {"msgid": "", "msgstr": ""}, None
    for line in [*po.read_text().splitlines(), ""]:
        if line.startswith(("msgid ", "msgstr ", "msgstr[0] ")):
            if line.startswith("msgid ") and field is not None:
                entries.append(current)
                current = {"msgid": "", "msgstr": ""}
            field = "msgid" if line.startswith("msgid ") else "msgstr"
            current[field] += line.split(" ", 1)[1].strip()[1:-1]
        elif line.startswith('"') and field:
            current[field] += line[1:-1]
    entries.append(current)
    return [entry["msgid"] for entry in entries if entry["msgid"] and not entry["msgstr"]]


def test_the_project_catalogue_is_complete_and_compiles():
    po = settings.BASE_DIR / "locale" / "es" / "LC_MESSAGES" / "django.po"
    result = subprocess.run(["msgfmt", "--statistics", "-o", "/dev/null", str(po)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr


def test_every_string_of_the_public_site_is_translated_into_spanish():
    po = settings.BASE_DIR / "tracking" / "locale" / "es" / "LC_MESSAGES" / "django.po"
    result = subprocess.run(["msgfmt", "--check", "-o", "/dev/null", str(po)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    tracking = settings.BASE_DIR / "tracking"
    sources = [tracking / "site" / name for name in ("forms.py", "lookup.py", "views.py")]
    sources += sorted((tracking / "templates").glob("*.html")) + sorted(
        (tracking / "templates" / "tracking").glob("*.html")
    )
    site = "\n".join(path.read_text() for path in sources)
    missing = [msgid for msgid in _untranslated(po) if f'"{msgid}"' in site or f'"{msgid[:40]}' in site]
    assert missing == []


def test_the_status_vocabularies_read_in_spanish():
    for vocabulary in (Milestone, EventCode, ExceptionReason, Service, Facility.Kind):
        for value, label in vocabulary.choices:
            with translation.override("en"):
                english = str(label)
            with translation.override("es"):
                assert str(label) != english, (vocabulary.__name__, value)
