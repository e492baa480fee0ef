"""The user data's configuration step (deploy/phoenix_env.py) against moto's server on loopback.

SSM parameters and a Secrets Manager secret go in; /etc/phoenix/env comes out, mode 0600, in a
syntax that systemd, bash (userdata.sh sources it) and gunicorn.conf.py all read the same way.
"""

import json
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from deploy.rehearse.faults import BrownOut
from phoenix.dburl import database_config
from tests.deploy.conftest import REPO

SCRIPT = REPO / "deploy" / "phoenix_env.py"
# Characters that break naive quoting: quotes, $, backslash, backtick, spaces, #, =.
AWKWARD = "k3y w1th \"quotes\" 'single' $HOME \\back\\slash `tick` #hash =equals"
PASSWORD = "p@ss/w:rd%?&#'\"$x"  # what URL-encoding must survive


def _load_module():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import phoenix_env
    finally:
        sys.path.pop(0)
    return phoenix_env


phoenix_env = _load_module()


@pytest.fixture
def configured(aws):
    """Create /phoenix/prod/ parameters, a staging one that must not leak, and the DB secret."""
    ssm = aws.client("ssm")
    ssm.put_parameter(Name="/phoenix/prod/DJANGO_SECRET_KEY", Value=AWKWARD, Type="SecureString")
    ssm.put_parameter(Name="/phoenix/prod/DJANGO_ALLOWED_HOSTS", Value="track.example.com", Type="String")
    ssm.put_parameter(Name="/phoenix/prod/mail/PHOENIX_MAIL_FROM", Value="noreply@example.com", Type="String")
    ssm.put_parameter(Name="/phoenix/staging/DJANGO_ALLOWED_HOSTS", Value="staging.example.com", Type="String")
    secret = aws.client("secretsmanager").create_secret(
        Name="rds!cluster-phoenix", SecretString=json.dumps({"username": "phoenix_admin", "password": PASSWORD})
    )
    return secret["ARN"]


def _run(env: dict, output: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--output", str(output), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _source_env(moto_endpoint, subprocess_env, secret_id: str) -> dict:
    return {
        **subprocess_env,
        **moto_endpoint,
        "PHOENIX_SSM_PATH": "/phoenix/prod/",
        "PHOENIX_DB_SECRET_ID": secret_id,
        "PHOENIX_DB_WRITER_HOST": "phoenix.cluster-abc.us-east-1.rds.amazonaws.com",
        "PHOENIX_DB_READER_HOST": "phoenix.cluster-ro-abc.us-east-1.rds.amazonaws.com",
    }


def _bash_view(path: Path, names: list[str]) -> dict:
    """Return what `set -a; . PATH` (as deploy/userdata.sh does) puts in the environment."""
    script = 'set -a; . "$1"; set +a; shift; for n in "$@"; do printf "%s\\0" "${!n}"; done'
    out = subprocess.run(["bash", "-c", script, "bash", str(path), *names], capture_output=True, check=True).stdout
    return dict(zip(names, out.decode().split("\0")[:-1], strict=True))


def test_it_writes_the_environment_file_from_ssm_and_secrets_manager(
    configured, moto_endpoint, subprocess_env, tmp_path
):
    output = tmp_path / "etc" / "phoenix" / "env"
    result = _run(_source_env(moto_endpoint, subprocess_env, configured), output)

    assert result.returncode == 0, result.stderr
    assert "updated" in result.stdout
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    variables = phoenix_env.read_env_file(output)
    assert variables["DJANGO_SECRET_KEY"] == AWKWARD
    assert variables["DJANGO_ALLOWED_HOSTS"] == "track.example.com"
    assert variables["PHOENIX_MAIL_FROM"] == "noreply@example.com"
    assert set(variables) == {
        "DJANGO_SECRET_KEY",
        "DJANGO_ALLOWED_HOSTS",
        "PHOENIX_MAIL_FROM",
        "DATABASE_URL",
        "DATABASE_READER_URL",
        "PHOENIX_DB_PASSWORD_FILE",
        "AWS_REGION",  # from source.env: the application's AWS clients sign for the instance's region
    }
    password_file = Path(variables["PHOENIX_DB_PASSWORD_FILE"])
    assert password_file == output.with_name("db-password")
    assert password_file.read_text() == PASSWORD + "\n"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert "staging" not in output.read_text()
    assert _bash_view(output, sorted(variables)) == variables


def test_it_builds_database_urls_that_the_settings_parse_back(
    configured, moto_endpoint, subprocess_env, tmp_path, monkeypatch
):
    output = tmp_path / "env"
    assert _run(_source_env(moto_endpoint, subprocess_env, configured), output).returncode == 0
    variables = phoenix_env.read_env_file(output)

    for name, host in (("DATABASE_URL", "phoenix.cluster-abc"), ("DATABASE_READER_URL", "phoenix.cluster-ro-abc")):
        monkeypatch.setenv(name, variables[name])
        config = database_config(name)
        assert config["USER"] == "phoenix_admin"
        assert config["PASSWORD"] == PASSWORD
        assert config["HOST"].startswith(host)
        assert config["NAME"] == "phoenix"
        assert urlparse(variables[name]).port == 3306


def test_it_picks_up_a_rotated_password_and_leaves_an_unchanged_file_alone(
    configured, aws, moto_endpoint, subprocess_env, tmp_path
):
    env = _source_env(moto_endpoint, subprocess_env, configured)
    output = tmp_path / "env"
    assert _run(env, output).returncode == 0
    before = output.stat().st_ino

    again = _run(env, output)
    assert again.returncode == 0 and "unchanged" in again.stdout
    assert output.stat().st_ino == before

    aws.client("secretsmanager").put_secret_value(
        SecretId=configured, SecretString=json.dumps({"username": "phoenix_admin", "password": "rotated-Pa55"})
    )
    rotated = _run(env, output)
    assert rotated.returncode == 0 and "updated" in rotated.stdout
    assert ":rotated-Pa55@" in phoenix_env.read_env_file(output)["DATABASE_URL"]
    assert (tmp_path / "db-password").read_text() == "rotated-Pa55\n"
    assert stat.S_IMODE(output.stat().st_mode) == 0o600


def test_endpoints_in_parameter_store_win_so_a_cutover_moves_every_instance(
    configured, aws, moto_endpoint, subprocess_env, tmp_path
):
    """docs/cutover.md step 7: the target's endpoints and secret go into Parameter Store."""
    target = aws.client("secretsmanager").create_secret(
        Name="phoenix-target-app", SecretString=json.dumps({"username": "phoenix_app", "password": "t4rget"})
    )
    ssm = aws.client("ssm")
    ssm.put_parameter(
        Name="/phoenix/prod/PHOENIX_DB_WRITER_HOST", Value="new.cluster-xyz.rds.amazonaws.com", Type="String"
    )
    ssm.put_parameter(
        Name="/phoenix/prod/PHOENIX_DB_READER_HOST", Value="new.cluster-ro-xyz.rds.amazonaws.com", Type="String"
    )
    ssm.put_parameter(Name="/phoenix/prod/PHOENIX_DB_SECRET_ID", Value=target["ARN"], Type="String")
    output = tmp_path / "env"
    result = _run(_source_env(moto_endpoint, subprocess_env, configured), output)
    assert result.returncode == 0, result.stderr
    variables = phoenix_env.read_env_file(output)
    assert variables["DATABASE_URL"] == "mysql://phoenix_app:t4rget@new.cluster-xyz.rds.amazonaws.com:3306/phoenix"
    assert (
        variables["DATABASE_READER_URL"]
        == "mysql://phoenix_app:t4rget@new.cluster-ro-xyz.rds.amazonaws.com:3306/phoenix"
    )
    assert "PHOENIX_DB_WRITER_HOST" not in variables


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("no-parameters", "no SSM parameters under /phoenix/prod/"),
        ("bad-name", "cannot become an environment variable"),
        ("secret-not-json", "is not a JSON SecretString"),
        ("secret-without-password", '"username" and "password"'),
        ("missing-secret", "AWS refused"),
    ],
)
def test_it_refuses_bad_input_with_one_line_and_writes_nothing(
    aws, moto_endpoint, subprocess_env, tmp_path, setup, message
):
    ssm, secrets = aws.client("ssm"), aws.client("secretsmanager")
    if setup != "no-parameters":
        ssm.put_parameter(Name="/phoenix/prod/DJANGO_SECRET_KEY", Value="x" * 60, Type="SecureString")
    if setup == "bad-name":
        ssm.put_parameter(Name="/phoenix/prod/django-debug", Value="1", Type="String")
    secret_value = {"secret-not-json": "not json", "secret-without-password": json.dumps({"username": "u"})}.get(
        setup, json.dumps({"username": "u", "password": "p"})
    )
    arn = secrets.create_secret(Name="db", SecretString=secret_value)["ARN"]
    secret_id = arn if setup != "missing-secret" else arn + "-gone"
    output = tmp_path / "env"

    result = _run(_source_env(moto_endpoint, subprocess_env, secret_id), output)

    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == [], "nothing may be written"


def test_it_says_which_setting_is_missing(moto_endpoint, subprocess_env, tmp_path):
    result = _run({**subprocess_env, **moto_endpoint}, tmp_path / "env")
    assert result.returncode == 1
    assert "PHOENIX_SSM_PATH, PHOENIX_DB_SECRET_ID, PHOENIX_DB_WRITER_HOST" in result.stderr


def test_the_amis_defaults_fill_in_what_parameter_store_does_not_name(
    aws, configured, moto_endpoint, subprocess_env, tmp_path
):
    # userdata.sh passes the baked RDS CA bundle and the instance's region in source.env.
    env = {**_source_env(moto_endpoint, subprocess_env, configured), "PHOENIX_DB_SSL_CA": "/opt/phoenix/certs/rds.pem"}
    output = tmp_path / "env"

    assert _run(env, output).returncode == 0
    written = phoenix_env.read_env_file(output)
    assert written["PHOENIX_DB_SSL_CA"] == "/opt/phoenix/certs/rds.pem"
    assert written["AWS_REGION"] == "us-east-1"

    aws.client("ssm").put_parameter(Name="/phoenix/prod/PHOENIX_DB_SSL_CA", Value="/etc/other-ca.pem", Type="String")
    assert _run(env, output).returncode == 0
    assert phoenix_env.read_env_file(output)["PHOENIX_DB_SSL_CA"] == "/etc/other-ca.pem"  # Parameter Store wins


def test_the_application_secret_supplies_the_secret_key_and_its_fallbacks(aws, moto_endpoint, subprocess_env, tmp_path):
    """application.yaml's secret (replicated to the DR region) holds the key, not Parameter Store."""
    ssm, secrets = aws.client("ssm"), aws.client("secretsmanager")
    ssm.put_parameter(Name="/phoenix/prod/DJANGO_ALLOWED_HOSTS", Value="track.example.com", Type="String")
    database = secrets.create_secret(Name="db", SecretString=json.dumps({"username": "u", "password": "p"}))
    secrets.create_secret(
        Name="phoenix/prod/app",
        SecretString=json.dumps({"DJANGO_SECRET_KEY": AWKWARD, "DJANGO_SECRET_KEY_FALLBACKS": "old2,old1"}),
    )
    env = {**_source_env(moto_endpoint, subprocess_env, database["ARN"]), "PHOENIX_APP_SECRET_ID": "phoenix/prod/app"}
    output = tmp_path / "env"

    result = _run(env, output)

    assert result.returncode == 0, result.stderr
    variables = phoenix_env.read_env_file(output)
    assert variables["DJANGO_SECRET_KEY"] == AWKWARD
    assert variables["DJANGO_SECRET_KEY_FALLBACKS"] == "old2,old1"
    assert _bash_view(output, ["DJANGO_SECRET_KEY"]) == {"DJANGO_SECRET_KEY": AWKWARD}

    # Two sources for one setting is a mistake to fix, not to guess at.
    ssm.put_parameter(Name="/phoenix/prod/DJANGO_SECRET_KEY", Value="x" * 60, Type="SecureString")
    again = _run(env, tmp_path / "other")
    assert again.returncode == 1
    assert "DJANGO_SECRET_KEY is both in Parameter Store and in secret phoenix/prod/app" in again.stderr
    assert "Traceback" not in again.stderr
    assert not (tmp_path / "other").exists()


@pytest.fixture
def brown_out(moto_endpoint):
    """Parameter Store having a bad minute in front of moto: the first SSM call hangs past the
    client's 1 s timeout, the second is throttled, the rest reach moto."""
    with BrownOut(moto_endpoint["AWS_ENDPOINT_URL"], ("hang", "throttle"), hang_seconds=3.0) as server:
        yield server


def test_a_slow_and_throttled_parameter_store_is_retried_within_the_budget(
    configured, brown_out, moto_endpoint, subprocess_env, tmp_path
):
    env = {
        **_source_env(moto_endpoint, subprocess_env, configured),
        "AWS_ENDPOINT_URL": brown_out.url,
        "PHOENIX_AWS_TIMEOUT": "1",
    }
    output = tmp_path / "env"

    result = _run(env, output, "--retry-for", "60")

    assert result.returncode == 0, result.stderr
    assert result.stderr.count("retrying in") == 2, result.stderr
    assert "Read timeout" in result.stderr and "ThrottlingException" in result.stderr
    assert phoenix_env.read_env_file(output)["DJANGO_SECRET_KEY"] == AWKWARD
    assert brown_out.ssm_calls == 3


def test_without_a_retry_budget_a_brown_out_fails_with_one_line(
    configured, brown_out, moto_endpoint, subprocess_env, tmp_path
):
    env = {
        **_source_env(moto_endpoint, subprocess_env, configured),
        "AWS_ENDPOINT_URL": brown_out.url,
        "PHOENIX_AWS_TIMEOUT": "1",
    }
    result = _run(env, tmp_path / "env")

    assert result.returncode == 1
    assert "AWS refused or could not be reached" in result.stderr
    assert "Traceback" not in result.stderr
    assert brown_out.ssm_calls == 1
    assert list(tmp_path.iterdir()) == []


def test_a_refusal_is_not_retried(aws, moto_endpoint, subprocess_env, tmp_path):
    aws.client("ssm").put_parameter(Name="/phoenix/prod/DJANGO_ALLOWED_HOSTS", Value="x", Type="String")
    env = _source_env(moto_endpoint, subprocess_env, "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone")
    result = _run(env, tmp_path / "env", "--retry-for", "300")
    assert result.returncode == 1
    assert "ResourceNotFoundException" in result.stderr
    assert "retrying" not in result.stderr
