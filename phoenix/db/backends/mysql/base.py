"""Django's MySQL backend with the failure handling an Aurora writer + reader pair needs.

ENGINE ``phoenix.db.backends.mysql`` (phoenix/dburl.py uses it for every mysql:// URL).

- Writer (`default`): every new connection checks the server's role (``@@innodb_read_only``
  for Aurora, ``@@read_only`` for MySQL/MariaDB); a read-only server, a read-only error
  (1290/1836) or a lost connection (2006/2013/2003...) discards the connection so that the next
  use reconnects (and re-resolves the cluster endpoint), and raises ``WriterUnavailable``.
  After a failure the writer is marked down for PHOENIX_DB_WRITER_DOWN_SECONDS: writes fail fast
  with ``WriterUnavailable`` instead of each waiting for a connect timeout, and plain reads
  outside a transaction and outside ``use_writer()`` are served by the reader (possibly stale,
  logged as ``writer_down``).
- Reader (`reader`): a lost or refused connection is discarded, the reader is marked down for
  PHOENIX_DB_READER_DOWN_SECONDS (process-wide), and the failed read is retried once on the
  writer when no transaction is open.
- Every statement is counted per alias, and a statement that changes data on the writer pins
  the rest of the request or task to the writer (read-your-writes), raw cursors included.
- Every TCP connection gets ``TCP_USER_TIMEOUT`` and keepalive (``tune_socket``), so a partition
  fails the socket in seconds without bounding a slow query on a live server.
- Statement budget: each connection carries the budget of the lane it serves now (the public
  site, the partner API, the admin; phoenix/db/lanes.py), set with one ``SET SESSION
  max_statement_time`` (MariaDB; ``max_execution_time`` on MySQL/Aurora) only when the lane
  changes. The server kills a statement past it (1969/3024, the busy class: 503, nothing marked
  down). It is capped below the alias's read timeout, so the server's clean error comes first.
- ``PASSWORD_FILE`` in the settings dict: the password is read from that file for every new
  connection, so a rotated secret is picked up without a restart.
"""

import contextlib
import logging
import re
import time
from pathlib import Path

import MySQLdb
from django.conf import settings
from django.db import connections
from django.db.backends.mysql import base as mysql

from phoenix.db import state
from phoenix.db.errors import WriterUnavailable, is_lost, is_read_only
from phoenix.db.sockets import tune_socket
from phoenix.db.state import READER, WRITER

logger = logging.getLogger(__name__)

# Statements that change data: after one of these on the writer, reads follow to the writer.
_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|ALTER|DROP|TRUNCATE|RENAME|LOAD|CALL)\b", re.I)
# Statements safe to run again elsewhere: plain reads (a locking read only happens in a
# transaction, where nothing is retried).
_PLAIN_READ = re.compile(r"^\s*\(*\s*(SELECT|SHOW)\b", re.I)
# A connection whose last statement succeeded this recently skips the health check's ping.
FRESH_SECONDS = 1.0


def _down_seconds(alias: str) -> float:
    if alias == WRITER:
        return float(getattr(settings, "PHOENIX_DB_WRITER_DOWN_SECONDS", 1))
    return float(getattr(settings, "PHOENIX_DB_READER_DOWN_SECONDS", 5))


def _writer_in_transaction() -> bool:
    from phoenix.db.router import writer_in_transaction

    return writer_in_transaction()


def _may_read_elsewhere() -> bool:
    """Return True when a failed read may be served by the other server (no transaction open)."""
    return not _writer_in_transaction()


def _raw_cursor(alias: str):
    """Return a MySQLdb cursor on ``alias``, connecting if needed (errors as Django errors)."""
    other = connections[alias]
    other.close_if_health_check_failed()
    other.ensure_connection()
    with other.wrap_database_errors:
        other.apply_statement_budget()
    return other.connection.cursor()


def statement_budget(read_timeout: float | None) -> float:
    """Return the seconds one statement of the current lane may run on a connection; 0 = no bound.

    Capped half a second below the connection's read timeout: past that the client would give
    up first with 2013 (lost connection), which reads as a server gone and marks it down.
    """
    seconds = settings.PHOENIX_DB_STATEMENT_MS.get(state.current().lane, 0) / 1000
    if seconds > 0 and read_timeout:
        seconds = min(seconds, max(0.5, read_timeout - 0.5))
    return seconds


class CursorWrapper(mysql.CursorWrapper):
    """MySQL's cursor wrapper plus failure handling, write detection and per-alias counts.

    ``cursor`` is None when the writer could not be reached: the first statement then either
    runs on the reader (a plain read that may be stale) or raises WriterUnavailable.
    """

    def __init__(self, cursor, wrapper, failure: BaseException | None = None):
        super().__init__(cursor)
        self.wrapper = wrapper
        self.alias = wrapper.alias  # the server ``cursor`` belongs to
        self.failure = failure

    def execute(self, query, args=None):
        return self._run("execute", query, args)

    def executemany(self, query, args):
        return self._run("executemany", query, args)

    def close(self):
        if self.cursor is not None:
            # After a failure the connection may be closed already; the failure is what matters.
            with contextlib.suppress(MySQLdb.Error):
                self.cursor.close()

    def _run(self, method, query, args):
        if self.cursor is None:
            return self._writer_unreachable(method, query, args, self.failure)
        try:
            result = getattr(super(), method)(query, args)
        except MySQLdb.OperationalError as exc:
            return self._failed(method, query, args, exc)
        self._done(query)
        return result

    def _done(self, query) -> None:
        (self.wrapper if self.alias == self.wrapper.alias else connections[self.alias]).used_at = time.monotonic()
        state.note_query(self.alias)
        if self.alias == WRITER and isinstance(query, str) and _WRITE.match(query):
            state.note_write()

    def _failed(self, method, query, args, exc):
        plain_read = isinstance(query, str) and _PLAIN_READ.match(query) is not None
        if self.alias == READER and is_lost(exc):
            self.wrapper.discard(exc)
            if plain_read and _may_read_elsewhere():
                state.current().note(WRITER, state.READER_DOWN)
                return self._rerun_on(WRITER, method, query, args)
            raise exc
        if self.alias == WRITER and is_read_only(exc):
            self.wrapper.discard(exc)
            raise WriterUnavailable(*exc.args) from exc
        if self.alias == WRITER and is_lost(exc):
            if plain_read and _may_read_elsewhere():
                self.wrapper.discard(exc, mark_down=False)
                try:  # once more on a fresh connection: a pooled connection may simply have gone stale
                    return self._rerun_on(WRITER, method, query, args)
                except Exception as again:
                    if not (isinstance(again, WriterUnavailable) or is_lost(again)):
                        raise
                    self.wrapper.mark_down(again)
                    return self._writer_unreachable(method, query, args, again)
            self.wrapper.discard(exc)
            raise WriterUnavailable(*exc.args) from exc
        raise exc

    def _writer_unreachable(self, method, query, args, failure):
        """Serve a plain read from the reader while the writer is down, or raise WriterUnavailable."""
        plain_read = isinstance(query, str) and _PLAIN_READ.match(query) is not None
        if plain_read and _reader_may_stand_in():
            state.current().note(READER, state.WRITER_DOWN)
            return self._rerun_on(READER, method, query, args)
        if isinstance(failure, WriterUnavailable):
            raise failure
        raise WriterUnavailable(*getattr(failure, "args", ())) from failure

    def _rerun_on(self, alias, method, query, args):
        self.cursor = _raw_cursor(alias)
        self.alias = alias
        result = getattr(self.cursor, method)(query, args)
        if alias == READER:
            state.mark_up(READER)  # it answered: no need to keep avoiding it
        self._done(query)
        return result


def _reader_may_stand_in() -> bool:
    """Return True when a read meant for the writer may be served by the reader instead."""
    # A reader marked down is tried all the same: the alternative is an error page.
    return READER in settings.DATABASES and not state.writer_depth() and not _writer_in_transaction()


class DatabaseWrapper(mysql.DatabaseWrapper):
    # time.monotonic() of this connection's last statement that succeeded (CursorWrapper._done).
    used_at = float("-inf")

    def close_if_health_check_failed(self):
        """Skip the health check's ping (a round trip) on a connection that just answered.

        Django pings a pooled connection at a request's first query (CONN_HEALTH_CHECKS). A
        statement that succeeded within the last FRESH_SECONDS says as much as the ping; a
        connection lost since then fails its next statement, which is handled as before: a
        plain read runs again on a fresh connection (or the other server), anything else is
        a 503 that the next request reconnects after (the connection is discarded).
        """
        if self.connection is not None and time.monotonic() - self.used_at < FRESH_SECONDS:
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def get_connection_params(self):
        params = super().get_connection_params()
        password_file = self.settings_dict.get("PASSWORD_FILE")
        if password_file:
            # Read at every new connection: a rotated secret is used from the next connection on.
            params["password"] = Path(password_file).read_text().strip()
        return params

    _statement_seconds: float | None = None  # the budget set on the current connection; None: not known

    def get_new_connection(self, conn_params):
        self._statement_seconds = None
        if self.alias != WRITER:
            return tune_socket(super().get_new_connection(conn_params))
        if state.is_down(WRITER):
            # Fail fast while the writer is marked down instead of waiting for a connect timeout.
            raise WriterUnavailable(2003, "the writer is marked down")
        try:
            connection = super().get_new_connection(conn_params)
        except MySQLdb.OperationalError as exc:
            if is_lost(exc):
                self.mark_down(exc)
                raise WriterUnavailable(*exc.args) from exc
            raise
        tune_socket(connection)
        # Aurora readers set innodb_read_only; MySQL/MariaDB replicas set read_only. A writer
        # endpoint that still resolves to a demoted node must not be used for writes.
        with connection.cursor() as cursor:
            cursor.execute("SELECT @@innodb_read_only, @@read_only")
            innodb_read_only, read_only = cursor.fetchone()
        if innodb_read_only or read_only:
            connection.close()
            exc = WriterUnavailable(1290, "the writer endpoint answered from a read-only server")
            self.mark_down(exc)
            raise exc
        return connection

    def create_cursor(self, name=None):
        self.apply_statement_budget()
        return CursorWrapper(self.connection.cursor(), self)

    def apply_statement_budget(self) -> None:
        """Set the current lane's statement budget on this connection, if it has another one."""
        seconds = statement_budget(self.settings_dict.get("OPTIONS", {}).get("read_timeout"))
        if seconds == self._statement_seconds:
            return
        # The server's version string, not mysql_is_mariadb: that one runs a query through a cursor.
        if "mariadb" in self.connection.get_server_info().lower():
            statement, value = "SET SESSION max_statement_time = %s", seconds
        else:
            statement, value = "SET SESSION max_execution_time = %s", round(seconds * 1000)
        with self.connection.cursor() as cursor:
            cursor.execute(statement, [value])
        self._statement_seconds = seconds

    def _cursor(self, name=None):
        try:
            return super()._cursor(name)
        except WriterUnavailable as exc:
            return self._unreachable_writer_cursor(exc)
        except Exception as exc:
            if not is_lost(exc):
                raise
            self.discard(exc)
            if self.alias == READER and _may_read_elsewhere():
                state.current().note(WRITER, state.READER_DOWN)
                return connections[WRITER]._cursor(name)
            if self.alias == WRITER:
                return self._unreachable_writer_cursor(WriterUnavailable(*exc.args))
            raise

    def _unreachable_writer_cursor(self, exc: WriterUnavailable):
        if self.in_atomic_block or not _reader_may_stand_in():
            raise exc
        return self._prepare_cursor(CursorWrapper(None, self, failure=exc))

    def mark_down(self, exc: BaseException) -> None:
        seconds = _down_seconds(self.alias)
        if not state.is_down(self.alias):
            logger.warning("database %s marked down for %ss: %s", self.alias, seconds, exc)
        state.mark_down(self.alias, seconds)

    def discard(self, exc: BaseException, mark_down: bool = True) -> None:
        """Close this connection after ``exc`` so that the next use reconnects."""
        if mark_down:
            self.mark_down(exc)
        with contextlib.suppress(Exception):  # the connection is already broken; closing is best effort
            self.close()
