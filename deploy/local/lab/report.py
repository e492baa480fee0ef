"""What the lab scripts write: progress lines, named sections of docs markdown files, the machine.

A docs file such as docs/performance.md holds one section per script between
``<!-- section:NAME -->`` and ``<!-- /section:NAME -->``; each script rewrites its own and leaves
the others as they are.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def say(message: str) -> None:
    """Write a progress line to stderr at once."""
    print(message, file=sys.stderr, flush=True)


def stamped(tag: str) -> Callable[[str], None]:
    """Return a function that writes progress lines ``[tag HH:MM:SS] message`` to stderr."""

    def log(message: str) -> None:
        say(f"[{tag} {time.strftime('%H:%M:%S')}] {message}")

    return log


def marked(name: str, body: str) -> str:
    """Return ``body`` between the markers of the section ``name``."""
    return f"<!-- section:{name} -->\n{body}\n<!-- /section:{name} -->"


def write_marked(path: Path, name: str, block: str, title: str = "# Performance") -> None:
    """Put ``block`` (as ``marked`` returns it) in place of the section ``name`` of a markdown
    file, or append it; the rest of the file stays. A new file starts with ``title``."""
    start, end = f"<!-- section:{name} -->", f"<!-- /section:{name} -->"
    block = block.rstrip("\n")
    text = path.read_text() if path.exists() else title + "\n"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def replace_section(path: Path, name: str, body: str) -> None:
    """Rewrite the ``name`` section of a markdown file with ``body``, keeping the others."""
    write_marked(path, name, marked(name, body))


def memory_gib() -> float:
    """Return the machine's memory in GiB."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def cores_and_memory(whole: bool = False) -> str:
    """Return the short machine line of the benchmarks: ``2 cores, 24 GiB memory``.

    ``whole``: the GiB rounded down, as ``free -g`` shows them (bench_verify_migration.py's figure).
    """
    gib = memory_gib()
    return f"{os.cpu_count()} cores, {int(gib) if whole else f'{gib:.0f}'} GiB memory"


def machine() -> str:
    """Return the long machine line of the drills: CPUs and model, memory, kernel, Python, MariaDB, HAProxy."""
    memory = cpu = "?"
    with contextlib.suppress(OSError, ValueError):
        memory = f"{memory_gib():.1f} GiB"
    with contextlib.suppress(OSError, AttributeError):
        cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text()).group(1).strip()

    def version(*command):
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=10).stdout.splitlines()[0].strip()
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"

    return (
        f"{os.cpu_count()} CPUs ({cpu}), {memory} memory, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; {version('mariadbd', '--version')}; {version('haproxy', '-v')}"
    )
