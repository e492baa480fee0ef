"""The database users' bootstrap (deploy/db_users.py) on a MariaDB writer that requires TLS.

The secrets come from moto's Secrets Manager on loopback, as database.yaml makes them; the
script logs in as the master user over verified TLS and leaves an application user that can
read and write rows but change no schema, and a migration user that can.
"""

import json
import subprocess
import sys

import MySQLdb
import pytest

from deploy.local.lab.servers import Cluster
from tests.deploy.conftest import REPO

SCRIPT = REPO / "deploy" / "db_users.py"


@pytest.fixture(scope="module")
def tls_writer():
    cluster = Cluster("phoenix-db-users-", PHOENIX_CLUSTER_TLS="1")
    try:
        cluster.query(
            "CREATE USER 'phoenix_admin'@'%' IDENTIFIED BY 'm4ster-pw' REQUIRE SSL; "
            "GRANT ALL PRIVILEGES ON *.* TO 'phoenix_admin'@'%' WITH GRANT OPTION"
        )
        yield cluster
    finally:
        cluster.stop()


def _secret(secrets, name: str, user: str, password: str) -> str:
    return secrets.create_secret(Name=name, SecretString=json.dumps({"username": user, "password": password}))["ARN"]


def _run(tls_writer, moto_endpoint, subprocess_env, *secret_ids: str) -> subprocess.CompletedProcess:
    master, app, migrate = secret_ids
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--writer", "127.0.0.1", "--port", tls_writer.env["PHOENIX_WRITER_PORT"]]
        + ["--database", "phoenix", "--ssl-ca", tls_writer.env["PHOENIX_DB_SSL_CA"]]
        + ["--master-secret", master, "--app-secret", app, "--migrate-secret", migrate],
        env={**subprocess_env, **moto_endpoint},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _login(tls_writer, user: str, password: str, tls: bool = True):
    options = {"ssl": {"ca": tls_writer.env["PHOENIX_DB_SSL_CA"]}} if tls else {"ssl_mode": "DISABLED"}
    return MySQLdb.connect(
        host="127.0.0.1",
        port=int(tls_writer.env["PHOENIX_WRITER_PORT"]),
        user=user,
        password=password,
        database="phoenix",
        autocommit=True,
        **options,
    )


def _denied(connection, statement: str) -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    except MySQLdb.OperationalError as error:
        return error.args[0] in (1142, 1044, 1227)  # command / database / privilege denied
    return False


def test_the_app_user_writes_rows_and_only_the_migration_user_changes_the_schema(
    tls_writer, aws, moto_endpoint, subprocess_env
):
    secrets = aws.client("secretsmanager")
    ids = (
        _secret(secrets, "rds!cluster", "phoenix_admin", "m4ster-pw"),
        _secret(secrets, "phoenix/prod/db-app", "phoenix_app", "app-Pa55'\"%"),
        _secret(secrets, "phoenix/prod/db-migrate", "phoenix_migrate", "migr4te-pw"),
    )

    result = _run(tls_writer, moto_endpoint, subprocess_env, *ids)

    assert result.returncode == 0, result.stderr
    migrate = _login(tls_writer, "phoenix_migrate", "migr4te-pw")
    with migrate.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS grants_probe")
        cursor.execute("CREATE TABLE grants_probe (id INT PRIMARY KEY, note VARCHAR(20))")
        cursor.execute("ALTER TABLE grants_probe ADD INDEX note_idx (note)")
    app = _login(tls_writer, "phoenix_app", "app-Pa55'\"%")
    with app.cursor() as cursor:
        cursor.execute("INSERT INTO grants_probe VALUES (1, 'a')")
        cursor.execute("UPDATE grants_probe SET note = 'b' WHERE id = 1")
        cursor.execute("SELECT note FROM grants_probe FOR UPDATE")
        assert cursor.fetchall() == (("b",),)
        cursor.execute("DELETE FROM grants_probe")
    assert _denied(app, "CREATE TABLE app_made (id INT)")
    assert _denied(app, "ALTER TABLE grants_probe ADD COLUMN extra INT")
    assert _denied(app, "DROP TABLE grants_probe")
    assert _denied(app, "SELECT COUNT(*) FROM mysql.user")
    assert _denied(migrate, "CREATE DATABASE other_schema")
    with pytest.raises(MySQLdb.OperationalError):
        _login(tls_writer, "phoenix_app", "app-Pa55'\"%", tls=False)  # REQUIRE SSL
    app.close()
    migrate.close()

    # Run again after the secret changed (a DR restore's new stack, a rotation): re-keyed.
    secrets.put_secret_value(SecretId=ids[1], SecretString=json.dumps({"username": "phoenix_app", "password": "n3w"}))
    assert _run(tls_writer, moto_endpoint, subprocess_env, *ids).returncode == 0
    _login(tls_writer, "phoenix_app", "n3w").close()
    with pytest.raises(MySQLdb.OperationalError):
        _login(tls_writer, "phoenix_app", "app-Pa55'\"%")
    tls_writer.query("DROP TABLE grants_probe")


def test_it_refuses_a_secret_without_credentials_with_one_line(tls_writer, aws, moto_endpoint, subprocess_env):
    secrets = aws.client("secretsmanager")
    broken = secrets.create_secret(Name="broken", SecretString="not json")["ARN"]
    master = _secret(secrets, "rds!cluster", "phoenix_admin", "wrong-pw")
    migrate = _secret(secrets, "m", "phoenix_migrate", "x")
    result = _run(tls_writer, moto_endpoint, subprocess_env, master, broken, migrate)
    assert result.returncode == 1
    assert 'must be JSON with "username" and "password"' in result.stderr
    app = _secret(secrets, "a", "phoenix_app", "x")
    wrong = _run(tls_writer, moto_endpoint, subprocess_env, master, app, migrate)
    assert wrong.returncode == 1 and "the writer refused" in wrong.stderr
    assert "Traceback" not in result.stderr + wrong.stderr
