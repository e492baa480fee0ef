"""Compare two MySQL databases table by table, read-only, in bounded memory.

Used by ``manage.py verify_migration`` to prove that a DMS copy (the target) holds the same rows
as the database it was copied from (the source). No Django import: it talks to both servers
over its own mysqlclient connections, so it can be run from any machine that reaches them.

How a table is compared:

1. Row counts on both sides.
2. The primary key is walked on the source with keyset pagination (``WHERE pk > last ORDER BY pk
   LIMIT 1 OFFSET n-1``) to find chunk boundaries; the chunks cover the whole key space, so rows
   that exist only in the target (below the first or above the last source key) are caught too.
3. Each chunk is checksummed on both sides with one aggregate query: ``COUNT(*)`` and the
   ``BIT_XOR`` of two 64-bit halves of ``MD5`` over an unambiguous encoding of the row (every
   column length-prefixed, NULL encoded apart from the empty string, text converted to utf8mb4 so
   that the bytes, not the collation, are compared).
4. A chunk whose checksums differ is bisected until a few rows remain, whose per-row hashes
   then name the keys: changed, missing in target, extra in target.

Tables without a single-column primary key are compared by count and one whole-table checksum;
a difference is reported, but the rows cannot be named.

Both sessions run ``SET SESSION TRANSACTION READ ONLY`` and ``START TRANSACTION WITH CONSISTENT
SNAPSHOT`` (a new snapshot per table, so that a long run does not hold back purge on the
source for its whole length). Nothing is written and no table is created on either side.
"""

from __future__ import annotations

import datetime
import decimal
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

import MySQLdb

DEFAULT_CHUNK_SIZE = 2000
# A mismatching range is bisected until it holds at most this many rows on either side.
LEAF_ROWS = 64
# At most this many differing keys are listed per table (and per kind); the rest are counted.
DEFAULT_MAX_KEYS = 100
TEXT_TYPES = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"}


class VerifyError(Exception):
    """A problem that stops the comparison (bad URL, unreachable server, SQL error)."""


@dataclass(frozen=True)
class Endpoint:
    """Where one side lives; ``label`` never contains the password."""

    role: str
    host: str
    port: int
    user: str
    password: str
    database: str

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}/{self.database}"


def endpoint_from_url(role: str, url: str) -> Endpoint:
    """Return the endpoint for ``mysql://user:password@host:3306/name``, or raise VerifyError."""
    expected = "expected mysql://user:password@host:3306/name"
    parsed = urlparse(url or "")
    if parsed.scheme != "mysql" or not parsed.hostname:
        raise VerifyError(f"--{role} is not a MySQL URL: {expected}")
    try:
        port = parsed.port or 3306
    except ValueError:
        raise VerifyError(f"--{role} has a port that is not a number: {expected}") from None
    database = unquote(parsed.path.lstrip("/"))
    if not database or "/" in database:
        raise VerifyError(f"--{role} has no database name: {expected}")
    return Endpoint(
        role=role,
        host=parsed.hostname,
        port=port,
        user=unquote(parsed.username or ""),
        password=unquote(parsed.password or ""),
        database=database,
    )


@dataclass
class TableResult:
    table: str
    source_rows: int | None = None
    target_rows: int | None = None
    primary_key: str | None = None
    chunks: int = 0
    mismatched_chunks: int = 0
    changed: list = field(default_factory=list)
    missing_in_target: list = field(default_factory=list)
    extra_in_target: list = field(default_factory=list)
    # Keys found but not listed because a list reached max_keys.
    unlisted_keys: int = 0
    columns_only_in_source: list[str] = field(default_factory=list)
    columns_only_in_target: list[str] = field(default_factory=list)
    # Why the table differs when rows cannot be named (missing table, no primary key).
    problem: str = ""

    @property
    def match(self) -> bool:
        return (
            not self.problem
            and self.mismatched_chunks == 0
            and self.source_rows == self.target_rows
            and not self.changed
            and not self.missing_in_target
            and not self.extra_in_target
            and not self.unlisted_keys
            and not self.columns_only_in_source
            and not self.columns_only_in_target
        )

    def differing_keys(self) -> list[tuple[str, list]]:
        return [
            ("changed", self.changed),
            ("missing in target", self.missing_in_target),
            ("extra in target", self.extra_in_target),
        ]

    def as_dict(self) -> dict:
        return {
            "table": self.table,
            "match": self.match,
            "source_rows": self.source_rows,
            "target_rows": self.target_rows,
            "primary_key": self.primary_key,
            "chunks": self.chunks,
            "mismatched_chunks": self.mismatched_chunks,
            "changed": [_json_key(k) for k in self.changed],
            "missing_in_target": [_json_key(k) for k in self.missing_in_target],
            "extra_in_target": [_json_key(k) for k in self.extra_in_target],
            "unlisted_keys": self.unlisted_keys,
            "columns_only_in_source": self.columns_only_in_source,
            "columns_only_in_target": self.columns_only_in_target,
            "problem": self.problem,
        }


@dataclass
class Report:
    source: str
    target: str
    tables: list[TableResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def match(self) -> bool:
        return all(table.match for table in self.tables)

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "target": self.target,
            "match": self.match,
            "seconds": round(self.seconds, 3),
            "tables": [table.as_dict() for table in self.tables],
        }

    def as_text(self) -> str:
        lines = [f"Source {self.source}  ->  target {self.target}"]
        width = max([len(t.table) for t in self.tables] + [5])
        for t in self.tables:
            rows = _rows_text(t.source_rows, t.target_rows)
            if t.match:
                lines.append(f"  {t.table:<{width}}  {rows:<24}  match")
                continue
            what = []
            if t.problem:
                what.append(t.problem)
            what += [f"{len(keys)} {label}" for label, keys in t.differing_keys() if keys]
            if t.unlisted_keys:
                what.append(f"at least {t.unlisted_keys} more rows not listed (--max-keys)")
            if t.mismatched_chunks and not (t.changed or t.missing_in_target or t.extra_in_target):
                what.append(f"{t.mismatched_chunks} chunks differ")
            lines.append(f"  {t.table:<{width}}  {rows:<24}  DIFFERENT: {', '.join(what) or 'row counts differ'}")
            if t.columns_only_in_source:
                lines.append(f"      columns only in source: {', '.join(t.columns_only_in_source)}")
            if t.columns_only_in_target:
                lines.append(f"      columns only in target: {', '.join(t.columns_only_in_target)}")
            for label, keys in t.differing_keys():
                if keys:
                    lines.append(f"      {label} ({t.primary_key}): {', '.join(str(_json_key(k)) for k in keys)}")
        differing = [t for t in self.tables if not t.match]
        verdict = "everything matches" if not differing else f"{len(differing)} differ"
        lines.append(f"{len(self.tables)} tables compared in {self.seconds:.1f}s: {verdict}.")
        return "\n".join(lines)


def _rows_text(source: int | None, target: int | None) -> str:
    if source is None and target is None:
        return "-"
    if source == target:
        return f"{source:,} row" if source == 1 else f"{source:,} rows"
    return f"{'-' if source is None else f'{source:,}'} / {'-' if target is None else f'{target:,}'} rows"


def _json_key(key):
    if isinstance(key, int | str):
        return key
    if isinstance(key, bytes):
        return key.hex()
    if isinstance(key, datetime.date | datetime.datetime | datetime.time | datetime.timedelta | decimal.Decimal):
        return str(key)
    return repr(key)


class Side:
    """One read-only connection to one database."""

    def __init__(self, endpoint: Endpoint, connect_timeout: int = 5):
        self.endpoint = endpoint
        options = {
            "host": endpoint.host,
            "port": endpoint.port,
            "user": endpoint.user,
            "password": endpoint.password,
            "database": endpoint.database,
            "charset": "utf8mb4",
            "connect_timeout": connect_timeout,
            "read_timeout": 3600,
            "autocommit": False,
        }
        ca = os.environ.get("PHOENIX_DB_SSL_CA")
        if ca:
            # TLS to Aurora, verified against the RDS CA bundle (as phoenix/dburl.py does).
            options["ssl"] = {"ca": ca}
            options["ssl_mode"] = "VERIFY_IDENTITY"
        try:
            self.connection = MySQLdb.connect(**options)
        except MySQLdb.Error as exc:
            raise VerifyError(f"cannot connect to {endpoint.role} {endpoint.label}: {_error_text(exc)}") from None
        # The server refuses any write in a read-only transaction: a second guard besides the
        # code never issuing one. TIMESTAMP columns are rendered in UTC on both sides.
        self.execute("SET SESSION time_zone = '+00:00'")
        self.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        self.execute("SET SESSION TRANSACTION READ ONLY")

    def execute(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        try:
            cursor = self.connection.cursor()
            cursor.execute(sql, params or None)
            rows = cursor.fetchall()
            cursor.close()
        except MySQLdb.Error as exc:
            raise VerifyError(f"{self.endpoint.role} {self.endpoint.label}: {_error_text(exc)}") from None
        return list(rows)

    def snapshot(self) -> None:
        """End the current snapshot and start a new one."""
        self.execute("ROLLBACK")
        self.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")

    def close(self) -> None:
        try:
            self.connection.rollback()
            self.connection.close()
        except MySQLdb.Error:
            pass

    def columns(self, table: str) -> list[tuple[str, str]]:
        """Return [(column, data_type)] in table order; empty when the table does not exist."""
        rows = self.execute(
            "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (self.endpoint.database, table),
        )
        return [(_text(name), _text(kind).lower()) for name, kind in rows]

    def primary_key(self, table: str) -> list[str]:
        rows = self.execute(
            "SELECT COLUMN_NAME FROM information_schema.STATISTICS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
            (self.endpoint.database, table),
        )
        return [_text(name) for (name,) in rows]


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _error_text(exc: MySQLdb.Error) -> str:
    args = getattr(exc, "args", ())
    if len(args) >= 2:
        return f"{args[1]} (MySQL error {args[0]})"
    return str(exc) or exc.__class__.__name__


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def row_expression(columns: list[tuple[str, str]]) -> str:
    """Return SQL for an unambiguous text of a row: every column length-prefixed, NULL apart.

    ``'7:abc'`` for a value, ``'N'`` for NULL, joined with '#': the empty string is ``'0:'``, so
    NULL and '' differ, and a '#' inside a value cannot shift it into the next column. Text is
    converted to utf8mb4 so that both sides hash the same bytes whatever their column charset.
    """
    parts = []
    for name, kind in columns:
        value = quote(name)
        if kind in TEXT_TYPES:
            value = f"CONVERT({value} USING utf8mb4)"
        parts.append(f"COALESCE(CONCAT(LENGTH({value}), ':', {value}), 'N')")
    return "CONCAT_WS('#', " + ", ".join(parts) + ")"


def checksum_sql(table: str, columns: list[tuple[str, str]], where: str) -> str:
    digest = f"MD5({row_expression(columns)})"
    halves = ", ".join(
        f"COALESCE(BIT_XOR(CAST(CONV(SUBSTRING({digest}, {start}, 16), 16, 10) AS UNSIGNED)), 0)" for start in (1, 17)
    )
    return f"SELECT COUNT(*), {halves} FROM {quote(table)}{where}"


def _range_where(pk: str, low, high) -> tuple[str, list]:
    """Return (WHERE clause, params) for low < pk <= high; None means unbounded."""
    clauses, params = [], []
    if low is not None:
        clauses.append(f"{quote(pk)} > %s")
        params.append(low)
    if high is not None:
        clauses.append(f"{quote(pk)} <= %s")
        params.append(high)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


class Progress:
    """Progress on stderr: a rewritten line on a terminal, a line per 10 % otherwise."""

    def __init__(self, stream=None, enabled: bool = True):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_step = -1

    def start(self, table: str) -> None:
        self._last_step = -1

    def update(self, table: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        percent = 100 if total <= 0 else min(100, done * 100 // total)
        if self.tty:
            filled = percent // 4
            bar = "#" * filled + "." * (25 - filled)
            self.stream.write(f"\r  {table:<32} [{bar}] {percent:3d}%  {done:,}/{total:,} rows")
        elif percent // 10 != self._last_step:
            self._last_step = percent // 10
            self.stream.write(f"  {table}: {done:,}/{total:,} rows ({percent}%)\n")
        self.stream.flush()

    def finish(self, table: str, result: TableResult) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\n")
        self.stream.write(f"  {table}: {'match' if result.match else 'DIFFERENT'}\n")
        self.stream.flush()


@dataclass
class Options:
    chunk_size: int = DEFAULT_CHUNK_SIZE
    max_rows_per_second: int = 0
    max_keys: int = DEFAULT_MAX_KEYS


class Throttle:
    """Sleep between chunks so that no more than ``rate`` rows per second are read."""

    def __init__(self, rate: int, clock: Callable[[], float] = time.monotonic, sleep=time.sleep):
        self.rate, self.clock, self.sleep = rate, clock, sleep
        self.started = clock()
        self.rows = 0

    def add(self, rows: int) -> None:
        if self.rate <= 0:
            return
        self.rows += rows
        ahead = self.rows / self.rate - (self.clock() - self.started)
        if ahead > 0:
            self.sleep(ahead)


def compare(
    source_url: str,
    target_url: str,
    tables: list[str],
    options: Options | None = None,
    progress: Progress | None = None,
) -> Report:
    """Return the comparison report of ``tables`` between the two databases.

    Raises VerifyError when a URL is bad, a server cannot be reached or a query fails.
    """
    options = options or Options()
    progress = progress or Progress(enabled=False)
    source_endpoint = endpoint_from_url("source", source_url)
    target_endpoint = endpoint_from_url("target", target_url)
    started = time.monotonic()
    source = Side(source_endpoint)
    try:
        target = Side(target_endpoint)
    except VerifyError:
        source.close()
        raise
    report = Report(source=source_endpoint.label, target=target_endpoint.label)
    throttle = Throttle(options.max_rows_per_second)
    try:
        for table in tables:
            progress.start(table)
            source.snapshot()
            target.snapshot()
            result = _compare_table(source, target, table, options, progress, throttle)
            report.tables.append(result)
            progress.finish(table, result)
    finally:
        source.close()
        target.close()
    report.seconds = time.monotonic() - started
    return report


def _compare_table(
    source: Side, target: Side, table: str, options: Options, progress: Progress, throttle: Throttle
) -> TableResult:
    result = TableResult(table=table)
    source_columns = source.columns(table)
    target_columns = target.columns(table)
    if not source_columns or not target_columns:
        result.problem = (
            "missing in both databases"
            if not source_columns and not target_columns
            else ("table missing in target" if source_columns else "table missing in source")
        )
        return result
    target_names = {name for name, _ in target_columns}
    source_names = {name for name, _ in source_columns}
    result.columns_only_in_source = [name for name, _ in source_columns if name not in target_names]
    result.columns_only_in_target = [name for name, _ in target_columns if name not in source_names]
    # Rows are compared on the columns both sides have, in the source's order.
    columns = [(name, kind) for name, kind in source_columns if name in target_names]

    result.source_rows = source.execute(f"SELECT COUNT(*) FROM {quote(table)}")[0][0]
    result.target_rows = target.execute(f"SELECT COUNT(*) FROM {quote(table)}")[0][0]

    key = source.primary_key(table)
    if len(key) != 1 or key != target.primary_key(table):
        # No single-column key to walk: one checksum over the whole table.
        result.chunks = 1
        sql = checksum_sql(table, columns, "")
        if source.execute(sql) != target.execute(sql):
            result.mismatched_chunks = 1
            result.problem = (
                "rows differ (no single-column primary key: rows cannot be named)"
                if key
                else "rows differ (no primary key: rows cannot be named)"
            )
        throttle.add(max(result.source_rows, result.target_rows))
        return result

    pk = key[0]
    result.primary_key = pk
    total = max(result.source_rows, result.target_rows)
    done = 0
    progress.update(table, 0, total)
    for low, high in _chunks(source, table, pk, options.chunk_size):
        result.chunks += 1
        where, params = _range_where(pk, low, high)
        sql = checksum_sql(table, columns, where)
        source_sum = source.execute(sql, params)[0]
        target_sum = target.execute(sql, params)[0]
        if source_sum != target_sum:
            result.mismatched_chunks += 1
            _narrow(source, target, table, columns, pk, low, high, source_sum[0], target_sum[0], result, options)
        rows = max(source_sum[0], target_sum[0])
        done += rows
        progress.update(table, min(done, total), total)
        throttle.add(rows)
    return result


def _chunks(source: Side, table: str, pk: str, size: int) -> Iterator[tuple]:
    """Yield (low, high] ranges that cover every key, each holding ``size`` source rows."""
    low = None
    while True:
        where, params = _range_where(pk, low, None)
        rows = source.execute(
            f"SELECT {quote(pk)} FROM {quote(table)}{where} ORDER BY {quote(pk)} LIMIT 1 OFFSET %s",
            [*params, size - 1],
        )
        if not rows:
            yield low, None
            return
        high = rows[0][0]
        yield low, high
        low = high


def _narrow(
    source: Side,
    target: Side,
    table: str,
    columns: list[tuple[str, str]],
    pk: str,
    low,
    high,
    source_count: int,
    target_count: int,
    result: TableResult,
    options: Options,
) -> None:
    """Bisect the range (low, high] whose checksums differ until the differing keys are named."""
    if _listed(result) >= options.max_keys:
        result.unlisted_keys += max(abs(source_count - target_count), 1)
        return
    if max(source_count, target_count) <= LEAF_ROWS:
        _name_rows(source, target, table, columns, pk, low, high, result, options)
        return
    # Split at the middle key of the side with more rows in the range.
    side, count = (source, source_count) if source_count >= target_count else (target, target_count)
    where, params = _range_where(pk, low, high)
    middle = side.execute(
        f"SELECT {quote(pk)} FROM {quote(table)}{where} ORDER BY {quote(pk)} LIMIT 1 OFFSET %s",
        [*params, count // 2 - 1],
    )[0][0]
    for part_low, part_high in ((low, middle), (middle, high)):
        where, params = _range_where(pk, part_low, part_high)
        sql = checksum_sql(table, columns, where)
        source_sum = source.execute(sql, params)[0]
        target_sum = target.execute(sql, params)[0]
        if source_sum != target_sum:
            _narrow(
                source, target, table, columns, pk, part_low, part_high, source_sum[0], target_sum[0], result, options
            )


def _name_rows(source, target, table, columns, pk, low, high, result: TableResult, options: Options) -> None:
    where, params = _range_where(pk, low, high)
    sql = f"SELECT {quote(pk)}, MD5({row_expression(columns)}) FROM {quote(table)}{where}"
    source_rows = dict(source.execute(sql, params))
    target_rows = dict(target.execute(sql, params))
    for key in sorted(source_rows.keys() | target_rows.keys()):
        if key not in target_rows:
            bucket = result.missing_in_target
        elif key not in source_rows:
            bucket = result.extra_in_target
        elif source_rows[key] != target_rows[key]:
            bucket = result.changed
        else:
            continue
        if _listed(result) < options.max_keys:
            bucket.append(key)
        else:
            result.unlisted_keys += 1


def _listed(result: TableResult) -> int:
    return len(result.changed) + len(result.missing_in_target) + len(result.extra_in_target)
