"""Probe a database alias on a fresh, short-timeout connection: role, latency, replica lag.

Used by /readyz and ``manage.py dbcheck``. A fresh connection (not the request's pooled one)
so that a hung server costs at most the timeout and never poisons the pool.
"""

import math
import time
from dataclasses import asdict, dataclass

import MySQLdb
from django.db import connections

from phoenix.db.errors import is_lost


@dataclass
class Probe:
    alias: str
    host: str
    reachable: bool = False
    writable: bool | None = None
    latency_ms: float | None = None
    lag_seconds: float | None = None
    lag: str = "unknown"
    replica: bool | None = None  # with_lag: whether the server replicates from another
    error: str = ""

    @property
    def role(self) -> str:
        if not self.reachable:
            return "unreachable"
        return "writable" if self.writable else "read-only"

    def as_dict(self) -> dict:
        return {**asdict(self), "role": self.role}

    def as_public_dict(self) -> dict:
        """Return what /readyz may show anyone: no host names, addresses or error texts."""
        return {"role": self.role, "writable": self.writable, "latency_ms": self.latency_ms}


def host_of(alias: str) -> str:
    settings_dict = connections[alias].settings_dict
    if connections[alias].vendor != "mysql":
        return str(settings_dict["NAME"])
    return f"{settings_dict.get('HOST') or 'localhost'}:{settings_dict.get('PORT') or 3306}"


def probe(alias: str, timeout: float = 2.0, with_lag: bool = False) -> Probe:
    """Return the state of ``alias``; never raises for an unreachable server."""
    result = Probe(alias=alias, host=host_of(alias))
    wrapper = connections[alias]
    if wrapper.vendor != "mysql":
        return _probe_other(wrapper, result)
    params = wrapper.get_connection_params()
    seconds = max(1, math.ceil(timeout))
    params.update(connect_timeout=seconds, read_timeout=seconds, write_timeout=seconds)
    try:
        connection = MySQLdb.connect(**params)
    except (MySQLdb.Error, OSError) as exc:
        result.error = _message(exc)
        return result
    try:
        cursor = connection.cursor()
        started = time.perf_counter()
        cursor.execute("SELECT @@innodb_read_only, @@read_only")
        innodb_read_only, read_only = cursor.fetchone()
        result.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        result.reachable = True
        result.writable = not (innodb_read_only or read_only)
        if with_lag:
            lag = replica_lag(cursor)
            result.lag_seconds, result.lag, result.replica = lag.seconds, lag.text, lag.replica
    except MySQLdb.Error as exc:
        result.error = _message(exc)
    finally:
        connection.close()
    return result


@dataclass
class Lag:
    """How far a server is behind its source, as the server itself tells it."""

    seconds: float | None  # None: unknown (replication stopped or broken), or not a replica
    text: str
    replica: bool = True  # False: the server replicates from nothing (a writer, a single server)

    def beyond(self, bound: float) -> bool:
        """Return True when reads should not rely on this server: behind by more than ``bound``
        seconds, or a replica whose lag is unknown (its replication is stopped or broken)."""
        return self.replica and (self.seconds is None or self.seconds > bound)


def replica_lag(cursor) -> Lag:
    """Return this server's replication lag, whichever way the server tells it.

    MySQL 8 ``SHOW REPLICA STATUS``, MariaDB/older MySQL ``SHOW SLAVE STATUS``, Aurora
    ``information_schema.replica_host_status`` (Aurora replicas share storage and have no
    binlog replica status). A binlog replica whose I/O or SQL thread is not running has an
    unknown lag: ``Seconds_Behind_Master`` only says how far the applier is behind what the
    I/O thread has received, so it can read 0 while the source is far ahead.
    """
    for statement in ("SHOW REPLICA STATUS", "SHOW SLAVE STATUS"):
        try:
            cursor.execute(statement)
        except MySQLdb.Error as exc:
            if is_lost(exc):
                raise  # the server did not answer: that is no "statement not supported"
            continue
        row = cursor.fetchone()
        if row is None:
            break  # not a binlog replica: maybe Aurora, maybe a writer
        status = dict(zip([column[0] for column in cursor.description], row, strict=True))
        seconds = status.get("Seconds_Behind_Source", status.get("Seconds_Behind_Master"))
        running = [status.get(f"{kind}_Running") for kind in ("Replica_IO", "Slave_IO", "Replica_SQL", "Slave_SQL")]
        if seconds is None or any(value not in (None, "Yes") for value in running):
            return Lag(None, "unknown (replication stopped)")
        return Lag(float(seconds), f"{seconds} s")
    try:
        cursor.execute(
            "SELECT REPLICA_LAG_IN_MILLISECONDS FROM information_schema.replica_host_status "
            "WHERE SERVER_ID = @@aurora_server_id"
        )
        row = cursor.fetchone()
    except MySQLdb.Error as exc:
        if is_lost(exc):
            raise
        return Lag(None, "none (not a replica)", replica=False)
    if row is None or row[0] is None:
        return Lag(None, "unknown")
    return Lag(float(row[0]) / 1000, f"{float(row[0]) / 1000:.3f} s")


def _probe_other(wrapper, result: Probe) -> Probe:
    """SQLite (``make run``): reachable and writable when a query answers."""
    try:
        started = time.perf_counter()
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT 1")
        result.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        result.reachable, result.writable, result.lag = True, True, "none (single database)"
    except Exception as exc:  # any backend error is a finding here, not a crash
        result.error = str(exc)
    return result


def _message(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    if len(args) >= 2:
        return f"({args[0]}) {args[1]}"
    return str(exc)
