"""Fixtures shared by the tracking tests: clean throttle counters and media storage (disk or S3 on moto)."""

import boto3
import pytest
from django.core.cache import cache

from tests.moto import CREDENTIALS, moto_server


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """Throttle counters live in the cache; every test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def media_root(tmp_path, settings):
    """Store media (proof-of-delivery images) on local disk, in a fresh directory."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    return settings.MEDIA_ROOT


@pytest.fixture
def s3_server(monkeypatch):
    """Run moto's S3 API server on loopback (a real HTTP S3 endpoint, not mocked calls)."""
    with moto_server() as endpoint:
        for name, value in CREDENTIALS.items():
            monkeypatch.setenv(name, value)
        yield endpoint


@pytest.fixture
def s3_media(s3_server, settings):
    """Store media in a private bucket on the moto server, configured as settings.py does.

    Returns a boto3 client for that server; the bucket is ``phoenix-media``.
    """
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    s3.create_bucket(Bucket="phoenix-media")
    settings.STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "phoenix-media",
                "endpoint_url": s3_server,
                "region_name": "us-east-1",
                "default_acl": "private",
                "querystring_auth": True,
                "querystring_expire": 60,
                "file_overwrite": False,
            },
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    return s3


@pytest.fixture
def receiver(settings):
    """A webhook receiver on loopback that checks signatures (tests/tracking/notify/support.py)."""
    from tests.tracking.notify.support import WebhookReceiver

    server = WebhookReceiver()
    settings.PHOENIX_WEBHOOK_ALLOW_LOOPBACK = True
    yield server
    server.close()
