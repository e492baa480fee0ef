"""A loopback stand-in for the WhatsApp Business Platform Cloud API (Graph API), for the tests.

It checks each request Phoenix sends against the documented shape of
``POST /{version}/{phone-number-id}/messages`` with a template message (the bearer token, the
JSON fields, the approved templates and their parameter counts, the URL button) and answers as
the platform does: 200 with a ``wamid`` for a good request, the platform's error object
otherwise, including error 131026 (message undeliverable: the number has no WhatsApp) for the
numbers in ``not_on_whatsapp``. ``status_webhook`` builds the status callback the platform
would post back, signed with the app secret, as Meta signs it (X-Hub-Signature-256), with its
own code, so a signing bug in the application cannot cancel itself out.
"""

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "v21.0"
PHONE_NUMBER_ID = "106540352242922"
TOKEN = "EAAtest-system-user-token"
APP_SECRET = "test-app-secret"
# The templates approved in the WhatsApp Manager: name -> (body parameters, has a URL button).
APPROVED = {
    "qp_picked_up": (2, True),
    "qp_out_for_delivery": (2, True),
    "qp_delivered": (2, True),
    "qp_ready_for_pickup": (2, True),
    "qp_exception_opened": (2, True),
    "qp_phone_code": (1, True),  # authentication: the copy-code button
}
LANGUAGES = {"es_MX", "en_US"}


def _error(code: int, message: str, status: int = 400) -> tuple[int, dict]:
    return status, {
        "error": {
            "message": f"(#{code}) {message}",
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": message},
            "fbtrace_id": secrets.token_urlsafe(12),
        }
    }


class WhatsAppStandIn:
    """The Graph API on 127.0.0.1 and a free port; keeps every request and every problem found."""

    def __init__(self):
        self.requests: list[dict] = []  # accepted messages: {"to", "template", "language", "body", "button", "id"}
        self.problems: list[str] = []  # requests that broke the documented shape
        self.not_on_whatsapp: set[str] = set()  # numbers (digits, no +) answered with 131026
        self.hold_at: int | None = None  # hold the reply to the N-th request (1-based)
        self.holding = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._count = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = outer._answer(self.path, dict(self.headers), raw)
                with outer._lock:
                    outer._count += 1
                    count = outer._count
                if outer.hold_at == count:
                    outer.holding.set()
                    outer.release.wait(60)
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _answer(self, path: str, headers: dict, raw: bytes) -> tuple[int, dict]:
        headers = {name.lower(): value for name, value in headers.items()}
        if path != f"/{VERSION}/{PHONE_NUMBER_ID}/messages":
            self.problems.append(f"path {path}")
            return _error(100, "Unsupported post request.")
        if headers.get("authorization") != f"Bearer {TOKEN}":
            self.problems.append("authorization header")
            return _error(190, "Invalid OAuth access token.", status=401)
        if not headers.get("content-type", "").startswith("application/json"):
            self.problems.append(f"content type {headers.get('content-type')}")
            return _error(100, "Invalid parameter")
        try:
            body = json.loads(raw)
            problem = self._shape(body)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            problem = f"body: {type(exc).__name__} {exc}"
        if problem:
            self.problems.append(problem)
            return _error(132000 if "parameters" in problem else 100, problem)
        template = body["template"]
        if template["name"] not in APPROVED:
            return _error(132001, "Template name does not exist in the translation")
        to = body["to"]
        if to in self.not_on_whatsapp:
            return _error(131026, "Message Undeliverable.")
        wamid = "wamid." + secrets.token_urlsafe(24)
        components = {c["type"]: c for c in template.get("components", [])}
        with self._lock:
            self.requests.append(
                {
                    "to": to,
                    "template": template["name"],
                    "language": template["language"]["code"],
                    "body": [p["text"] for p in components["body"]["parameters"]],
                    "button": components["button"]["parameters"][0]["text"] if "button" in components else None,
                    "id": wamid,
                }
            )
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": wamid}],
        }

    @staticmethod
    def _shape(body: dict) -> str:
        """Return what breaks the documented shape of a template message, or ''."""
        if body.get("messaging_product") != "whatsapp":
            return "messaging_product must be 'whatsapp'"
        if not re.fullmatch(r"\+?[1-9]\d{7,14}", str(body.get("to", ""))):
            return f"to {body.get('to')!r} is not a phone number"
        if body.get("type") != "template":
            return "type must be 'template' (a business-initiated message)"
        template = body["template"]
        if not isinstance(template.get("name"), str) or not template["name"]:
            return "template.name missing"
        if template.get("language", {}).get("code") not in LANGUAGES:
            return f"template.language.code {template.get('language')!r}"
        expected = APPROVED.get(template["name"])
        if expected is None:
            return ""  # the platform answers 132001
        components = template.get("components", [])
        bodies = [c for c in components if c["type"] == "body"]
        buttons = [c for c in components if c["type"] == "button"]
        if len(bodies) != 1 or len(bodies[0]["parameters"]) != expected[0]:
            return "body parameters do not match the template"
        if any(p["type"] != "text" or not str(p["text"]).strip() for p in bodies[0]["parameters"]):
            return "body parameters must be non-empty text"
        if expected[1]:
            if len(buttons) != 1:
                return "the URL button's parameters are missing"
            button = buttons[0]
            if button.get("sub_type") != "url" or str(button.get("index")) != "0":
                return "button must be sub_type url, index 0"
            if len(button["parameters"]) != 1 or button["parameters"][0]["type"] != "text":
                return "the URL button takes one text parameter"
        elif buttons:
            return "this template has no button parameters"
        return ""

    def status_webhook(self, wamid: str, status: str, *, to: str, error_code: int | None = None, at: int | None = None):
        """Return ``(body, signature header)`` of the status callback the platform posts for ``wamid``."""
        entry = {"id": wamid, "timestamp": str(at or int(time.time())), "recipient_id": to, "status": status}
        if error_code is not None:
            entry["errors"] = [{"code": error_code, "title": "Message undeliverable"}]
        return self._signed({"statuses": [entry]})

    def inbound_text(self, text: str, *, sender: str, at: int | None = None):
        """Return ``(body, signature header)`` of a text message the platform posts from ``sender``."""
        message = {
            "from": sender,
            "id": "wamid." + secrets.token_urlsafe(16),
            "timestamp": str(at or int(time.time())),
            "type": "text",
            "text": {"body": text},
        }
        return self._signed({"contacts": [{"wa_id": sender}], "messages": [message]})

    def _signed(self, value: dict):
        value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": PHONE_NUMBER_ID}, **value}
        payload = {
            "object": "whatsapp_business_account",
            "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
        }
        body = json.dumps(payload).encode()
        signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        return body, signature

    def close(self):
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
