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
def _static_files_without_manifest(settings):
    """Resolve {% static %} without a collectstatic manifest: production uses WhiteNoise's
    manifest storage, which needs `collectstatic`, while tests and the live server serve the
    app's static files straight from the finders (tests/tracking/site/test_headers.py covers
    the production storage)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _no_page_cache(settings):
    """Render every tracking page: tests change a shipment and look at the page at once, as
    nobody outside the writer does within a minute in production. tests/tracking/site/
    test_page_cache.py switches the cache on."""
    settings.PHOENIX_PAGE_CACHE_SECONDS = 0


@pytest.fixture(autouse=True)
def _second_factor_for_the_enrolled(settings):
    """Test-only: the admin asks a TOTP code only of users who have a device, so the admin tests
    log in with a password or force_login; tests/tracking/admin/test_otp.py covers the
    production rule (superusers must have one)."""
    settings.PHOENIX_ADMIN_OTP = "enrolled"


@pytest.fixture(autouse=True)
def _full_budgets():
    """Every test starts with full lookup budgets and throttles: drop this process's view of the
    shared counters (their rows go with each test's transaction)."""
    from tracking import budget

    budget.forget()
    yield
    budget.forget()


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

    # The lag-aware reader is off in this app: tests that stop replication here show what the
    # stale replica serves and how pins avoid it (tests/phoenix/db/test_replica_lag.py has it on).
    app = LiveApp.start(tmp_path_factory.mktemp("live"), extra_env={"PHOENIX_MAX_REPLICA_LAG": "0"})
    yield app
    app.stop()


@pytest.fixture(scope="session")
def migrated_database():
    """Return the name of a scratch database on the writer, migrated and seeded, dropped at the end.

    It lives outside Django's test database (and its per-test transactions), so subprocesses
    (manage.py commands, a live server) see it; tests clone it rather than change it.
    """
    import secrets
    import subprocess
    import sys

    name = f"phoenix_scratch_{secrets.token_hex(4)}"
    root = MySQLdb.connect(unix_socket=os.environ["PHOENIX_WRITER_SOCKET"], user="root", autocommit=True)
    root.cursor().execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_READER_URL"}
    env["DATABASE_URL"] = database_url(name)
    try:
        for command in (["migrate", "-v0"], ["seed_demo", "--shipments", "40", "--seed", "11", "--quiet"]):
            subprocess.run([sys.executable, "manage.py", *command], env=env, check=True, stdout=subprocess.DEVNULL)
        yield name
    finally:
        root.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
        root.close()


def database_url(name: str, user: str = "", password: str = "") -> str:
    """Return DATABASE_URL with another database name (and user, when given)."""
    url = urlparse(os.environ["DATABASE_URL"])
    user, password = user or url.username, password or url.password
    return f"mysql://{user}:{password}@{url.hostname}:{url.port}/{name}"


def clone_database(cursor, source: str, target: str) -> None:
    """Copy every table of ``source`` into a new database ``target`` (as root, on the writer)."""
    cursor.execute(f"CREATE DATABASE {target} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    cursor.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (source,))
    for (table,) in cursor.fetchall():
        cursor.execute(f"CREATE TABLE {target}.`{table}` LIKE {source}.`{table}`")
        cursor.execute(f"INSERT INTO {target}.`{table}` SELECT * FROM {source}.`{table}`")


def _instrument_jinja2_for_the_test_client() -> None:
    """Let the test client see a Jinja2 page's context (response.context), as Django's test
    environment does for its own templates: Django's Jinja2 backend sends no template_rendered."""
    from django.template.backends.jinja2 import Template
    from django.test.signals import template_rendered

    render = Template.render
    if getattr(render, "instrumented", False):
        return

    def instrumented(self, context=None, request=None):
        template_rendered.send(sender=self, template=self, context=dict(context or {}))
        return render(self, context, request)

    instrumented.instrumented = True
    Template.render = instrumented


_instrument_jinja2_for_the_test_client()
