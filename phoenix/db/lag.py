"""Lag-aware reader: a replica too far behind (or whose replication is stopped) is not read from.

Each process measures the reader's lag off the request path: a daemon thread, started by the
first read that asks (so after gunicorn forks), runs one cheap statement on the reader every
PHOENIX_REPLICA_LAG_CHECK_SECONDS on a connection of its own (health.replica_lag: MariaDB/MySQL
replica status, Aurora ``replica_host_status``). Requests only look at the last sample, so
the cost is one query per interval per process, whatever the traffic.

The reader is *shunned* (reads go to the writer, logged as ``reader_lag``) while:

- its lag is beyond PHOENIX_MAX_REPLICA_LAG seconds, or unknown on a replica (I/O or SQL thread
  stopped, replication broken);
- the reader cannot be measured (unreachable, or it does not answer within its timeouts);
- the reader is slow: the probe took longer than PHOENIX_MAX_READER_PROBE_MS (a reader that
  answers every round trip late, below its read timeout, would otherwise make every page slow);
- the last sample is too old (the probe thread is stuck on a silent reader).

One log line when the reader is shunned and one when it is readmitted. A reader that is not a
replica (tests, a single server) is never shunned. PHOENIX_MAX_REPLICA_LAG=0 switches this off.
"""

import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass

import MySQLdb
from django.conf import settings
from django.db import connections

from phoenix.db.sockets import tune_socket
from phoenix.db.state import READER

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sample:
    at: float  # time.monotonic() of the measurement
    seconds: float | None  # the lag, None when unknown or unmeasurable
    text: str  # how the lag reads in /readyz and the log (a number or a reason, no host names)
    shunned: bool


def max_lag() -> float:
    return float(getattr(settings, "PHOENIX_MAX_REPLICA_LAG", 5))


def check_interval() -> float:
    return max(0.2, float(getattr(settings, "PHOENIX_REPLICA_LAG_CHECK_SECONDS", 1)))


def enabled() -> bool:
    return (
        max_lag() > 0
        and READER in settings.DATABASES
        and settings.DATABASES[READER]["ENGINE"] == "phoenix.db.backends.mysql"
    )


class LagMonitor:
    """The probe thread of one process and its last sample."""

    def __init__(self) -> None:
        self.sample: Sample | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._connection = None
        self._stop = threading.Event()

    # Request side ---------------------------------------------------------------------------

    def reader_shunned(self) -> bool:
        """Return True when reads meant for the reader should go to the writer (no I/O)."""
        if not enabled():
            return False
        self._ensure_started()
        sample = self.sample
        if sample is None:
            return False  # not measured yet (the first moments of a process)
        return sample.shunned or time.monotonic() - sample.at > self._stale_after()

    def public(self) -> dict:
        """Return what /readyz shows: the lag in seconds (None when unknown) and whether reads avoid it."""
        if not enabled():
            return {"lag_seconds": None, "max_lag_seconds": None, "shunned": False}
        self._ensure_started()
        sample = self.sample
        return {
            "lag_seconds": None if sample is None else sample.seconds,
            "max_lag_seconds": max_lag(),
            "shunned": self.reader_shunned(),
        }

    # Probe side -----------------------------------------------------------------------------

    def _stale_after(self) -> float:
        # A probe waits at most the reader's connect + read timeouts; past that plus a few
        # intervals without a sample, the probe is stuck on a reader that does not answer.
        options = settings.DATABASES[READER].get("OPTIONS", {})
        return 3 * check_interval() + options.get("connect_timeout", 1) + options.get("read_timeout", 2)

    def _ensure_started(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            # A new process (gunicorn forked it): its own thread, connection and sample.
            self._pid, self.sample, self._connection = os.getpid(), None, None
            self._stop = threading.Event()
            threading.Thread(target=self._run, args=(self._stop,), daemon=True, name="phoenix-replica-lag").start()

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.measure()
            stop.wait(check_interval())
        self._close()

    def measure(self) -> Sample:
        """Measure the reader's lag once and record the sample (logging a shun or readmit)."""
        from phoenix.db.health import replica_lag

        bound = max_lag()
        try:
            cursor = self._cursor()
            started = time.monotonic()
            lag = replica_lag(cursor)
            took = time.monotonic() - started
            cursor.close()
            slow = took * 1000 > float(getattr(settings, "PHOENIX_MAX_READER_PROBE_MS", 500)) > 0
            text = f"{lag.text} (slow: the probe took {took:.2f} s)" if slow else lag.text
            sample = Sample(time.monotonic(), lag.seconds, text, lag.beyond(bound) or slow)
        except (MySQLdb.Error, OSError) as exc:
            self._close()
            logger.debug("replica lag not measured: %s", exc)
            sample = Sample(time.monotonic(), None, "unknown (reader not answering)", True)
        previous, self.sample = self.sample, sample
        if sample.shunned and not (previous and previous.shunned):
            logger.warning("reader shunned: replica lag %s, bound %s s; reads go to the writer", sample.text, bound)
        elif previous and previous.shunned and not sample.shunned:
            logger.warning("reader readmitted: replica lag %s, bound %s s", sample.text, bound)
        return sample

    def _cursor(self):
        if self._connection is None:
            params = connections[READER].get_connection_params()
            params.pop("init_command", None)
            self._connection = tune_socket(MySQLdb.connect(**params))
            self._connection.autocommit(True)
        return self._connection.cursor()

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(MySQLdb.Error):
                connection.close()


monitor = LagMonitor()


def reader_shunned() -> bool:
    return monitor.reader_shunned()
