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
    PHOENIX_DB_SECRET_ID    Secrets Manager secret with {"username", "password"} (the RDS-managed
                            master secret, or an application user's secret)
    PHOENIX_DB_WRITER_HOST  Aurora cluster endpoint   -> DATABASE_URL
    PHOENIX_DB_READER_HOST  Aurora reader endpoint    -> DATABASE_READER_URL (optional)
    PHOENIX_DB_PORT         default 3306
    PHOENIX_DB_NAME         default phoenix
    PHOENIX_DB_SSL_CA       CA bundle for TLS to the database (the AMI's RDS bundle), unless
                            Parameter Store names another
    AWS_ENDPOINT_URL        honoured by boto3 (tests point it at a moto server on loopback)

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
import re
import subprocess
import sys
import tempfile
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


OVERRIDABLE = ("PHOENIX_DB_WRITER_HOST", "PHOENIX_DB_READER_HOST", "PHOENIX_DB_SECRET_ID", "PHOENIX_DB_NAME")


def collect(session, env: dict[str, str]) -> tuple[dict[str, str], str]:
    """Return the variables for the environment file and the database password."""
    missing = [
        key for key in ("PHOENIX_SSM_PATH", "PHOENIX_DB_SECRET_ID", "PHOENIX_DB_WRITER_HOST") if not env.get(key)
    ]
    if missing:
        raise ConfigError(f"set {', '.join(missing)} (deploy/userdata.sh writes them to /etc/phoenix/source.env)")
    variables = ssm_variables(session.client("ssm"), env["PHOENIX_SSM_PATH"])
    # The endpoints and the secret may also live in Parameter Store, where they win over the
    # launch template's values: that is how a cutover moves every instance to a new cluster
    # (docs/cutover.md) while the password keeps coming from the rotating secret.
    env = {**env, **{key: variables.pop(key) for key in OVERRIDABLE if variables.get(key)}}
    response = session.client("secretsmanager").get_secret_value(SecretId=env["PHOENIX_DB_SECRET_ID"])
    try:
        secret = json.loads(response["SecretString"])
    except (KeyError, ValueError):
        raise ConfigError(f"secret {env['PHOENIX_DB_SECRET_ID']} is not a JSON SecretString") from None
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path("/etc/phoenix/env"))
    parser.add_argument(
        "--password-file", type=Path, default=None, help="database password file (default: db-password beside --output)"
    )
    parser.add_argument("--owner", default="", help="user that owns the files (the service user)")
    parser.add_argument("--reload", nargs="*", default=[], metavar="UNIT", help="systemd units to reload on change")
    args = parser.parse_args(argv)
    password_file = args.password_file or args.output.with_name("db-password")

    import boto3  # imported here so that gunicorn.conf.py can load this module without boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        session = boto3.session.Session(region_name=os.environ.get("AWS_REGION") or None)
        variables, password = collect(session, dict(os.environ))
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
