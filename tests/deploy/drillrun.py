"""Run deploy/local/drills.py from a test and read the figures it writes as JSON."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_drills(output: Path, *args: str) -> dict:
    """Run deploy/local/drills.py ARGS writing its JSON to ``output``; return figures by drill name."""
    run = subprocess.run(
        [sys.executable, str(REPO / "deploy/local/drills.py"), *args, "--json", str(output)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert output.exists(), f"the drills did not finish:\n{run.stdout}\n{run.stderr}"
    return {drill["name"]: drill["figures"] for drill in json.loads(output.read_text())["drills"]}
