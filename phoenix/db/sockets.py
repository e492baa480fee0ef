"""TCP options on database sockets: a dead peer fails the socket in seconds."""

import logging
import os
import socket

import MySQLdb
from django.conf import settings

logger = logging.getLogger(__name__)


def tune_socket(connection):
    """Make a dead peer fail this connection's TCP socket in seconds; return the connection.

    ``TCP_USER_TIMEOUT``: data the server has not acknowledged within
    PHOENIX_DB_TCP_USER_TIMEOUT seconds (a partition drops the query) fails the socket; TCP
    keepalive probes a connection that waits for an answer, so a silent peer is noticed too.
    A live server acknowledges both at once, so a long query on it is untouched (the read
    timeout, not this, bounds slow statements). Linux only; Unix sockets are left alone.
    """
    seconds = int(getattr(settings, "PHOENIX_DB_TCP_USER_TIMEOUT", 5))
    if seconds <= 0 or not hasattr(socket, "TCP_USER_TIMEOUT"):
        return connection
    try:
        sock = socket.socket(fileno=os.dup(connection.fileno()))
    except (OSError, AttributeError, MySQLdb.Error):
        return connection
    try:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, seconds * 1000)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, max(1, seconds // 2))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, max(1, seconds - seconds // 2))
    except OSError as exc:
        logger.debug("could not tune the database socket: %s", exc)
    finally:
        sock.close()  # the duplicate only; the connection keeps its own descriptor
    return connection
