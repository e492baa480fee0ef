"""Database failure classes shared by the backend, the middleware and the health checks."""

from django.db.utils import OperationalError

# MySQL error codes. A demoted Aurora writer (now a reader) answers writes with 1290
# (--read-only / --super-read-only) or 1836 (innodb_read_only); 1792 is a write inside a
# read-only transaction.
READ_ONLY_CODES = frozenset({1290, 1836, 1792})
# Client-side codes: cannot connect (2002 socket, 2003 TCP, 2005 host), gone away (2006),
# lost during a query (2013), out of sync after a lost packet (2055); 1053 server shutdown in
# progress; 1927 connection killed (MariaDB), 4031 idle-disconnected (MySQL 8).
LOST_CODES = frozenset({2002, 2003, 2005, 2006, 2013, 2055, 1053, 1927, 4031})
# The server is there but takes no more connections: too many connections (1040), too many for
# this user (1203 max_user_connections, 1226 a user resource limit), this host blocked after
# connection errors (1129). As unavailable as a server that is gone: route around it (a read
# goes to the other server, a write answers 503 with Retry-After), never a 500.
FULL_CODES = frozenset({1040, 1203, 1226, 1129})
# Every "this server cannot serve us now" failure, as the backend and the middleware classify them.
UNAVAILABLE_CODES = LOST_CODES | FULL_CODES
# The server is there and healthy, but this statement could not finish now: a row lock waited
# longer than innodb_lock_wait_timeout (1205), a deadlock rolled the transaction back (1213),
# the statement ran past its budget (1969 MariaDB max_statement_time, 3024 MySQL
# max_execution_time). Busy, not down: 503 with Retry-After, nothing marked down, and an
# idempotent operation may run once more.
BUSY_CODES = frozenset({1205, 1213, 1969, 3024})


class WriterUnavailable(OperationalError):
    """The writer cannot take writes right now (unreachable, or answering read-only).

    A subclass of Django's OperationalError so code that already handles database errors keeps
    working; DatabaseRoutingMiddleware turns it into a 503 with Retry-After.
    """


def error_code(exc: BaseException) -> int | None:
    """Return the MySQL error number of ``exc`` or of the exception it wraps."""
    for candidate in (exc, exc.__cause__):
        args = getattr(candidate, "args", ())
        if args and isinstance(args[0], int):
            return args[0]
    return None


def is_lost(exc: BaseException) -> bool:
    """Return True when the server is gone, silent (a read timeout is 2013) or full (1040...)."""
    return error_code(exc) in UNAVAILABLE_CODES


def is_busy(exc: BaseException) -> bool:
    """Return True when the server refused this statement for now (lock wait, deadlock, budget)."""
    return error_code(exc) in BUSY_CODES


def is_read_only(exc: BaseException) -> bool:
    return error_code(exc) in READ_ONLY_CODES
