"""Faults on loopback for the boot rehearsals and the tests: real servers in front of real ones.

- ``BrownOut``: an HTTP server in front of moto that makes Parameter Store have a bad minute:
  its first calls hang past the client's timeout, then are throttled (AWS's documented
  ``ThrottlingException``) or fail with 503, and the rest reach moto unchanged.
- ``WriterOutage``: a TCP proxy in front of the MariaDB writer that refuses every connection
  for a while from the first one it sees, as the writer endpoint does while Aurora fails over
  (30-60 s), then forwards again.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import threading
import time
import urllib.error
import urllib.request


class BrownOut:
    """Parameter Store in front of moto at UPSTREAM, misbehaving for its first calls.

    ``plan`` lists what the first SSM calls get, in order: ``"hang"`` (no answer for
    ``hang_seconds``), ``"throttle"`` (400 ThrottlingException) or ``"unavailable"`` (503).
    """

    def __init__(self, upstream: str, plan: tuple[str, ...] = ("hang", "throttle"), hang_seconds: float = 3.0):
        self.upstream, self.plan, self.hang_seconds = upstream, plan, hang_seconds
        self.ssm_calls = 0
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> BrownOut:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self) -> str:
        with self._lock:
            self.ssm_calls += 1
            return self.plan[self.ssm_calls - 1] if self.ssm_calls <= len(self.plan) else "pass"

    def _handler(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("X-Amz-Target", "").startswith("AmazonSSM."):
                    fault = outer._next()
                    if fault == "hang":
                        time.sleep(outer.hang_seconds)
                        return self._answer(200, b"{}", "application/x-amz-json-1.1")
                    if fault in ("throttle", "unavailable"):
                        code, status = (
                            ("ThrottlingException", 400) if fault == "throttle" else ("ServiceUnavailable", 503)
                        )
                        error = json.dumps({"__type": code, "message": "Rate exceeded"}).encode()
                        return self._answer(status, error, "application/x-amz-json-1.1")
                headers = dict(self.headers.items())
                request = urllib.request.Request(outer.upstream + self.path, data=body, method="POST", headers=headers)
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        self._answer(response.status, response.read(), response.headers.get("Content-Type", ""))
                except urllib.error.HTTPError as error:
                    self._answer(error.code, error.read(), error.headers.get("Content-Type", ""))

            def _answer(self, status: int, body: bytes, content_type: str):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up on a hanging call

            def log_message(self, *args):
                pass

        return Handler


class WriterOutage:
    """A TCP proxy to 127.0.0.1:TARGET_PORT that refuses connections for OUTAGE_SECONDS from the
    first one it sees (it accepts and closes at once, as a writer endpoint without a writer
    does), then forwards every connection both ways."""

    def __init__(self, target_port: int, outage_seconds: float = 20.0):
        self.target_port, self.outage_seconds = target_port, outage_seconds
        self.refused = self.forwarded = 0
        self._outage_until: float | None = None
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stopping = threading.Event()

    def __enter__(self) -> WriterOutage:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            now = time.monotonic()
            if self._outage_until is None:
                self._outage_until = now + self.outage_seconds
            if now < self._outage_until:
                self.refused += 1
                client.close()
                continue
            self.forwarded += 1
            threading.Thread(target=self._forward, args=(client,), daemon=True).start()

    def _forward(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)

        def pipe(source: socket.socket, sink: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while data := source.recv(65536):
                    sink.sendall(data)
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

        other = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
        other.start()
        pipe(client, upstream)
        other.join()
        client.close()
        upstream.close()
