"""manage.py verify_migration between two real MariaDB databases on the test cluster's writer."""

import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import clone_database, database_url
from tracking.cutover.verify import Throttle

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def copies(migrated_database, writer_root, tmp_path):
    """Return a source (the seeded scratch database) and a fresh target copied from it.

    verify_migration connects as a user that may only SELECT, on both databases.
    """
    suffix = secrets.token_hex(4)
    target, user, password = f"phoenix_copy_{suffix}", f"verifier_{suffix}", secrets.token_hex(8)
    cursor = writer_root.cursor()
    clone_database(cursor, migrated_database, target)
    cursor.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
    for name in (migrated_database, target):
        cursor.execute(f"GRANT SELECT ON {name}.* TO '{user}'@'%'")
    yield SimpleNamespace(
        source=migrated_database,
        target=target,
        source_url=database_url(migrated_database, user, password),
        target_url=database_url(target, user, password),
        password=password,
        cursor=cursor,
        json=tmp_path / "report.json",
    )
    cursor.execute(f"DROP USER '{user}'@'%'")
    cursor.execute(f"DROP DATABASE {target}")


def verify(copies, *args: str, source: str = "", target: str = "") -> subprocess.CompletedProcess:
    command = [sys.executable, "manage.py", "verify_migration"]
    command += ["--source", source or copies.source_url, "--target", target or copies.target_url, *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


def scalar(cursor, sql: str):
    cursor.execute(sql)
    return cursor.fetchone()[0]


def test_it_finds_identical_copies_equal(copies):
    result = verify(copies, "--json", str(copies.json))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "everything matches" in result.stdout
    report = json.loads(copies.json.read_text())
    assert report["match"] is True
    tables = {t["table"]: t for t in report["tables"]}
    # The project's tables by default: every installed app's models plus django_migrations.
    assert {"tracking_shipment", "tracking_trackingevent", "auth_user", "django_migrations"} <= tables.keys()
    assert tables["tracking_shipment"]["source_rows"] == tables["tracking_shipment"]["target_rows"] == 40
    assert tables["tracking_trackingevent"]["source_rows"] > 100
    assert "tracking_trackingevent" in result.stderr  # progress


def test_it_names_a_changed_a_missing_and_an_extra_row(copies):
    c, t = copies.cursor, copies.target
    changed = scalar(c, f"SELECT MAX(id) FROM {t}.tracking_shipment") - 3
    c.execute(f"UPDATE {t}.tracking_shipment SET reference = 'edited on the target' WHERE id = {changed}")
    missing = scalar(c, f"SELECT MIN(id) FROM {t}.tracking_trackingevent") + 57
    c.execute(f"DELETE FROM {t}.tracking_trackingevent WHERE id = {missing}")
    extra = scalar(c, f"SELECT MAX(id) FROM {t}.tracking_facility") + 1000
    c.execute(
        f"INSERT INTO {t}.tracking_facility (id, code, name, kind, address, city, state, country, time_zone) "
        f"VALUES ({extra}, 'ZZZ01', 'Only on the target', 'hub', '', 'Tepic', 'Nayarit', 'MX', 'America/Mazatlan')"
    )

    # Chunks of 150 rows: the event table's mismatching chunk is bisected before rows are named.
    result = verify(copies, "--chunk-size", "150", "--json", str(copies.json))

    assert result.returncode == 1, result.stdout + result.stderr
    tables = {t["table"]: t for t in json.loads(copies.json.read_text())["tables"]}
    assert tables["tracking_shipment"]["changed"] == [changed]
    assert tables["tracking_trackingevent"]["missing_in_target"] == [missing]
    assert tables["tracking_facility"]["extra_in_target"] == [extra]
    assert tables["tracking_contact"]["match"] is True
    assert f"changed (id): {changed}" in result.stdout
    assert f"missing in target (id): {missing}" in result.stdout
    assert f"extra in target (id): {extra}" in result.stdout
    assert "3 differ" in result.stdout


def test_it_tells_null_from_an_empty_string(copies):
    c, t = copies.cursor, copies.target
    row = scalar(c, f"SELECT MIN(id) FROM {t}.tracking_trackingevent WHERE partner_event_id IS NULL")
    c.execute(f"UPDATE {t}.tracking_trackingevent SET partner_event_id = '' WHERE id = {row}")

    result = verify(copies, "--tables", "tracking_trackingevent", "--json", str(copies.json))

    assert result.returncode == 1
    assert json.loads(copies.json.read_text())["tables"][0]["changed"] == [row]


def test_it_tells_a_change_of_case_and_trailing_space(copies):
    """Collations call 'Guadalajara' and 'guadalajara ' equal; the copy must still be exact."""
    c, t = copies.cursor, copies.target
    first, second = (r[0] for r in _rows(c, f"SELECT id FROM {t}.tracking_facility ORDER BY id LIMIT 2"))
    c.execute(f"UPDATE {t}.tracking_facility SET city = LOWER(city) WHERE id = {first}")
    c.execute(f"UPDATE {t}.tracking_facility SET city = CONCAT(city, ' ') WHERE id = {second}")

    result = verify(copies, "--tables", "tracking_facility", "--json", str(copies.json))

    assert result.returncode == 1
    assert json.loads(copies.json.read_text())["tables"][0]["changed"] == [first, second]


def test_it_reports_a_table_missing_in_the_target_and_one_without_a_primary_key(copies):
    c, s, t = copies.cursor, copies.source, copies.target
    c.execute(f"DROP TABLE {t}.tracking_partner")
    for name in (s, t):
        c.execute(f"CREATE TABLE {name}.audit_nokey (at DATETIME, what VARCHAR(20))")
    try:
        c.execute(f"INSERT INTO {s}.audit_nokey VALUES ('2026-11-27 10:00:00', 'a'), ('2026-11-27 10:01:00', 'b')")
        c.execute(f"INSERT INTO {t}.audit_nokey VALUES ('2026-11-27 10:00:00', 'a'), ('2026-11-27 10:01:00', 'B')")

        result = verify(copies, "--tables", "tracking_partner,audit_nokey,tracking_facility")
    finally:
        c.execute(f"DROP TABLE {s}.audit_nokey")

    assert result.returncode == 1
    assert "tracking_partner" in result.stdout and "table missing in target" in result.stdout
    assert "no primary key: rows cannot be named" in result.stdout


def test_it_changes_nothing_on_either_side(copies):
    """The verifier may only SELECT; and the writer's binary log does not move during the run."""
    c = copies.cursor
    c.execute("SHOW MASTER STATUS")
    before = c.fetchone()[:2]

    result = verify(copies, "--chunk-size", "50")

    c.execute("SHOW MASTER STATUS")
    assert c.fetchone()[:2] == before
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "url",
    ["postgres://u:p@localhost/x", "mysql://u:p@localhost:notaport/x", "mysql://u:p@localhost:3306/", "nonsense"],
)
def test_it_rejects_a_bad_url_with_one_line(copies, url):
    result = verify(copies, target=url)

    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "--target" in result.stderr and "expected mysql://user:password@host:3306/name" in result.stderr
    assert "Traceback" not in result.stderr


def test_it_says_which_server_is_unreachable_in_one_line(copies):
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    result = verify(copies, target=f"mysql://verifier:secret-pw@127.0.0.1:{port}/phoenix")

    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert f"cannot connect to target 127.0.0.1:{port}/phoenix" in result.stderr
    assert "secret-pw" not in result.stderr


def test_it_refuses_a_wrong_password_in_one_line(copies):
    result = verify(copies, source=copies.source_url.replace(copies.password, "wrong-password"))

    assert result.returncode == 2
    assert "cannot connect to source" in result.stderr and "Access denied" in result.stderr
    assert "wrong-password" not in result.stderr


def test_the_rate_limit_sleeps_to_hold_the_rate():
    slept = []
    now = [100.0]
    throttle = Throttle(1000, clock=lambda: now[0], sleep=slept.append)
    throttle.add(500)
    now[0] += 0.1
    throttle.add(500)
    assert slept == [0.5, pytest.approx(0.9)]


def test_the_memory_benchmark_runs_and_writes_its_section(migrated_database, tmp_path):
    output = tmp_path / "performance.md"
    output.write_text("# Performance\n\n<!-- section:other -->\nkept\n<!-- /section:other -->\n")

    subprocess.run(
        [sys.executable, "deploy/local/bench_verify_migration.py", "--rows", "300,600", "--output", str(output)],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=300,
        env=os.environ,
    )

    text = output.read_text()
    assert "kept" in text
    assert "<!-- section:verify-migration -->" in text and "| 600 |" in text


def _rows(cursor, sql: str):
    cursor.execute(sql)
    return cursor.fetchall()


def test_it_lists_at_most_max_keys_and_counts_the_rest(copies):
    """Before DMS has loaded a table the target is empty: the report stays short."""
    c, t = copies.cursor, copies.target
    c.execute(f"DELETE FROM {t}.tracking_trackingevent")
    total = scalar(c, f"SELECT COUNT(*) FROM {copies.source}.tracking_trackingevent")

    result = verify(copies, "--tables", "tracking_trackingevent", "--max-keys", "5", "--json", str(copies.json))

    assert result.returncode == 1
    table = json.loads(copies.json.read_text())["tables"][0]
    assert len(table["missing_in_target"]) == 5
    assert 0 < table["unlisted_keys"] <= total - 5
    assert table["source_rows"] == total and table["target_rows"] == 0
    assert "more rows not listed" in result.stdout
