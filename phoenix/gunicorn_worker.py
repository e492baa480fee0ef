"""Gunicorn's gthread worker, plus /healthz answered by the worker's main thread.

gthread hands every connection to a pool of ``threads`` threads. When the database is silent
or hung, all of them can be waiting on it at once, and a health check queued behind them goes
unanswered: the load balancer then takes a healthy instance out (and, with the Auto Scaling
group's ELB health check, replaces it) because of a database incident. /healthz is a liveness
check ("this process serves HTTP"), so this worker answers it in its main loop, before the
connection reaches the pool: it needs no free thread and never touches Django or a database.

Only a plain ``GET /healthz`` (or ``/healthz/``, with or without a query string) is answered
here; anything else, /readyz included, goes to the pool as before. The answer closes the
connection. Standard library and gunicorn only: deploy/gunicorn.conf.py loads this file by
path, before the project is importable.

Load shedding at the edge, per lane (the public site, the partner API under /api/, the admin
under /admin/, as phoenix/db/lanes.py names them): each lane may have ``threads`` +
PHOENIX_MAX_QUEUED - 1 requests in the worker, served or waiting for a thread (the admin half
that; PHOENIX_MAX_QUEUED defaults to ``threads``, -1 = never shed). One more is answered 503 with
``Retry-After`` by the main loop at once, JSON under /api/, without waiting in the queue or
reaching Django; a flood of one lane never fills the queue in front of the others. /healthz is
never shed. The worker also stamps
each connection when it queues it and hands the wait to the app as
``environ["phoenix.queued_seconds"]``: phoenix/db/lanes.py sheds a request that still waited
too long, and keeps one lane from taking every thread.
"""

import errno
import os
import re
import selectors
import socket
import threading
import time
from functools import partial

from gunicorn.http import wsgi
from gunicorn.workers.gthread import ThreadWorker

# The request line of a liveness check: GET, the path, an optional query, the protocol.
_HEALTHZ = re.compile(rb"^GET /healthz/?(\?[^ ]*)? HTTP/1\.[01]\r\n")
# A request line is at most this long for /healthz; peeking this much tells it apart.
_PEEK_BYTES = 512
# The environ key of the seconds a request waited for a thread (phoenix/db/lanes.py reads it).
QUEUED_SECONDS = "phoenix.queued_seconds"
_local = threading.local()  # the wait of the request the current pool thread serves
_BUSY_RETRY_AFTER = 2  # seconds, as the app's own busy answers (phoenix/db/middleware.py)


def lane(head: bytes) -> str:
    """Return the lane of a request from its first bytes (as phoenix.db.state.lane_of does)."""
    parts = head.split(b" ", 2)
    path = parts[1] if len(parts) > 1 else b""
    if path.startswith(b"/static/"):
        return "static"  # never shed: a browser asks for several at once with each page
    if path.startswith(b"/api/"):
        return "api"
    if path.startswith(b"/admin/"):
        return "admin"
    return "public"


def _busy_answer(head: bytes) -> bytes:
    """Return the 503 of a shed request: JSON for the partner API, a short page otherwise."""
    if lane(head) == "api":
        content_type = b"application/json"
        body = b'{"error": {"code": "busy", "message": "The service is busy; retry shortly."}}'
    else:
        content_type = b"text/html; charset=utf-8"
        body = (
            b'<!doctype html>\n<html lang="es"><head><meta charset="utf-8"><title>Con mucha demanda</title></head>'
            b"<body><h1>Con mucha demanda en este momento / Busy right now</h1>"
            b"<p>Int\xc3\xa9ntalo de nuevo en unos segundos. Please try again in a few seconds.</p></body></html>\n"
        )
    return (
        b"HTTP/1.1 503 Service Unavailable\r\n"
        + f"Server: {wsgi.SERVER}\r\nRetry-After: {_BUSY_RETRY_AFTER}\r\n".encode()
        + b"Content-Type: " + content_type + b"\r\n"
        + f"Content-Length: {len(body)}\r\n".encode()
        + b"Cache-Control: no-store\r\nConnection: close\r\n\r\n"
        + body
    )  # fmt: skip


def _answer() -> bytes:
    """Return the liveness answer, naming the server as every other answer does (the config sets it)."""
    return (
        b"HTTP/1.1 200 OK\r\n"
        + f"Server: {wsgi.SERVER}\r\n".encode()
        + b"Content-Type: text/plain\r\nContent-Length: 2\r\nCache-Control: no-store\r\nConnection: close\r\n\r\nok"
    )


def is_healthz(head: bytes) -> bool:
    """Return True when ``head`` (the first bytes a client sent) is a GET of /healthz."""
    return _HEALTHZ.match(head) is not None


class HealthzThreadWorker(ThreadWorker):
    """gthread, except that /healthz is answered without a thread of the pool."""

    def init_process(self):
        self._busy: dict[str, int] = {}  # lane -> requests handed to the pool, not finished yet
        self._busy_lock = threading.Lock()
        queued = os.environ.get("PHOENIX_MAX_QUEUED", "").strip()
        max_queued = int(queued) if queued else self.cfg.threads
        room = self.cfg.threads + max_queued - 1  # one place left to the other lanes
        self._room = {} if max_queued < 0 else {"public": room, "api": room, "admin": max(1, room // 2)}
        super().init_process()

    def _full(self, head: bytes) -> bool:
        """Return True when the lane of this request has no room left in this worker."""
        room = self._room.get(lane(head))
        with self._busy_lock:
            return room is not None and self._busy.get(lane(head), 0) >= room

    def _submit(self, conn, head: bytes = b""):
        conn.phoenix_lane = lane(head) if head else "other"
        with self._busy_lock:
            self._busy[conn.phoenix_lane] = self._busy.get(conn.phoenix_lane, 0) + 1
        return super().enqueue_req(conn)

    def load_wsgi(self):
        super().load_wsgi()
        app = self.wsgi

        def application(environ, start_response):
            queued = getattr(_local, "queued", None)
            if queued is not None:
                environ[QUEUED_SECONDS] = queued
            return app(environ, start_response)

        self.wsgi = application

    def handle(self, conn):
        queued_at = getattr(conn, "phoenix_queued_at", None)
        _local.queued = None if queued_at is None else time.monotonic() - queued_at
        try:
            return super().handle(conn)
        finally:
            with self._busy_lock:
                self._busy[conn.phoenix_lane] -= 1

    def enqueue_req(self, conn):
        conn.phoenix_queued_at = time.monotonic()  # restamped when a kept-alive connection is queued again
        if self.cfg.is_ssl:
            return self._submit(conn)  # the bytes are encrypted: nothing to look at
        if conn.initialized:
            # A kept-alive connection (the ALB's): its parser may hold bytes read ahead, so only
            # a shed answer is given here, and only when the request's bytes are in the socket.
            head = self._peek(conn)
            if head and b"\r\n\r\n" in head and not is_healthz(head) and self._full(head):
                return self._answer(conn, _busy_answer(head))
            return self._submit(conn, head)
        try:
            head = conn.sock.recv(_PEEK_BYTES, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            if conn.data_ready:
                return self._submit(conn)
            # A new connection whose request has not arrived yet: wait for it in the main loop
            # (as gthread does for a slow client) and look again when it is readable.
            conn.data_ready = True
            conn.timeout = time.monotonic() + self.cfg.keepalive
            self.pending_conns.append(conn)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_first_bytes, conn))
            return None
        except OSError:
            return self._submit(conn)
        if head and is_healthz(head) and b"\r\n\r\n" in head:
            return self._answer(conn, _answer())
        if head and self._full(head):
            return self._answer(conn, _busy_answer(head))
        return self._submit(conn, head)

    @staticmethod
    def _peek(conn) -> bytes:
        try:
            return conn.sock.recv(_PEEK_BYTES, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except OSError:
            return b""

    def _on_first_bytes(self, conn, client):
        self.poller.unregister(client)
        self.pending_conns.remove(conn)
        self.enqueue_req(conn)

    def _answer(self, conn, answer: bytes) -> None:
        """Answer from the main loop and close: /healthz, or a shed request's 503."""
        sock = conn.sock
        try:
            sock.recv(65536, socket.MSG_DONTWAIT)  # consume the request: closing unread data resets
            sock.setblocking(True)
            sock.settimeout(1.0)
            sock.sendall(answer)
            sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, None):
                self.log.debug("could not answer from the main loop: %s", exc)
        finally:
            self.nr_conns -= 1
            conn.close()
