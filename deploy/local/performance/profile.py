"""Where the bench's gunicorn workers spend their time under wrk load, from py-spy's samples."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from deploy.local.lab import REPO
from deploy.local.lab.load import wrk_command
from deploy.local.lab.processes import children
from deploy.local.performance import log
from deploy.local.performance.app import App

# Where a sample of a worker belongs: the outermost frame that matches decides (a date formatted
# inside a template is template time, a row read inside an ORM query is ORM time).
_CATEGORIES = [
    ("templates (rendering, translations, dates)", re.compile(r"django/template/")),
    ("ORM and mysqlclient (SQL, round trips, model instances)", re.compile(r"django/db/models/|MySQLdb/")),
    ("logging (access log, routing log)", re.compile(r"/logging/")),
]


def _category(frames: list[str]) -> str:
    """Return the category of one sampled stack (outermost frame first)."""
    for frame in frames:
        for name, pattern in _CATEGORIES:
            if pattern.search(frame):
                return name
    if any("WSGIHandler.__call__" in frame for frame in frames):
        return "Django: request, middleware, views (the rest)"
    return "gunicorn (sockets, HTTP parsing, thread pool)"


def profile(app: App, paths: list[str], *, seconds: int, connections: int, top: int = 8) -> dict:
    """Return where the workers spend their time under wrk load, from py-spy's GIL-holding samples:
    {"categories": [(share, category)], "leaves": [(share, frame)]} (the ``top`` leaf frames)."""
    spy = shutil.which("py-spy", path=str(REPO / ".venv" / "bin")) or shutil.which("py-spy")
    workers = children(app.process.pid)
    if not spy or not workers:
        log("py-spy or the gunicorn worker is missing; no profile")
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        command = wrk_command(tmp, app.url, paths, seconds=seconds + 2, connections=connections)
        load = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        try:
            time.sleep(1)
            # Every worker at once: wrk's keep-alive connections may all have landed on one.
            spies = [
                subprocess.Popen(
                    [spy, "record", "--pid", pid, "--duration", str(seconds), "--rate", "200", "--gil"]
                    + ["--format", "raw", "--output", str(Path(tmp, f"profile.{pid}.txt"))],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for pid in workers
            ]
            for spying in spies:
                spying.wait()
        finally:
            load.wait()
        text = "".join(path.read_text() for path in Path(tmp).glob("profile.*.txt"))
        if not text.strip():
            log("py-spy could not attach (needs ptrace rights); no profile")
            return {}
        categories: Counter = Counter()
        leaves: Counter = Counter()
        for line in text.splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")
            leaves[frames[-1]] += int(count)
            categories[_category(frames)] += int(count)
    total = sum(categories.values())
    return {
        "categories": [(n / total, name) for name, n in categories.most_common()],
        "leaves": [(n / total, frame) for frame, n in leaves.most_common(top)],
    }
