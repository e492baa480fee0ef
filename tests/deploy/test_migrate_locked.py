"""`manage.py migrate_locked` against the real local MariaDB writer: instances that boot at the
same moment migrate once, and a lock that is never released ends in a clear error."""

import os
import secrets
import subprocess
import sys
import time
from urllib.parse import urlparse, urlunparse

import pytest
from django.db.migrations.loader import MigrationLoader

from tests.deploy.conftest import REPO

LOCK = "phoenix-migrate"


@pytest.fixture
def fresh_database(writer_root):
    """Create an empty database on the writer and return its DATABASE_URL; drop it afterwards."""
    name = f"phoenix_boot_{secrets.token_hex(4)}"
    with writer_root.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    url = urlparse(os.environ["DATABASE_URL"])
    yield name, urlunparse(url._replace(path=f"/{name}"))
    with writer_root.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


def _env(database_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_READER_URL"}
    return {**env, "DATABASE_URL": database_url, "PYTHONPATH": str(REPO)}


def _start(database_url: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "migrate_locked", *args],
        cwd=REPO,
        env=_env(database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _waiting_for_lock(writer_root) -> int:
    with writer_root.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE %s", ["SELECT GET_LOCK(%"])
        return cursor.fetchone()[0]


def _applied(writer_root, database: str) -> list[tuple[str, str]]:
    with writer_root.cursor() as cursor:
        cursor.execute(f"SELECT app, name FROM `{database}`.django_migrations ORDER BY id")
        return list(cursor.fetchall())


def test_two_instances_booting_at_once_both_succeed_and_migrate_once(writer_root, fresh_database):
    name, url = fresh_database
    # Hold the lock while both start, so that neither can finish before the other has begun:
    # they meet at GET_LOCK, as two Auto Scaling instances do on the writer.
    with writer_root.cursor() as cursor:
        cursor.execute("SELECT GET_LOCK(%s, 0)", [LOCK])
        assert cursor.fetchone() == (1,)
    first, second = _start(url), _start(url)
    try:
        deadline = time.monotonic() + 120
        while _waiting_for_lock(writer_root) < 2:
            assert first.poll() is None and second.poll() is None, "a run ended before reaching the lock"
            assert time.monotonic() < deadline, "the two runs never both waited for the lock"
            time.sleep(0.1)
        with writer_root.cursor() as cursor:
            cursor.execute("SELECT RELEASE_LOCK(%s)", [LOCK])
        outputs = [process.communicate(timeout=300) for process in (first, second)]
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.kill()
                process.wait()

    assert [first.returncode, second.returncode] == [0, 0], outputs
    stdouts = [out for out, _ in outputs]
    assert sum("Applying tracking.0001_initial... OK" in out for out in stdouts) == 1
    assert sum("No migrations to apply" in out for out in stdouts) == 1
    applied = _applied(writer_root, name)
    assert len(applied) == len(set(applied)), "a migration was recorded twice"
    on_disk = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    assert set(applied) == on_disk


def test_it_gives_up_with_a_clear_message_when_the_lock_is_never_released(writer_root, fresh_database):
    name, url = fresh_database
    with writer_root.cursor() as cursor:
        cursor.execute("SELECT GET_LOCK(%s, 0)", [LOCK])
    try:
        out, err = _start(url, "--timeout", "1").communicate(timeout=120)
    finally:
        with writer_root.cursor() as cursor:
            cursor.execute("SELECT RELEASE_LOCK(%s)", [LOCK])

    assert "Timed out after 1 s waiting for the migration lock 'phoenix-migrate'" in err
    assert "Traceback" not in err
    with writer_root.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", [name])
        assert cursor.fetchone() == (0,), "nothing is migrated without the lock"


def test_it_releases_the_lock_after_migrating(writer_root, fresh_database):
    _, url = fresh_database
    process = _start(url)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    with writer_root.cursor() as cursor:
        cursor.execute("SELECT IS_USED_LOCK(%s)", [LOCK])
        assert cursor.fetchone() == (None,)


def test_it_just_migrates_on_sqlite(tmp_path):
    database = tmp_path / "boot.sqlite3"
    process = _start(f"sqlite:///{database}")
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    import sqlite3

    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT COUNT(*) FROM django_migrations WHERE app = 'tracking'").fetchone()
    assert rows[0] >= 1
