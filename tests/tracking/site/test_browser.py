"""The public pages in a real browser: Debian's Chromium driven by Playwright, against the
live server on a free port and the writer's test database."""

import re

import pytest
from django.urls import reverse

from tests import factories
from tests.tracking.site.conftest import RECIPIENT, axe_scan, axe_violations
from tracking import numbers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases=["default", "reader"])]


def test_it_tracks_one_number_typed_in_lower_case_and_groups(page, on_the_way):
    page.goto("/")
    typed = numbers.display(on_the_way.tracking_number).lower()
    page.get_by_label("Tracking numbers").fill(typed)
    page.get_by_role("button", name="Track").click()
    page.wait_for_url(f"**/track/{on_the_way.tracking_number}/")
    assert page.get_by_role("heading", level=1).inner_text() == numbers.display(on_the_way.tracking_number)
    assert page.locator(".status").inner_text() == "Out for delivery"
    assert re.search(r"Last scan\n4\d\sminutes ago", page.locator(".facts").inner_text())
    history = page.locator(".timeline li").all_inner_texts()
    assert [line.split("\n")[1] for line in history][:2] == ["Out for delivery", "Arrived at destination facility"]
    assert len(history) == 5


def test_it_shows_a_card_per_number_and_says_which_are_unknown_or_mistyped(page, on_the_way):
    other = factories.shipment()
    unknown = numbers.from_body(12345678901)
    body = on_the_way.tracking_number[2:-1]
    wrong_digit = "9" if body[4] != "9" else "8"
    mistyped = f"QP{body[:4]}{wrong_digit}{body[5:]}{on_the_way.tracking_number[-1]}"
    assert not numbers.is_valid(mistyped)

    page.goto("/")
    page.get_by_label("Tracking numbers").fill(
        f"{on_the_way.tracking_number}\n{unknown}, {mistyped}\n{numbers.display(other.tracking_number)}"
    )
    page.get_by_role("button", name="Track").click()
    page.wait_for_url("**/track/?numbers=*")

    cards = page.locator(".cards > li")
    assert cards.count() == 4
    assert "4 numbers: 2 found, 2 need your attention" in page.locator(".summary").inner_text()
    assert "Out for delivery" in cards.nth(0).inner_text()
    assert "We have no shipment with this number" in cards.nth(1).inner_text()
    assert "This number looks mistyped" in cards.nth(2).inner_text()
    assert "Label created" in cards.nth(3).inner_text()
    cards.nth(3).get_by_role("heading").get_by_role("link").click()
    page.wait_for_url(f"**/track/{other.tracking_number}/")


def test_the_postal_code_unlocks_the_recipient_and_the_proof_of_delivery(page, delivered):
    page.goto(reverse("tracking:detail", args=[delivered.tracking_number]))
    assert RECIPIENT["name"] not in page.content()
    page.get_by_label("Destination postal code").fill("44 101")
    page.get_by_role("button", name="Show details").click()
    assert "does not match" in page.locator(".private .error").inner_text()
    assert RECIPIENT["name"] not in page.content()

    page.get_by_label("Destination postal code").fill("44100")
    page.get_by_role("button", name="Show details").click()
    private = page.locator(".private").inner_text()
    assert RECIPIENT["name"] in private
    assert "Received by Fernanda Ruiz Ortega at the front door" in private
    assert "Delivered on" in private


def test_the_language_switch_works_without_javascript(browser, live_server, on_the_way):
    context = browser.new_context(java_script_enabled=False, locale="en-US", base_url=live_server.url)
    page = context.new_page()
    try:
        page.goto(reverse("tracking:detail", args=[on_the_way.tracking_number]))
        assert page.locator("html").get_attribute("lang") == "en"
        page.get_by_role("button", name="Español").click()
        page.wait_for_load_state()
        assert page.url.endswith(f"/track/{on_the_way.tracking_number}/")
        assert page.locator("html").get_attribute("lang") == "es"
        assert page.locator(".status").inner_text() == "En reparto"
        assert "Historial" in page.content()
        page.get_by_role("button", name="English").click()
        page.wait_for_load_state()
        assert page.locator(".status").inner_text() == "Out for delivery"
    finally:
        context.close()


def test_it_respects_the_browsers_language(browser, live_server, on_the_way):
    context = browser.new_context(locale="es-MX", base_url=live_server.url)
    page = context.new_page()
    try:
        page.goto("/")
        assert page.get_by_role("heading", level=1).inner_text() == "¿Dónde está mi paquete?"
    finally:
        context.close()


def test_it_is_usable_on_a_360_pixel_phone(browser, live_server, on_the_way):
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="es-MX",
        base_url=live_server.url,
    )
    page = context.new_page()
    try:
        for path in ["/", reverse("tracking:detail", args=[on_the_way.tracking_number])]:
            page.goto(path)
            # Nothing wider than the screen: no sideways scrolling.
            assert page.evaluate("document.documentElement.scrollWidth") <= 360
        button = page.get_by_role("button", name="Mostrar datos").bounding_box()
        assert button["height"] >= 24 and button["x"] + button["width"] <= 360
        page.get_by_label("Código postal de destino").fill("44100")
        page.get_by_role("button", name="Mostrar datos").click()
        assert RECIPIENT["name"] in page.locator(".private").inner_text()
    finally:
        context.close()


def test_every_public_page_has_no_axe_violations(browser, live_server, delivered):
    detail = reverse("tracking:detail", args=[delivered.tracking_number])
    pages = {
        "home": "/",
        "results": f"/track/?numbers={delivered.tracking_number},{numbers.from_body(1)},QP1234",
        "detail": detail,
        "detail, a code in an old link": f"{detail}?postal_code=44100",
        "bad input": "/track/?numbers=%3Cscript%3E",
        "404": "/no-such-page/",
        "unknown number": reverse("tracking:detail", args=[numbers.from_body(2)]),
    }
    found = {}
    for locale in ("en-US", "es-MX"):
        for name, path in pages.items():
            for viewport in ({"width": 1280, "height": 900}, {"width": 360, "height": 740}):
                violations = axe_violations(browser, live_server.url, path, locale=locale, viewport=viewport)
                if violations:
                    found[f"{name} {locale} {viewport['width']}px"] = violations
        for name, code in (("detail, unlocked", "44100"), ("detail, wrong postal code", "99999")):
            violations = _axe_after_unlock(browser, live_server.url, detail, code, locale)
            if violations:
                found[f"{name} {locale}"] = violations
    assert found == {}


def _axe_after_unlock(browser, base_url: str, path: str, code: str, locale: str) -> list[dict]:
    """Post ``code`` through the page's form (the unlock is a POST) and scan what comes back."""
    context = browser.new_context(bypass_csp=True, locale=locale, base_url=base_url)
    try:
        page = context.new_page()
        page.goto(path)
        page.locator("input[name=postal_code]").fill(code)
        page.locator("form.unlock button").click()
        page.wait_for_load_state()
        return axe_scan(page)
    finally:
        context.close()


def test_the_rate_limit_page_has_no_axe_violations(browser, live_server, page, settings):
    settings.PHOENIX_LOOKUP_BUDGET = 1
    unknown = reverse("tracking:detail", args=[numbers.from_body(3)])
    assert page.goto(unknown).status == 404
    response = page.goto(unknown)
    assert response.status == 429
    assert "Please wait a moment" in page.content()
    assert axe_violations(browser, live_server.url, unknown) == []


def test_the_axe_scan_finds_violations_when_there_are_some(browser):
    context = browser.new_context(bypass_csp=True)
    try:
        page = context.new_page()
        page.set_content('<html><body><main><img src="parcel.png"><a href="/"></a></main></body></html>')
        assert {"image-alt", "html-has-lang", "link-name"} <= {v["id"] for v in axe_scan(page)}
    finally:
        context.close()


def test_the_admin_works_under_the_content_security_policy(browser, live_server, django_user_model):
    django_user_model.objects.create_superuser("ops", "ops@example.com", "correct horse battery staple")
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    page = context.new_page()
    blocked = []
    page.on(
        "console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None
    )
    try:
        page.goto("/admin/login/")
        page.get_by_label("Username").fill("ops")
        page.get_by_label("Password").fill("correct horse battery staple")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/admin/")
        user = django_user_model.objects.get(username="ops")
        response = page.goto(f"/admin/auth/user/{user.pk}/change/")
        assert response.status == 200
        assert "content-security-policy" in response.headers
        # The groups and permissions pickers are built by the admin's JavaScript (SelectFilter2.js).
        page.locator(".selector").first.wait_for()
        assert page.locator(".selector").count() == 2
        page.goto("/admin/auth/user/?q=ops")
        page.locator("#changelist-search").wait_for()
    finally:
        context.close()
    assert blocked == []
