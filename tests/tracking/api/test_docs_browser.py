"""/api/docs/ in Debian's Chromium: Swagger UI renders from local files under a strict CSP."""

import pytest

from tests.browser import chromium

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_page(live_server):
    with chromium() as browser:
        yield browser.new_context(base_url=live_server.url).new_page()


def test_swagger_ui_lists_every_operation_without_csp_violations_or_outside_requests(browser_page, live_server):
    page = browser_page
    console, requests = [], []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("request", lambda request: requests.append(request.url))
    page.goto("/api/docs/")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    body = page.inner_text("body")
    for path in ("/api/v1/tracking/{number}", "/api/v1/tracking", "/api/v1/shipments", "/api/v1/events"):
        assert path in body
    assert not [line for line in console if "Content Security Policy" in line or "Refused" in line], console
    assert all(url.startswith(live_server.url) or url.startswith("data:") for url in requests), requests
