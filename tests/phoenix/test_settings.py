"""Configuration mistakes get one clear line and a non-zero exit, never a traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def test_a_missing_secret_key_in_production_mode_is_one_clear_line():
    result = _manage("check")
    assert result.returncode == 2
    assert "DJANGO_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_secret_key_can_come_from_a_file(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("a-long-secret-key-from-a-file-" + "x" * 40)
    result = _manage("check", DJANGO_SECRET_KEY_FILE=str(key_file))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "url", ["mysql//nohost", "postgres://u:p@h/db", "mysql://u:p@host:notaport/db", "mysql://u:p@host:3306"]
)
def test_a_malformed_database_url_is_one_clear_line(url):
    result = _manage("check", DJANGO_DEBUG="1", DATABASE_URL=url)
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_database_is_one_clear_line():
    result = _manage("migrate", DJANGO_DEBUG="1", DATABASE_URL="mysql://u:p@127.0.0.1:9/phoenix")
    assert result.returncode == 2
    assert "Check DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr
