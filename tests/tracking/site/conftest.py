"""Fixtures for the public tracking pages: a clean rate-limit cache, a shipment with a story,
and Debian's Chromium driven by Playwright."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.cache import cache
from django.utils import timezone

from tests import factories
from tests.browser import chromium
from tracking.services import event_record

REPO = Path(__file__).resolve().parents[3]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(autouse=True)
def _fresh_lookup_budget():
    """Every test starts with a full lookup budget (the counters live in the process cache)."""
    cache.clear()
    yield
    cache.clear()


RECIPIENT = {
    "name": "Fernanda Ruiz Ortega",
    "phone": "+52 33 1234 5678",
    "email": "fernanda.ruiz@example.com",
    "address": "Av. Juárez 123, Col. Centro",
    "city": "Guadalajara",
    "state": "Jalisco",
    "postal_code": "44100",
}
SENDER = {
    "name": "Tienda Ejemplo SA de CV",
    "phone": "+52 55 9876 5432",
    "email": "ventas@tienda.example",
    "city": "CDMX",
}


@pytest.fixture
def on_the_way():
    """Return a shipment out for delivery in Guadalajara, scanned in three time zones."""
    now = timezone.now()
    origin = factories.facility("TIJ01", name="Tijuana Cross-border", city="Tijuana", time_zone="America/Tijuana")
    hub = factories.facility("MTY01", name="Monterrey Hub", city="Monterrey", time_zone="America/Monterrey")
    destination = factories.facility(
        "GDL01",
        name="Guadalajara Hub",
        city="Guadalajara",
        time_zone="America/Mexico_City",
        address="Av. Lázaro Cárdenas 3430",
    )
    shipment = factories.shipment(
        origin_facility=origin,
        destination_facility=destination,
        recipient=RECIPIENT,
        sender=SENDER,
        occurred_at=now - timedelta(days=2),
    )
    event_record(shipment=shipment, code="picked_up", occurred_at=now - timedelta(days=2, hours=-2), facility=origin)
    event_record(shipment=shipment, code="arrived_at_facility", occurred_at=now - timedelta(days=1), facility=hub)
    event_record(shipment=shipment, code="at_destination", occurred_at=now - timedelta(hours=5), facility=destination)
    event_record(
        shipment=shipment, code="out_for_delivery", occurred_at=now - timedelta(minutes=42), facility=destination
    )
    shipment.eta_earliest = now + timedelta(hours=2)
    shipment.eta_latest = now + timedelta(hours=6)
    shipment.save(update_fields=["eta_earliest", "eta_latest", "updated_at"])
    return shipment


@pytest.fixture
def delivered(on_the_way):
    event_record(
        shipment=on_the_way,
        code="delivered",
        occurred_at=timezone.now() - timedelta(minutes=5),
        facility=on_the_way.destination_facility,
        note="Received by Fernanda Ruiz Ortega at the front door",
    )
    return on_the_way


@pytest.fixture(scope="module")
def browser():
    """Return Debian's Chromium driven by Playwright; closed (no process left) after the module.

    Module scope: Playwright's sync API keeps an asyncio loop in this thread while it runs,
    which other tests' async_to_sync calls must not meet.
    """
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser, live_server):
    """Return a desktop-sized page in English; the live server serves the app."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", base_url=live_server.url)
    page = context.new_page()
    yield page
    context.close()


AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def axe_scan(page) -> list[dict]:
    """Return axe-core's WCAG 2.2 AA (and best-practice) violations on the page as loaded."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]} for v in result["violations"]
    ]


def axe_violations(browser, base_url: str, path: str, *, locale: str = "en-US", viewport=None) -> list[dict]:
    """Load a page and return its axe-core violations.

    axe is injected from node_modules (installed by `make test`) as an inline script tag, which
    the site's Content-Security-Policy rightly blocks, so the scan (and only the scan) runs in
    a browser context with ``bypass_csp=True``.
    """
    context = browser.new_context(
        bypass_csp=True, locale=locale, base_url=base_url, viewport=viewport or {"width": 1280, "height": 900}
    )
    try:
        page = context.new_page()
        page.goto(path)
        return axe_scan(page)
    finally:
        context.close()
