"""The lab's MariaDB servers: deploy/local/cluster.sh's writer + replica, and root SQL on any node.

Root connects over a node's unix socket without a password (the throw-away servers are
installed so). bench.py, bench_api_ingest.py and bench_verify_migration.py start a ``Cluster``;
drills.py (the stack's nodes) and tests/live.py (the test suite's cluster) use the functions.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import MySQLdb

from deploy.local.lab import LOCAL
from deploy.local.lab.processes import cpu_seconds, free_port


def read_env(path: Path) -> dict[str, str]:
    """Return the ``NAME=value`` lines of an env file; comments and other lines are skipped."""
    values = {}
    for line in Path(path).read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            values[name.strip()] = value.strip()
    return values


def root(socket_path: str, **options) -> MySQLdb.Connection:
    """Return a root connection over a server's socket; ``options`` go to MySQLdb.connect."""
    return MySQLdb.connect(unix_socket=socket_path, user="root", **options)


def sql(socket_path: str, statement: str, args=None, **options) -> list[tuple]:
    """Run one statement as root on a server and return its rows (none for a statement without)."""
    connection = root(socket_path, **options)
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement, args)
            return list(cursor.fetchall() or [])
    finally:
        connection.close()


def com_select(socket_path: str) -> int:
    """Return a server's own count of SELECT statements so far (Com_select)."""
    return int(sql(socket_path, "SHOW GLOBAL STATUS LIKE 'Com_select'")[0][1])


def binlog_position(writer_socket: str, **options) -> str:
    """Return the GTID position of everything the writer has written so far."""
    return sql(writer_socket, "SELECT @@gtid_binlog_pos", **options)[0][0]


def replica_reached(replica_socket: str, position: str, timeout: float, **options) -> bool:
    """Wait up to ``timeout`` s for the replica to apply ``position``; return whether it did."""
    (waited,) = sql(replica_socket, "SELECT MASTER_GTID_WAIT(%s, %s)", [position, timeout], **options)[0]
    return waited == 0


def replica_caught_up(writer_socket: str, replica_socket: str, timeout: float, **options) -> bool:
    """Wait up to ``timeout`` s for the replica to apply all the writer wrote; return whether it did."""
    return replica_reached(replica_socket, binlog_position(writer_socket, **options), timeout, **options)


def settle(sockets: list[str], timeout: int, log: Callable[[str], None]) -> None:
    """Wait until the servers have written their dirty pages and purged their undo logs.

    Right after a million shipments were inserted, InnoDB flushes and purges in the background
    for minutes: the first runs of a full-scale bench measured that (the same scenario moved by
    2x between rounds). A production database serves reads without such a backlog.
    """
    started = time.monotonic()
    connections = [root(socket_path, autocommit=True) for socket_path in sockets]
    try:
        for connection in connections:
            connection.cursor().execute("SET GLOBAL innodb_max_dirty_pages_pct = 0")
        while time.monotonic() - started < timeout:
            busy = []
            for connection in connections:
                cursor = connection.cursor()
                cursor.execute(
                    "SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_buffer_pool_pages_dirty',"
                    " 'Innodb_buffer_pool_pages_total', 'Innodb_history_list_length')"
                )
                status = {name: int(value) for name, value in cursor.fetchall()}
                dirty = status["Innodb_buffer_pool_pages_dirty"] / max(1, status["Innodb_buffer_pool_pages_total"])
                busy.append(dirty > 0.01 or status.get("Innodb_history_list_length", 0) > 1000)
            if not any(busy):
                break
            time.sleep(2)
        else:
            log(f"the servers were still flushing after {timeout} s; measuring anyway")
    finally:
        for connection in connections:
            connection.cursor().execute("SET GLOBAL innodb_max_dirty_pages_pct = DEFAULT")
            connection.close()
    if time.monotonic() - started > 5:
        log(f"the servers settled (dirty pages written, undo purged) in {time.monotonic() - started:.0f} s")


class Cluster:
    """A throw-away writer + replica that deploy/local/cluster.sh runs in a temporary directory.

    ``variables`` are added to cluster.sh's environment (e.g. PHOENIX_BUFFER_POOL). ``env`` holds
    what cluster.sh wrote: DATABASE_URL, DATABASE_READER_URL, the ports and the sockets.
    """

    def __init__(self, prefix: str, **variables: str) -> None:
        self.dir = tempfile.mkdtemp(prefix=prefix)
        subprocess.run(
            [str(LOCAL / "cluster.sh"), "start", self.dir],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, **variables} if variables else None,
        )
        self.env = read_env(Path(self.dir, "env"))
        self.writer_socket = self.env["PHOENIX_WRITER_SOCKET"]
        self.replica_socket = self.env["PHOENIX_REPLICA_SOCKET"]

    def stop(self) -> None:
        """Stop both servers and remove their directory."""
        subprocess.run([str(LOCAL / "cluster.sh"), "stop", self.dir], check=False)

    def query(self, statement: str) -> list[tuple]:
        """Run one statement as root on the writer, in the ``phoenix`` database; return its rows."""
        return sql(self.writer_socket, statement, database="phoenix")

    def reads(self) -> int:
        """Return the replica's SELECT count so far (Com_select)."""
        return com_select(self.replica_socket)

    def cpu_seconds(self) -> float:
        """Return the CPU time the writer and the replica have used so far."""
        return cpu_seconds([Path(self.dir, node, "mysqld.pid").read_text().strip() for node in ("writer", "replica")])

    def wait_for_replica(self, log: Callable[[str], None], timeout: int = 1800) -> None:
        """Wait until the replica has applied everything the writer wrote (seeding is bulk)."""
        position = binlog_position(self.writer_socket)
        started = time.monotonic()
        while not replica_reached(self.replica_socket, position, 30):
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"the replica did not catch up with {position} within {timeout} s")
            log("waiting for the replica to catch up")
        if time.monotonic() - started > 5:
            log(f"the replica caught up in {time.monotonic() - started:.0f} s")

    def settle(self, log: Callable[[str], None], timeout: int = 300) -> None:
        """Wait until both servers have caught up with the seed's background work (see ``settle``)."""
        settle([self.writer_socket, self.replica_socket], timeout, log)


@contextmanager
def moto_server(log: Path | None = None) -> Iterator[str]:
    """Run moto's AWS API server on a free loopback port (its output in ``log``); yield its URL.

    A real HTTP endpoint for S3, SES, SSM, CloudFormation... not mocked calls. The caller's AWS_
    variables do not reach it. It is stopped on the way out.
    """
    port = free_port()
    out = log.open("wb") if log else subprocess.DEVNULL
    try:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={name: value for name, value in os.environ.items() if not name.startswith("AWS_")},
        )
    finally:
        if log:
            out.close()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"moto_server did not start{f' (see {log})' if log else ''}") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
