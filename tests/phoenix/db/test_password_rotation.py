"""A rotated database password is picked up by the next connection, without a restart."""

import secrets

import pytest

pytestmark = pytest.mark.cluster

# Runs inside one app process: connect, rotate the password (as Secrets Manager rotation plus
# the agent that rewrites the file would), drop the connection, connect again.
ROTATE = """
import os, MySQLdb
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SELECT 1")
root = MySQLdb.connect(unix_socket=os.environ["PHOENIX_WRITER_SOCKET"], user="root", autocommit=True)
root.cursor().execute("ALTER USER %s@'%%' IDENTIFIED BY %s", [os.environ["ROTATE_USER"], "second-" + os.environ["ROTATE_USER"]])
root.close()
with open(os.environ["PHOENIX_DB_PASSWORD_FILE"], "w") as f:
    f.write("second-" + os.environ["ROTATE_USER"] + "\\n")
connection.close()
with connection.cursor() as cursor:
    cursor.execute("SELECT CURRENT_USER()")
    print("reconnected as", cursor.fetchone()[0])
"""


def test_a_new_connection_reads_the_password_file_again(live_app, tmp_path):
    user = f"rot_{secrets.token_hex(3)}"
    password_file = tmp_path / "db-password"
    password_file.write_text("first\n")
    live_app.writer_sql(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'first'")
    try:
        live_app.writer_sql(f"GRANT ALL ON `{live_app.database}`.* TO '{user}'@'%'")
        url = live_app.env["DATABASE_URL"].replace("phoenix:phoenix-local@", f"{user}:not-this-one@")
        result = live_app.manage(
            "shell",
            "-c",
            ROTATE,
            env={"DATABASE_URL": url, "PHOENIX_DB_PASSWORD_FILE": str(password_file), "ROTATE_USER": user},
            check=False,
        )
    finally:
        live_app.writer_sql(f"DROP USER IF EXISTS '{user}'@'%'")
    assert result.returncode == 0, result.stderr
    assert f"reconnected as {user}@%" in result.stdout
