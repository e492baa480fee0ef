"""Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser)."""

CHROMIUM = "/usr/bin/chromium"
# Headless, and nothing that reaches out: this machine has no network beyond loopback.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
