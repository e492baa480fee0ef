"""The instruction-count benchmark's paths all answer, on its own cluster, without valgrind.

The counting itself (callgrind, a few minutes) runs in ``make bench``; here every target's loop
runs once, so a path that stopped answering 200 in production settings fails the suite.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "deploy/local/bench_instructions.py"

pytestmark = pytest.mark.cluster


def test_every_path_and_reference_answers_in_production_settings():
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--shipments", "30", "--requests", "1", "--warmup", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "every path of every target answered 200" in run.stdout
    for target in ("phoenix", "phoenix-cached", "django-minimal", "flask", "bare"):
        assert f"{target}: " in run.stderr


def test_the_report_names_every_path_with_its_reference():
    spec = importlib.util.spec_from_file_location("bench_instructions", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    figures = {name: float(index + 1) * 1e6 for index, (_label, name, _base) in enumerate(bench.ROWS)}
    text = bench.render(figures, "bench")
    assert text.startswith("<!-- section:instructions -->")
    assert "| tracking page, Spanish, rendered (page cache off) | 3.00 M | Flask page | 0.30 |" in text
    assert text.count("\n| ") == len(bench.ROWS) + 2  # the header and its rule
