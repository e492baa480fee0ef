"""Reading what the lab's servers logged: from an offset on, one JSON line at a time.

Production logging writes JSON lines (phoenix/settings.py); gunicorn's own start-up and error
lines are plain text. The drills count the warnings of a drill (since the offsets taken before
it); tests/live.py hands a test the app's records.
"""

from __future__ import annotations

import json
from pathlib import Path


def offsets(paths: list[Path]) -> dict[Path, int]:
    """Return the current size of each log (0 for one not written yet), to read on from later."""
    return {path: path.stat().st_size if path.exists() else 0 for path in paths}


def read_since(path: Path, offset: int = 0) -> str:
    """Return what a log holds from ``offset`` on (all of it when it shrank meanwhile; '' if absent)."""
    if not path.exists():
        return ""
    with path.open("rb") as handle:
        handle.seek(min(offset, path.stat().st_size))
        return handle.read().decode("utf-8", "replace")


def record(line: str) -> dict | None:
    """Return a JSON log line as a dict, None for a line of another kind."""
    if not line.startswith("{"):
        return None
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None
