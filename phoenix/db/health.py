"""Probe a database alias on a fresh, short-timeout connection: role, latency, replica lag.

Used by /readyz and ``manage.py dbcheck``. A fresh connection (not the request's pooled one)
so that a hung server costs at most the timeout and never poisons the pool.
"""

import math
import time
from dataclasses import asdict, dataclass

import MySQLdb
from django.db import connections


@dataclass
class Probe:
    alias: str
    host: str
    reachable: bool = False
    writable: bool | None = None
    latency_ms: float | None = None
    lag_seconds: float | None = None
    lag: str = "unknown"
    error: str = ""

    @property
    def role(self) -> str:
        if not self.reachable:
            return "unreachable"
        return "writable" if self.writable else "read-only"

    def as_dict(self) -> dict:
        return {**asdict(self), "role": self.role}


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
            result.lag_seconds, result.lag = replica_lag(cursor)
    except MySQLdb.Error as exc:
        result.error = _message(exc)
    finally:
        connection.close()
    return result


def replica_lag(cursor) -> tuple[float | None, str]:
    """Return (seconds, text) of this server's replication lag, whichever way the server tells it.

    MySQL 8 ``SHOW REPLICA STATUS``, MariaDB/older MySQL ``SHOW SLAVE STATUS``, Aurora
    ``information_schema.replica_host_status`` (Aurora replicas share storage and have no
    binlog replica status).
    """
    for statement in ("SHOW REPLICA STATUS", "SHOW SLAVE STATUS"):
        try:
            cursor.execute(statement)
        except MySQLdb.Error:
            continue
        row = cursor.fetchone()
        if row is None:
            break  # not a binlog replica: maybe Aurora, maybe a writer
        status = dict(zip([column[0] for column in cursor.description], row, strict=True))
        seconds = status.get("Seconds_Behind_Source", status.get("Seconds_Behind_Master"))
        if seconds is None:
            return None, "unknown (replication stopped)"
        return float(seconds), f"{seconds} s"
    try:
        cursor.execute(
            "SELECT REPLICA_LAG_IN_MILLISECONDS FROM information_schema.replica_host_status "
            "WHERE SERVER_ID = @@aurora_server_id"
        )
        row = cursor.fetchone()
    except MySQLdb.Error:
        return None, "none (not a replica)"
    if row is None or row[0] is None:
        return None, "unknown"
    return float(row[0]) / 1000, f"{float(row[0]) / 1000:.3f} s"


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
