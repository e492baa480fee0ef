"""Real receivers on loopback for the notification tests: an SMTP server and a webhook server.

The webhook receiver checks signatures with its own code (the snippet in
docs/notifications.md), not with the application's, so a signing bug cannot cancel itself out.
"""

import asyncio
import email
import email.policy
import hashlib
import hmac
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.smtp import SMTP

WAIT_SECONDS = 60


def wait_for(condition, what: str, timeout: float = WAIT_SECONDS):
    """Poll ``condition`` until it is true (the bound only stops a hung test; nothing is timed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


class SMTPReceiver:
    """aiosmtpd on 127.0.0.1 and a free port, in its own thread; keeps every accepted message."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.hold_at: int | None = None  # hold the reply to the N-th message (1-based)
        self.refuse: dict[str, str] = {}  # recipient -> SMTP reply to RCPT TO ("550 ...", "451 ...")
        self.holding = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            self._loop.create_server(lambda: SMTP(self), "127.0.0.1", 0), self._loop
        ).result(10)
        self.port = self._server.sockets[0].getsockname()[1]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.refuse.get(address)
        if reply:
            if reply.startswith("4"):
                del self.refuse[address]  # a temporary problem: the next try succeeds
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
            count = len(self.messages)
        if self.hold_at == count:
            # The message is in; the reply is not. The sender is blocked mid-exchange.
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list:
        return [m for m in self.messages if address in m["To"]]

    def close(self):
        self.release.set()
        self._server.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_of(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def link_in(message, path_part: str) -> str:
    """Return the first link in the plain text part whose path contains ``path_part``."""
    return re.search(rf"https?://\S*{re.escape(path_part)}\S*", text_of(message)).group(0)


def verify_signature(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """The receiver's check, as docs/notifications.md tells partners to write it."""
    pairs = [item.split("=", 1) for item in header.split(",")]
    timestamp = int(dict(pairs)["t"])
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, value) for name, value in pairs if name == "v1")


class WebhookReceiver:
    """http.server on 127.0.0.1 and a free port; verifies signatures, answers as told."""

    def __init__(self):
        self.secret = ""
        self.requests: list[dict] = []  # every request: id, sequence, signature_ok, status sent
        self.fail_next = 0  # answer 500 to this many requests first
        self.always_fail = False
        self.hold_at: int | None = None
        self.on_request = None  # called with (signature header, raw body) of every request
        self.holding = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = verify_signature(receiver.secret, self.headers.get("QualityPost-Signature", ""), body)
                if receiver.on_request:
                    receiver.on_request(self.headers.get("QualityPost-Signature", ""), body)
                payload = json.loads(body)
                with receiver._lock:
                    status = 200 if ok else 401
                    if receiver.always_fail or receiver.fail_next > 0:
                        receiver.fail_next = max(0, receiver.fail_next - 1)
                        status = 500
                    receiver.requests.append(
                        {"id": payload["id"], "payload": payload, "signature_ok": ok, "status": status}
                    )
                    count = len(receiver.requests)
                if receiver.hold_at == count:
                    receiver.holding.set()
                    receiver.release.wait(WAIT_SECONDS)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/qualitypost"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def accepted_ids(self) -> list[str]:
        return [r["id"] for r in self.requests if r["status"] == 200]

    def close(self):
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
