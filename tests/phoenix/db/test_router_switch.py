"""PHOENIX_ROUTER swaps the routing for the benchmark: phoenix (default), multidb, single."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SHOW = "from django.conf import settings; print(settings.DATABASE_ROUTERS, 'multidb.middleware.PinningRouterMiddleware' in settings.MIDDLEWARE)"


def _settings(router: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PHOENIX_ROUTER": router}
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SHOW],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("router", "expected"),
    [
        ("phoenix", "['phoenix.db.router.ReadWriteRouter'] False"),
        ("multidb", "['multidb.PinningReplicaRouter'] True"),
        ("single", "[] False"),
    ],
)
def test_it_selects_the_router(router, expected):
    result = _settings(router)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected


def test_an_unknown_router_is_one_clear_line():
    result = _settings("fancy")
    assert result.returncode == 2
    assert "PHOENIX_ROUTER" in result.stderr and "Traceback" not in result.stderr
