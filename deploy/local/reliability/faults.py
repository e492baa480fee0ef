"""Faults that leave a server slow or silent rather than gone, for the drills 6 to 12.

- ``netns``: the whole drill run in a network namespace of its own (``unshare --net``, loopback
  up), so an iptables rule or a flood touches only the drill's stack, nothing else on the
  machine; the rules die with the namespace whatever happens.
- ``blackholed``: iptables DROP of every packet to and from an endpoint's port (no RST, open
  connections go silent, new ones get no SYN-ACK), as an Availability Zone partition looks.
- ``DelayingForwarder`` + ``slowed``: a TCP forwarder that holds every chunk for a while before
  passing it on (half a second each way: 1 s per round trip); the stack's HAProxy reader
  endpoint is pointed at it over its admin socket. (tc netem would do it in the kernel, but
  this kernel has no netem qdisc; a forwarder delays the same bytes.)
- ``read_lock_held``: a root session holding ``FLUSH TABLES WITH READ LOCK`` (a hung writer).
- ``server_full``: a server's ``max_connections`` lowered and filled with idle application
  connections, the application's own sessions cut so that it must connect again (1040).
- ``Flood``: closed-loop clients asking for public pages as fast as they are answered, more
  at once than the instances have threads (overload).
- ``BalancerWatch``: samples the ALB's view of both instances every half second.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator

import MySQLdb

from deploy.local.lab.load import request
from deploy.local.reliability.stack import Stack


def percentile(values: list[float], p: int) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * p / 100))], 3)


NETNS_VARIABLE = "PHOENIX_DRILLS_NETNS"


def in_netns() -> bool:
    return os.environ.get(NETNS_VARIABLE) == "1"


def reexec_in_netns(argv: list[str]) -> int:
    """Run this script again in a new network namespace (loopback up); return its exit status."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("iptables"):
        raise SystemExit(
            "the slow-and-silent drills need root, unshare and iptables (deploy/local/bootstrap.sh installs iptables)"
        )
    command = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", sys.executable, *argv]
    return subprocess.call(command, env={**os.environ, NETNS_VARIABLE: "1"})


def _iptables(action: str, port: int) -> None:
    for direction in ("--dport", "--sport"):
        subprocess.run(["iptables", action, "INPUT", "-p", "tcp", direction, str(port), "-j", "DROP"], check=True)


@contextlib.contextmanager
def blackholed(port: int) -> Iterator[None]:
    """Drop every packet to and from ``port`` on loopback (inside the drill's namespace only)."""
    if not in_netns():
        raise RuntimeError("refusing to add iptables rules outside the drills' own network namespace")
    _iptables("-A", port)
    try:
        yield
    finally:
        _iptables("-D", port)


class DelayingForwarder:
    """A TCP forwarder to ``target_port`` that holds each chunk ``delay`` seconds, both ways."""

    def __init__(self, target_port: int, delay: float):
        self.target_port = target_port
        self.delay = delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closing = False
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closing:
            try:
                client, _ = self.listener.accept()
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                server.settimeout(None)
            except OSError:
                continue
            self.sockets += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                time.sleep(self.delay)
                target.sendall(chunk)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.closing = True
        with contextlib.suppress(OSError):
            self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()


@contextlib.contextmanager
def slowed(stack: Stack, node: str, delay: float) -> Iterator[None]:
    """Point the reader endpoint at ``node`` through a forwarder that delays every chunk."""
    port = int(stack.env[f"PHOENIX_{node.upper()}_PORT"])
    forwarder = DelayingForwarder(port, delay)
    try:
        stack.haproxy(
            f"set server reader/{node} addr 127.0.0.1 port {forwarder.port}; shutdown sessions server reader/{node}"
        )
        yield
    finally:
        stack.haproxy(f"set server reader/{node} addr 127.0.0.1 port {port}; shutdown sessions server reader/{node}")
        forwarder.close()


@contextlib.contextmanager
def read_lock_held(stack: Stack, node: str) -> Iterator[None]:
    """Hold FLUSH TABLES WITH READ LOCK on ``node``: writes wait, reads go on (a hung writer)."""
    connection = MySQLdb.connect(unix_socket=stack.socket(node), user="root", autocommit=True)
    try:
        connection.cursor().execute("FLUSH TABLES WITH READ LOCK")
        yield
    finally:
        with contextlib.suppress(MySQLdb.Error):
            connection.cursor().execute("UNLOCK TABLES")
        connection.close()


@contextlib.contextmanager
def server_full(stack: Stack, node: str) -> Iterator[int]:
    """Fill ``node`` to a lowered max_connections with idle application connections and cut the
    application's own sessions, so that its next connection gets 1040; restore it after."""
    root = MySQLdb.connect(unix_socket=stack.socket(node), user="root", autocommit=True)
    cursor = root.cursor()
    cursor.execute("SELECT @@GLOBAL.max_connections")
    (before,) = cursor.fetchone()
    fillers = []
    try:
        cursor.execute("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
        cursor.execute("SET GLOBAL max_connections = %s", (int(cursor.fetchone()[1]) + 2,))
        port = int(stack.env[f"PHOENIX_{node.upper()}_PORT"])
        url = urllib.parse.urlsplit(stack.env["DATABASE_URL"])  # the application's user

        def fill() -> None:
            while len(fillers) < 500:
                try:
                    fillers.append(
                        MySQLdb.connect(
                            host="127.0.0.1", port=port, user=url.username, password=url.password, connect_timeout=3
                        )
                    )
                except MySQLdb.OperationalError as exc:
                    if exc.args[0] != 1040:
                        raise
                    return

        # Fill, cut the application's sessions, fill the room they left; twice, as the
        # application reconnects meanwhile.
        for _round in range(2):
            fill()
            mine = {filler.thread_id() for filler in fillers}
            cursor.execute("SELECT id FROM information_schema.processlist WHERE user = %s", [url.username])
            for (session,) in cursor.fetchall():
                if session not in mine:
                    with contextlib.suppress(MySQLdb.Error):
                        cursor.execute(f"KILL {int(session)}")
        fill()
        yield len(fillers)
    finally:
        for filler in fillers:
            with contextlib.suppress(MySQLdb.Error):
                filler.close()
        cursor.execute("SET GLOBAL max_connections = %s", (before,))
        root.close()


class Flood:
    """``clients`` threads asking for public pages back to back (no pause): overload."""

    def __init__(self, stack: Stack, numbers: list[str], clients: int):
        self.host = stack.url
        self.numbers = numbers
        self.clients = clients
        self.stopping = threading.Event()
        self.answers: list[tuple[int, float]] = []  # (status, latency)
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(clients)]

    def __enter__(self) -> Flood:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(20)

    def summary(self) -> dict:
        """What the flood got: answers by status, and the p99 of the served and of the shed ones."""
        with self.lock:
            answers = list(self.answers)
        served = [latency for status, latency in answers if 200 <= status < 400]
        shed = [latency for status, latency in answers if status == 503]
        statuses: dict[str, int] = {}
        for status, _latency in answers:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        return {
            "answers": len(answers),
            "statuses": statuses,
            "served": len(served),
            "shed": len(shed),
            "served_p99": percentile(served, 99),
            "shed_p99": percentile(shed, 99),
        }

    def _run(self, n: int) -> None:
        index = n
        while not self.stopping.is_set():
            number = self.numbers[index % len(self.numbers)]
            index += self.clients
            started = time.monotonic()
            status, _headers, _text = request(self.host, "GET", f"/track/{number}/", timeout=15)
            with self.lock:
                self.answers.append((status, time.monotonic() - started))


class BalancerWatch:
    """Sample the ALB's state of both app instances every ``interval`` s until stopped."""

    def __init__(self, stack: Stack, interval: float = 0.5):
        self.stack = stack
        self.interval = interval
        self.samples = 0
        self.out: dict[str, int] = {}  # instance -> samples in which the ALB had it out
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> dict:
        self.stopping.set()
        self.thread.join(10)
        return {"samples": self.samples, "out": self.out}

    def _run(self) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(OSError):
                for line in self.stack.haproxy("show stat").splitlines():
                    fields = line.split(",")
                    instance = len(fields) > 17 and fields[0] == "app" and fields[1] in ("az-a", "az-b")
                    if instance and not fields[17].startswith("UP"):
                        self.out[fields[1]] = self.out.get(fields[1], 0) + 1
                self.samples += 1
            self.stopping.wait(self.interval)
