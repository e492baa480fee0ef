"""Production settings: check --deploy stays clean; media goes to S3 exactly when a bucket is named."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PRODUCTION = {
    "DJANGO_SECRET_KEY": "a-production-like-secret-key-" + "k" * 40,
    "DJANGO_ALLOWED_HOSTS": "track.example.com",
    # Production's comes from Parameter Store; the loopback default fails check --deploy.
    "PHOENIX_SITE_URL": "https://track.example.com",
}


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "AWS_"))}
    environment.update(PRODUCTION, **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def _setting(expression: str, **env: str) -> str:
    result = _manage("shell", "-c", f"from django.conf import settings; print({expression})", **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_media_uses_s3_only_when_a_bucket_is_named():
    assert _setting("settings.STORAGES['default']['BACKEND']") == "django.core.files.storage.FileSystemStorage"
    on_s3 = _setting(
        "settings.STORAGES['default']",
        AWS_STORAGE_BUCKET_NAME="phoenix-media-prod",
        AWS_S3_ENDPOINT_URL="http://127.0.0.1:9",
    )
    assert "storages.backends.s3.S3Storage" in on_s3
    assert "'bucket_name': 'phoenix-media-prod'" in on_s3 and "'endpoint_url': 'http://127.0.0.1:9'" in on_s3
    assert "'default_acl': 'private'" in on_s3 and "'querystring_auth': True" in on_s3


def test_cookies_are_secure_in_production():
    assert _setting("(settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE)") == "(True, True)"
