import os
from urllib.parse import urlparse

import MySQLdb
import pytest


@pytest.fixture
def replica_connection():
    """Return a second, direct connection to the replica server (not through Django)."""
    url = urlparse(os.environ["DATABASE_READER_URL"])
    connection = MySQLdb.connect(
        host=url.hostname, port=url.port, user=url.username, password=url.password, autocommit=True
    )
    yield connection
    connection.close()


@pytest.fixture
def writer_root():
    """Return a root connection to the writer over its socket (for server-side checks)."""
    connection = MySQLdb.connect(unix_socket=os.environ["PHOENIX_WRITER_SOCKET"], user="root", autocommit=True)
    yield connection
    connection.close()


@pytest.fixture(autouse=True)
def _static_files_without_manifest(settings):
    """Resolve {% static %} without a collectstatic manifest: production uses WhiteNoise's
    manifest storage, which needs `collectstatic`, while tests and the live server serve the
    app's static files straight from the finders (tests/tracking/site/test_static.py covers
    the production storage)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
