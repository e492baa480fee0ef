import os
from urllib.parse import urlparse

import MySQLdb
import pytest
from django.conf import settings

# Inside this process the `reader` alias is the writer's test database on the writer server (a
# true mirror), so that tests and live_server pages never race replication. Tests about the real
# replica use `replica_connection`, or the app that tests/live.py runs against both servers.
if "reader" in settings.DATABASES:
    settings.DATABASES["reader"].update(
        {key: settings.DATABASES["default"][key] for key in ("HOST", "PORT", "USER", "PASSWORD")}
    )


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
def routing_scope():
    """Give each test a fresh database routing state, as each request gets one."""
    from phoenix.db import state

    with state.scope():
        yield


@pytest.fixture(scope="session")
def live_app(tmp_path_factory):
    """Return a running app on its own fresh database on the live cluster (see tests/live.py).

    Shared by the whole run (starting one costs a migrate): a test that takes a server away or
    stops replication does it with the LiveApp context managers, which put things back.
    """
    from tests.live import LiveApp

    app = LiveApp.start(tmp_path_factory.mktemp("live"))
    yield app
    app.stop()
