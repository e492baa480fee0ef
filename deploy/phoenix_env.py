#!/usr/bin/env python3
"""Write Phoenix's environment file from SSM Parameter Store and Secrets Manager.

Run by deploy/userdata.sh at first boot and by phoenix-env-refresh.timer afterwards:

    phoenix_env.py --output /etc/phoenix/env [--password-file /etc/phoenix/db-password]
                   [--owner phoenix] [--reload UNIT ...]

Where to read from comes from the environment (deploy/userdata.sh writes it to
/etc/phoenix/source.env):

    AWS_REGION              region of the APIs
    PHOENIX_SSM_PATH        e.g. /phoenix/prod/ : every parameter below it becomes a variable
                            named after its last path component (SecureStrings decrypted)
    PHOENIX_DB_SECRET_ID    Secrets Manager secret with {"username", "password"} (the
                            application user's secret of database.yaml)
    PHOENIX_APP_SECRET_ID   optional Secrets Manager secret holding a JSON object whose keys are
                            variables (application.yaml's DJANGO_SECRET_KEY and
                            DJANGO_SECRET_KEY_FALLBACKS, replicated to the DR region); a name
                            that Parameter Store also defines is refused
    PHOENIX_DB_WRITER_HOST  Aurora cluster endpoint   -> DATABASE_URL
    PHOENIX_DB_READER_HOST  Aurora reader endpoint    -> DATABASE_READER_URL (optional)
    PHOENIX_DB_PORT         default 3306
    PHOENIX_DB_NAME         default phoenix
    PHOENIX_DB_SSL_CA       CA bundle for TLS to the database (the AMI's RDS bundle), unless
                            Parameter Store names another
    AWS_ENDPOINT_URL        honoured by boto3 (tests point it at a moto server on loopback)
    PHOENIX_AWS_TIMEOUT     seconds one AWS call may take before it is retried (default 10)

With --retry-for SECONDS, a throttled, failing or silent AWS endpoint is retried with capped
exponential backoff and jitter until that budget is spent (the first boot gives it minutes, so
one Parameter Store brown-out does not fail a rollout); refusals (access denied, no such secret)
and bad input fail at once.

Both files are replaced atomically with mode 0600. The password file holds the database
password alone; the environment names it in PHOENIX_DB_PASSWORD_FILE, and the MySQL backend
reads it for every new connection, so a rotated password reaches new connections without a
restart. With --reload, the named systemd units are also reloaded (gunicorn: graceful worker
restart, re-reading the environment file) when anything changed. The exit status is 0 whether
or not anything changed, 1 with a one-line message when AWS or the input is wrong.
"""

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")
# Characters that a backslash escapes inside double quotes in a systemd EnvironmentFile.
ESCAPED = '"\\`$'


class ConfigError(Exception):
    """Input that cannot become an environment file; the message says what to fix."""


def ssm_variables(ssm, path: str) -> dict[str, str]:
    """Return {NAME: value} for every parameter under PATH, SecureStrings decrypted."""
    if not path.startswith("/"):
        raise ConfigError(f"PHOENIX_SSM_PATH must start with '/', got {path!r}")
    variables = {}
    paginator = ssm.get_paginator("get_parameters_by_path")
    for page in paginator.paginate(Path=path, Recursive=True, WithDecryption=True):
        for parameter in page["Parameters"]:
            name = parameter["Name"].rsplit("/", 1)[-1]
            if not NAME_RE.match(name):
                raise ConfigError(
                    f"SSM parameter {parameter['Name']} cannot become an environment variable: "
                    "name it with capitals, digits and underscores, e.g. DJANGO_SECRET_KEY"
                )
            variables[name] = parameter["Value"]
    if not variables:
        raise ConfigError(f"no SSM parameters under {path}; create them first (docs/deploy.md)")
    return variables


def database_urls(secret: dict, *, writer: str, reader: str, port: str, name: str) -> dict[str, str]:
    """Return DATABASE_URL (and DATABASE_READER_URL) built from a Secrets Manager secret."""
    try:
        user, password = secret["username"], secret["password"]
    except (KeyError, TypeError):
        raise ConfigError('the database secret must be JSON with "username" and "password"') from None
    credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
    name = secret.get("dbname") or name
    urls = {"DATABASE_URL": f"mysql://{credentials}@{writer}:{port}/{name}"}
    if reader:
        urls["DATABASE_READER_URL"] = f"mysql://{credentials}@{reader}:{port}/{name}"
    return urls


OVERRIDABLE = (
    "PHOENIX_DB_WRITER_HOST",
    "PHOENIX_DB_READER_HOST",
    "PHOENIX_DB_SECRET_ID",
    "PHOENIX_DB_MIGRATE_SECRET_ID",
    "PHOENIX_DB_NAME",
)


def secret_json(secrets, secret_id: str) -> dict:
    """Return the JSON object held by the SecretString of SECRET_ID."""
    # AWSCURRENT is AWS's default; named, because moto's server otherwise keeps answering the
    # version a rotation moved the label away from.
    response = secrets.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")
    try:
        value = json.loads(response["SecretString"])
    except (KeyError, ValueError):
        raise ConfigError(f"secret {secret_id} is not a JSON SecretString") from None
    if not isinstance(value, dict):
        raise ConfigError(f"secret {secret_id} is not a JSON SecretString") from None
    return value


def app_secret_variables(secrets, secret_id: str, configured: dict[str, str]) -> dict[str, str]:
    """Return {NAME: value} of the application secret, refusing names Parameter Store also sets."""
    variables = {}
    for name, value in secret_json(secrets, secret_id).items():
        if not NAME_RE.match(name) or not isinstance(value, str):
            raise ConfigError(
                f"secret {secret_id}: key {name!r} cannot become an environment variable "
                "(capitals, digits and underscores, string values)"
            )
        if name in configured:
            raise ConfigError(
                f"{name} is both in Parameter Store and in secret {secret_id}: delete the parameter "
                "(the secret is the one replicated to the DR region)"
            )
        variables[name] = value
    return variables


def collect(
    session, env: dict[str, str], config=None, user_variable: str = "PHOENIX_DB_SECRET_ID"
) -> tuple[dict[str, str], str]:
    """Return the variables for the environment file and the database password (CONFIG: botocore's).

    SECRET_VARIABLE names the variable that holds the database user's secret: the application
    user's by default, PHOENIX_DB_MIGRATE_SECRET_ID for the migrations at boot.
    """
    missing = [key for key in ("PHOENIX_SSM_PATH", user_variable, "PHOENIX_DB_WRITER_HOST") if not env.get(key)]
    if missing:
        raise ConfigError(f"set {', '.join(missing)} (deploy/userdata.sh writes them to /etc/phoenix/source.env)")
    variables = ssm_variables(session.client("ssm", config=config), env["PHOENIX_SSM_PATH"])
    secrets = session.client("secretsmanager", config=config)
    if env.get("PHOENIX_APP_SECRET_ID"):
        variables.update(app_secret_variables(secrets, env["PHOENIX_APP_SECRET_ID"], variables))
    # The endpoints and the secret may also live in Parameter Store, where they win over the
    # launch template's values: that is how a cutover moves every instance to a new cluster
    # (docs/cutover.md) while the password keeps coming from the rotating secret.
    env = {**env, **{key: variables.pop(key) for key in OVERRIDABLE if variables.get(key)}}
    secret = secret_json(secrets, env[user_variable])
    variables.update(
        database_urls(
            secret,
            writer=env["PHOENIX_DB_WRITER_HOST"],
            reader=env.get("PHOENIX_DB_READER_HOST", ""),
            port=env.get("PHOENIX_DB_PORT") or "3306",
            name=env.get("PHOENIX_DB_NAME") or "phoenix",
        )
    )
    # The application's AWS clients (SES, S3 presigned URLs) sign for the instance's region.
    for key in ("AWS_REGION", "PHOENIX_DB_SSL_CA"):
        if env.get(key):
            variables.setdefault(key, env[key])
    return variables, secret["password"]


def render_env_file(variables: dict[str, str]) -> str:
    """Return the variables in systemd EnvironmentFile syntax (double-quoted, escaped)."""
    lines = ["# Written by deploy/phoenix_env.py from SSM and Secrets Manager. Do not edit."]
    for key in sorted(variables):
        value = variables[key]
        if "\n" in value or "\r" in value:
            raise ConfigError(f"{key} contains a line break, which an environment file cannot hold")
        escaped = "".join("\\" + char if char in ESCAPED else char for char in value)
        lines.append(f'{key}="{escaped}"')
    return "\n".join(lines) + "\n"


def read_env_file(path: Path) -> dict[str, str]:
    """Return the variables of a file that render_env_file wrote (used by gunicorn.conf.py)."""
    variables = {}
    for line in path.read_text().splitlines():
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r"\\([\"\\`$])", r"\1", value[1:-1])
        variables[key.strip()] = value
    return variables


def write_if_changed(path: Path, content: str, owner: str = "") -> bool:
    """Atomically replace PATH (mode 0600) with CONTENT; return whether it changed."""
    if path.exists() and path.read_text() == content:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary file is created 0600 by mkstemp, so the secret is never world-readable.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        if owner:
            import pwd

            entry = pwd.getpwnam(owner)
            os.chown(tmp, entry.pw_uid, entry.pw_gid)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


# Answers that say "try again later" rather than "no".
RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalFailure",
        "InternalServiceError",
        "ServiceUnavailable",
    }
)


def retryable(exc: Exception) -> bool:
    """Return whether EXC is a brown-out (throttled, 5xx, timeout, no connection) worth retrying."""
    from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error.get("Code") in RETRYABLE_CODES or status >= 500
    # Timeouts, refused or reset connections, and credentials the instance profile has not
    # served yet (early boot) are all BotoCoreErrors; a malformed request is not transient.
    return isinstance(exc, BotoCoreError) and not isinstance(exc, ParamValidationError)


def collect_with_retries(session, env: dict[str, str], budget: float, config=None, **options) -> tuple[dict, str]:
    """Return collect()'s result, retrying brown-outs with capped exponential backoff for BUDGET seconds."""
    deadline = time.monotonic() + budget
    attempt = 0
    while True:
        attempt += 1
        try:
            return collect(session, env, config, **options)
        except ConfigError:
            raise
        except Exception as exc:
            # Full jitter (a fleet booting together does not retry in step), at most 30 s apart.
            delay = random.uniform(0, min(30.0, 2.0**attempt))
            if not retryable(exc) or time.monotonic() + delay > deadline:
                raise
            print(f"phoenix_env: attempt {attempt} failed ({exc}); retrying in {delay:.1f} s", file=sys.stderr)
            time.sleep(delay)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path("/etc/phoenix/env"))
    parser.add_argument(
        "--password-file", type=Path, default=None, help="database password file (default: db-password beside --output)"
    )
    parser.add_argument("--owner", default="", help="user that owns the files (the service user)")
    parser.add_argument("--reload", nargs="*", default=[], metavar="UNIT", help="systemd units to reload on change")
    parser.add_argument(
        "--db-secret-variable",
        default="PHOENIX_DB_SECRET_ID",
        help="variable naming the database user's secret (PHOENIX_DB_MIGRATE_SECRET_ID for migrations)",
    )
    parser.add_argument(
        "--retry-for", type=float, default=0.0, metavar="SECONDS", help="retry throttled or silent AWS for this long"
    )
    args = parser.parse_args(argv)
    password_file = args.password_file or args.output.with_name("db-password")

    import boto3  # imported here so that gunicorn.conf.py can load this module without boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    # One attempt per call, bounded in time: the retries are ours (collect_with_retries), so
    # that the whole read has one budget instead of botocore's 60 s read timeout per attempt.
    seconds = float(os.environ.get("PHOENIX_AWS_TIMEOUT") or 10)
    config = Config(
        connect_timeout=seconds, read_timeout=seconds, retries={"mode": "standard", "total_max_attempts": 1}
    )
    try:
        session = boto3.session.Session(region_name=os.environ.get("AWS_REGION") or None)
        variables, password = collect_with_retries(
            session, dict(os.environ), args.retry_for, config, user_variable=args.db_secret_variable
        )
        variables["PHOENIX_DB_PASSWORD_FILE"] = str(password_file)
        content = render_env_file(variables)
        # The password first: new connections pick it up even before the services reload.
        changed = write_if_changed(password_file, password + "\n", args.owner)
        changed = write_if_changed(args.output, content, args.owner) or changed
    except ConfigError as exc:
        print(f"phoenix_env: {exc}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as exc:
        print(f"phoenix_env: AWS refused or could not be reached: {exc}", file=sys.stderr)
        return 1
    except KeyError as exc:
        print(f"phoenix_env: unknown owner {args.owner!r}: {exc}", file=sys.stderr)
        return 1
    state = "updated" if changed else "unchanged"
    print(f"phoenix_env: {args.output} and {password_file} {state} ({len(variables)} variables)")
    if changed and args.reload:
        subprocess.run(["systemctl", "try-reload-or-restart", *args.reload], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
