#!/usr/bin/env python3
"""Create (or re-key) Phoenix's two database users on the Aurora writer, as its master user.

Run once per cluster, after the database stack and before the application stack (and again
after a restore in the DR region, whose stack made new passwords); docs/deploy.md section 3:

    db_users.py --writer HOST [--port 3306] [--database phoenix] [--ssl-ca BUNDLE]
                --master-secret ARN --app-secret ARN --migrate-secret ARN

The three secrets are database.yaml's (RDS's master secret, AppUserSecret, MigrateUserSecret),
read from Secrets Manager with the operator's own credentials: the instances cannot read the
master secret. What it does, idempotently:

- the application user (`phoenix_app`): SELECT, INSERT, UPDATE, DELETE on the schema, and
  REPLICATION CLIENT (the replica-lag probe reads the replica's status); no DDL;
- the migration user (`phoenix_migrate`): those plus CREATE, ALTER, DROP, INDEX, REFERENCES
  on the schema, for `manage.py migrate_locked` at boot only;
- both REQUIRE SSL, and their passwords set to the secrets' current values.

With --ssl-ca the server's certificate is verified (and its name too, unless --writer is a
loopback address: a Session Manager port forward). The exit status is 1 with a one-line
message when a secret or the server refuses.
"""

import argparse
import ipaddress
import json
import os
import re
import sys

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
APP_GRANTS = "SELECT, INSERT, UPDATE, DELETE"
MIGRATE_GRANTS = APP_GRANTS + ", CREATE, ALTER, DROP, INDEX, REFERENCES"


class BootstrapError(Exception):
    """A secret or the server refused; the message says which."""


def credentials(secrets, secret_id: str) -> tuple[str, str]:
    """Return (username, password) of a Secrets Manager secret holding them as JSON."""
    try:
        value = json.loads(secrets.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")["SecretString"])
        user, password = value["username"], value["password"]
    except (KeyError, TypeError, ValueError):
        raise BootstrapError(f'secret {secret_id} must be JSON with "username" and "password"') from None
    if not NAME_RE.match(user):
        raise BootstrapError(f"secret {secret_id}: user name {user!r} must be letters, digits and underscores")
    return user, password


def statements(database: str, users: list[tuple[str, str, str]]) -> list[tuple[str, list[str]]]:
    """Return the SQL that creates each (user, password, grants) with only those grants on DATABASE."""
    if not NAME_RE.match(database):
        raise BootstrapError(f"database name {database!r} must be letters, digits and underscores")
    sql = []
    for user, password, grants in users:
        sql += [
            (f"CREATE USER IF NOT EXISTS '{user}'@'%%' IDENTIFIED BY %s REQUIRE SSL", [password]),
            (f"ALTER USER '{user}'@'%%' IDENTIFIED BY %s REQUIRE SSL", [password]),
            # Start from nothing, so a grant removed here is removed on the server too.
            (f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{user}'@'%%'", []),
            (f"GRANT {grants} ON `{database}`.* TO '{user}'@'%%'", []),
            (f"GRANT REPLICATION CLIENT ON *.* TO '{user}'@'%%'", []),
        ]
    return sql


def connect(host: str, port: int, user: str, password: str, ssl_ca: str):
    """Return a MySQLdb connection to the writer as USER, over verified TLS when SSL_CA is given."""
    import MySQLdb

    options = {}
    if ssl_ca:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        options = {"ssl": {"ca": ssl_ca}, "ssl_mode": "VERIFY_CA" if loopback else "VERIFY_IDENTITY"}
    return MySQLdb.connect(host=host, port=port, user=user, password=password, connect_timeout=10, **options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--writer", required=True, help="the cluster (writer) endpoint, or 127.0.0.1 for a port forward"
    )
    parser.add_argument("--port", type=int, default=3306)
    parser.add_argument("--database", default="phoenix")
    parser.add_argument("--ssl-ca", default="", help="CA bundle that verifies the server (the RDS bundle)")
    parser.add_argument("--master-secret", required=True)
    parser.add_argument("--app-secret", required=True)
    parser.add_argument("--migrate-secret", required=True)
    args = parser.parse_args(argv)

    import boto3
    import MySQLdb
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
        secrets = boto3.session.Session(region_name=region).client("secretsmanager")
        master = credentials(secrets, args.master_secret)
        app = credentials(secrets, args.app_secret)
        migrate = credentials(secrets, args.migrate_secret)
        if len({master[0], app[0], migrate[0]}) != 3:
            raise BootstrapError("the master, application and migration users must be three different users")
        sql = statements(args.database, [(*app, APP_GRANTS), (*migrate, MIGRATE_GRANTS)])
        connection = connect(args.writer, args.port, *master, args.ssl_ca)
        try:
            with connection.cursor() as cursor:
                for statement, params in sql:
                    cursor.execute(statement, params)
            connection.commit()
        finally:
            connection.close()
    except BootstrapError as exc:
        print(f"db_users: {exc}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as exc:
        print(f"db_users: Secrets Manager refused or could not be reached: {exc}", file=sys.stderr)
        return 1
    except MySQLdb.Error as exc:
        print(f"db_users: the writer refused: {exc}", file=sys.stderr)
        return 1
    print(f"db_users: {app[0]} (data) and {migrate[0]} (data and DDL) on `{args.database}` are set")
    return 0


if __name__ == "__main__":
    sys.exit(main())
