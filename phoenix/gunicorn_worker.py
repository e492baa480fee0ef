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
"""

import errno
import re
import selectors
import socket
import time
from functools import partial

from gunicorn.http import wsgi
from gunicorn.workers.gthread import ThreadWorker

# The request line of a liveness check: GET, the path, an optional query, the protocol.
_HEALTHZ = re.compile(rb"^GET /healthz/?(\?[^ ]*)? HTTP/1\.[01]\r\n")
# A request line is at most this long for /healthz; peeking this much tells it apart.
_PEEK_BYTES = 512


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

    def enqueue_req(self, conn):
        if self.cfg.is_ssl or conn.initialized:
            # TLS (the bytes are encrypted) or a kept-alive connection (its parser may hold bytes
            # read ahead): the normal path. Load balancers check health on new connections.
            return super().enqueue_req(conn)
        try:
            head = conn.sock.recv(_PEEK_BYTES, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            if conn.data_ready:
                return super().enqueue_req(conn)
            # A new connection whose request has not arrived yet: wait for it in the main loop
            # (as gthread does for a slow client) and look again when it is readable.
            conn.data_ready = True
            conn.timeout = time.monotonic() + self.cfg.keepalive
            self.pending_conns.append(conn)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_first_bytes, conn))
            return None
        except OSError:
            return super().enqueue_req(conn)
        if head and is_healthz(head) and b"\r\n\r\n" in head:
            self._answer_healthz(conn)
            return None
        return super().enqueue_req(conn)

    def _on_first_bytes(self, conn, client):
        self.poller.unregister(client)
        self.pending_conns.remove(conn)
        self.enqueue_req(conn)

    def _answer_healthz(self, conn) -> None:
        sock = conn.sock
        try:
            sock.recv(_PEEK_BYTES, socket.MSG_DONTWAIT)  # consume the request: closing unread data resets
            sock.setblocking(True)
            sock.settimeout(1.0)
            sock.sendall(_answer())
            sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, None):
                self.log.debug("could not answer /healthz: %s", exc)
        finally:
            self.nr_conns -= 1
            conn.close()
