"""Turn DATABASE_URL-style variables into Django database settings, with clear errors."""

import os

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

SUPPORTED_SCHEMES = ("mysql", "sqlite")


# Seconds a MySQL connection may wait on its server, per role: (connect, read, write). The
# read timeout is how long one wait for the server's answer may last (a statement that runs
# longer fails with 2013, "lost connection"); it is what frees a gunicorn thread from a silent
# (partitioned) or hung server, so it must stay well below gunicorn's 30 s timeout. The reader
# serves short page reads and has the writer to fall back on: it gets the shortest budget. The
# writer's is longer (a write may wait for row locks), and `manage.py migrate` runs with a
# longer one (deploy/userdata.sh): an ALTER TABLE may take minutes.
TIMEOUTS = {"writer": (1, 10, 10), "reader": (1, 2, 2)}
# Seconds a writer session waits for a row lock (innodb_lock_wait_timeout; PHOENIX_DB_LOCK_WAIT_TIMEOUT).
LOCK_WAIT_SECONDS = 5
# Environment variables that override them, per role.
TIMEOUT_VARIABLES = {
    "writer": ("PHOENIX_DB_CONNECT_TIMEOUT", "PHOENIX_DB_READ_TIMEOUT", "PHOENIX_DB_WRITE_TIMEOUT"),
    "reader": (
        "PHOENIX_DB_READER_CONNECT_TIMEOUT",
        "PHOENIX_DB_READER_READ_TIMEOUT",
        "PHOENIX_DB_READER_WRITE_TIMEOUT",
    ),
}


def database_config(name: str, default: str = "", role: str = "writer") -> dict:
    """Return the DATABASES entry for the URL in environment variable NAME.

    MySQL connections get utf8mb4, strict mode and short timeouts (per ``role``, "writer" or
    "reader": see TIMEOUTS) so that a dead or silent endpoint fails fast instead of holding a
    request for minutes.
    """
    url = os.environ.get(name, "") or default
    if not url:
        raise ImproperlyConfigured(f"{name} is not set")
    scheme = url.split(":", 1)[0]
    if "://" not in url or scheme not in SUPPORTED_SCHEMES:
        raise ImproperlyConfigured(
            f"{name} is not a database URL Phoenix understands: expected "
            "mysql://user:password@host:3306/name or sqlite:///path/to/file.sqlite3"
        )
    try:
        config = dj_database_url.parse(url, conn_max_age=_conn_max_age(), conn_health_checks=True)
    except Exception as exc:  # dj-database-url raises several types for malformed input
        raise ImproperlyConfigured(
            f"{name} is malformed ({exc}); expected mysql://user:password@host:3306/name"
        ) from None
    if config["ENGINE"] == "django.db.backends.mysql":
        # Django's MySQL backend plus failover handling and read-your-writes (phoenix/db).
        config["ENGINE"] = "phoenix.db.backends.mysql"
        password_file = os.environ.get("PHOENIX_DB_PASSWORD_FILE")
        if password_file:
            # Read at every new connection, so a rotated password needs no restart.
            config["PASSWORD_FILE"] = password_file
        if not config.get("NAME"):
            raise ImproperlyConfigured(f"{name} has no database name: mysql://user:password@host:3306/name")
        try:
            config.get("PORT") and int(config["PORT"])
        except ValueError:
            raise ImproperlyConfigured(f"{name} has a port that is not a number") from None
        options = config.setdefault("OPTIONS", {})
        options.setdefault("charset", "utf8mb4")
        init = "SET sql_mode='STRICT_TRANS_TABLES'"
        if role == "writer":
            # A row lock waited on longer than this fails the statement with 1205 (the busy
            # class: 503 with Retry-After, an idempotent ingest retried once) instead of
            # holding a thread for InnoDB's default 50 s.
            init += f", innodb_lock_wait_timeout={_seconds('PHOENIX_DB_LOCK_WAIT_TIMEOUT', LOCK_WAIT_SECONDS)}"
        options.setdefault("init_command", init)
        for option, variable, seconds in zip(
            ("connect_timeout", "read_timeout", "write_timeout"), TIMEOUT_VARIABLES[role], TIMEOUTS[role], strict=True
        ):
            options.setdefault(option, _seconds(variable, seconds))
        ca = os.environ.get("PHOENIX_DB_SSL_CA")
        if ca:
            # TLS to Aurora: verify the server against the RDS CA bundle.
            options["ssl"] = {"ca": ca}
            options["ssl_mode"] = "VERIFY_IDENTITY"
    else:
        config["CONN_MAX_AGE"] = 0
    return config


def _seconds(variable: str, default: int) -> int:
    value = os.environ.get(variable, "").strip()
    if not value:
        return default
    try:
        seconds = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{variable} must be a whole number of seconds") from None
    if seconds < 1:
        raise ImproperlyConfigured(f"{variable} must be at least 1 second (0 would mean: wait forever)")
    return seconds


def _conn_max_age() -> int:
    value = os.environ.get("PHOENIX_CONN_MAX_AGE", "60")
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured("PHOENIX_CONN_MAX_AGE must be a whole number of seconds") from None
