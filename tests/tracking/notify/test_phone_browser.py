"""WhatsApp/SMS "Notify me" in Debian's Chromium: ask, get the code on WhatsApp, type it; axe clean in both languages."""

import pytest

from tests import factories
from tests.browser import chromium
from tests.tracking.notify.test_phone_messages import run
from tests.tracking.site.conftest import axe_scan, axe_violations
from tracking.models import PhoneSubscription

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases=["default", "reader"])]


@pytest.fixture
def browser():
    with chromium() as browser:
        yield browser


def test_a_person_gets_whatsapp_updates_with_a_code_and_the_pages_are_axe_clean(browser, live_server, whatsapp, sns):
    shipment = factories.shipment()
    base = f"/track/{shipment.tracking_number}/notify/"
    context = browser.new_context(bypass_csp=True, locale="en-US", base_url=live_server.url)
    page = context.new_page()
    found = {}
    try:
        page.goto(base)
        page.get_by_role("link", name="WhatsApp or SMS").click()
        page.wait_for_url(f"**{base}phone/")
        found["phone form"] = axe_scan(page)
        page.get_by_label("Mobile number").fill("+1 800 555 0199")
        page.get_by_role("button", name="Send me the code").click()
        assert page.get_by_text("This is not a mobile number").is_visible()
        found["phone form, error"] = axe_scan(page)

        page.get_by_label("Mobile number").fill("55 1234 5678")
        assert page.get_by_label("WhatsApp (SMS if the number has no WhatsApp)").is_checked()
        page.get_by_label("Picked up").check()
        page.get_by_role("button", name="Send me the code").click()
        page.wait_for_url(f"**{base}phone/code/")
        assert page.get_by_role("heading", name="Confirm your number").is_visible()
        found["code form"] = axe_scan(page)

        run()
        code = whatsapp.requests[-1]["body"][0]
        page.get_by_label("Code").fill("999999" if code != "999999" else "000000")
        page.get_by_role("button", name="Confirm").click()
        assert page.get_by_text("That code is not right. Tries left: 4.").is_visible()
        found["code form, error"] = axe_scan(page)
        page.get_by_label("Code").fill(code)
        page.get_by_role("button", name="Confirm").click()
        assert page.get_by_role("heading", name="Number confirmed").is_visible()
        found["confirmed"] = axe_scan(page)
    finally:
        context.close()
    subscription = PhoneSubscription.objects.get()
    assert subscription.status == "active"
    assert sorted(subscription.topics) == ["delivered", "exception", "out_for_delivery", "picked_up"]
    for locale in ("es-MX", "en-US"):
        for path in (base, f"{base}phone/"):
            for viewport in ({"width": 1280, "height": 900}, {"width": 360, "height": 740}):
                violations = axe_violations(browser, live_server.url, path, locale=locale, viewport=viewport)
                if violations:
                    found[f"{path} {locale} {viewport['width']}px"] = violations
    assert {name: v for name, v in found.items() if v} == {}
