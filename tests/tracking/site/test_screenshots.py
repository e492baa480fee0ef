"""Screenshots of the lookup and detail pages, desktop and phone, English and Spanish.

`make screenshots` runs this file with PHOENIX_SCREENSHOTS_DIR=docs/screenshots to refresh the
committed images; in `make test` they go to a temporary directory and the test checks that each
page renders without sideways scrolling.
"""

import os
from pathlib import Path

import pytest
from django.urls import reverse

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 360, "height": 740}}
LOCALES = {"en": "en-US", "es": "es-MX"}


def test_it_captures_the_lookup_and_detail_pages(browser, live_server, on_the_way, tmp_path):
    target = Path(os.environ.get("PHOENIX_SCREENSHOTS_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    pages = {"lookup": "/", "detail": reverse("tracking:detail", args=[on_the_way.tracking_number])}
    for language, locale in LOCALES.items():
        for device, viewport in VIEWPORTS.items():
            context = browser.new_context(
                viewport=viewport, locale=locale, base_url=live_server.url, device_scale_factor=1
            )
            page = context.new_page()
            try:
                for name, path in pages.items():
                    page.goto(path)
                    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
                    image = target / f"{name}-{device}-{language}.png"
                    page.screenshot(path=str(image), full_page=name == "detail" or device == "phone")
                    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            finally:
                context.close()
