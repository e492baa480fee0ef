"""Response headers and cookies every page gets: Permissions-Policy, the language cookie's flags."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_every_answer_has_a_permissions_policy():
    for path in ("/", "/healthz", "/api/v1/nope", "/admin/login/"):
        response = Client().get(path, secure=True)
        policy = response.get("Permissions-Policy", "")
        assert "camera=()" in policy and "geolocation=()" in policy and "microphone=()" in policy, path


def test_the_language_cookie_is_httponly_samesite_and_secure_when_cookies_are(settings):
    response = Client().post("/i18n/setlang/", {"language": "en", "next": "/"}, secure=True)
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "en"
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    # Secure exactly when the session and CSRF cookies are (DJANGO_SECURE_COOKIES, off for plain HTTP).
    assert bool(cookie["secure"]) is bool(settings.SESSION_COOKIE_SECURE)
    assert settings.LANGUAGE_COOKIE_SECURE is settings.SESSION_COOKIE_SECURE
