"""`manage.py check --deploy` is clean with the settings production runs with."""

import os
import secrets
import subprocess
import sys

import pytest

from tests.deploy.conftest import REPO


def _production_env(**extra: str) -> dict:
    # The test harness relaxes HTTPS for plain-HTTP loopback; production does not.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_")) and k not in ("PHOENIX_MEDIA_ROOT", "PHOENIX_SITE_URL")
    }
    env.update(
        {
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
            "DJANGO_ALLOWED_HOSTS": "track.example.com",
            "DATABASE_URL": "mysql://phoenix:secret@phoenix.cluster-abc.us-east-1.rds.amazonaws.com:3306/phoenix",
            "DATABASE_READER_URL": "mysql://phoenix:secret@phoenix.cluster-ro-abc.us-east-1.rds.amazonaws.com:3306/phoenix",
            "PHOENIX_SITE_URL": "https://track.example.com",
            "PYTHONPATH": str(REPO),
        }
    )
    env.update(extra)
    return env


def _without(env: dict, name: str) -> dict:
    return {k: v for k, v in env.items() if k != name}


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


@pytest.mark.parametrize(
    "site_url",
    [
        None,
        "http://127.0.0.1:8000",
        "https://localhost",
        "https://127.0.0.2/",
        "https://[::1]:8443",
        "http://track.example.com",
        "track.example.com",
    ],
)
def test_check_deploy_refuses_a_site_url_customers_cannot_follow(site_url):
    # E-mail links and List-Unsubscribe headers are built from PHOENIX_SITE_URL; unset, it is
    # the loopback default of `make run`.
    env = _production_env() if site_url is None else _production_env(PHOENIX_SITE_URL=site_url)
    if site_url is None:
        env = _without(env, "PHOENIX_SITE_URL")
    result = _check(env)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "tracking.E001" in output and "PHOENIX_SITE_URL" in output
    assert "Traceback" not in output


def test_a_loopback_site_url_is_fine_with_debug_on():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=REPO,
        env=_without({**_production_env(), "DJANGO_DEBUG": "1"}, "PHOENIX_SITE_URL"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "tracking.E001" not in result.stdout + result.stderr
