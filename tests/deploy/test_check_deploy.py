"""`manage.py check --deploy` is clean with the settings production runs with."""

import os
import secrets
import subprocess
import sys

from tests.deploy.conftest import REPO


def _production_env(**extra: str) -> dict:
    # The test harness relaxes HTTPS for plain-HTTP loopback; production does not.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_")) and k not in ("PHOENIX_MEDIA_ROOT",)
    }
    env.update(
        {
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
            "DJANGO_ALLOWED_HOSTS": "track.example.com",
            "DATABASE_URL": "mysql://phoenix:secret@phoenix.cluster-abc.us-east-1.rds.amazonaws.com:3306/phoenix",
            "DATABASE_READER_URL": "mysql://phoenix:secret@phoenix.cluster-ro-abc.us-east-1.rds.amazonaws.com:3306/phoenix",
            "PYTHONPATH": str(REPO),
        }
    )
    env.update(extra)
    return env


def _check(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_production_settings():
    result = _check(_production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_when_https_is_switched_off():
    # The check above is only worth something if it can fail.
    result = _check(_production_env(DJANGO_SECURE_SSL_REDIRECT="0"))
    assert result.returncode != 0
    assert "security.W008" in result.stderr + result.stdout
