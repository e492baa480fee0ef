"""deploy/userdata.sh end to end: first boot of an instance, on the parts this machine can run.

Real: the script itself, bash, curl, runuser, deploy/phoenix_env.py against moto's server
(SSM, Secrets Manager), `manage.py migrate_locked` against the local MariaDB writer, and
gunicorn with deploy/gunicorn.conf.py answering the health check.

Stand-ins, because they cannot run here: the EC2 instance metadata service (a loopback server
that, like IMDSv2, answers only with a session token), `systemctl` (no systemd as PID 1 in
this container; the stand-in starts gunicorn the way phoenix.service does), `cfn-signal` and
the CloudWatch agent's control script (no CloudFormation or agent here; both only record
their arguments).
"""

import getpass
import http.server
import json
import os
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from deploy.rehearse.faults import WriterOutage
from tests.deploy.conftest import REPO, free_port

TOKEN = "imds-session-token-1234"


class FakeImds(http.server.BaseHTTPRequestHandler):
    """IMDSv2: PUT /latest/api/token gives a token; metadata needs it, or 401."""

    requests: list[tuple[str, str, bool]] = []
    metadata = {"placement/region": "us-east-1", "instance-id": "i-0123456789abcdef0"}

    def do_PUT(self):
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            self._answer(200, TOKEN)
        else:
            self._answer(400, "")

    def do_GET(self):
        has_token = self.headers.get("X-aws-ec2-metadata-token") == TOKEN
        self.requests.append(("GET", self.path, has_token))
        key = self.path.removeprefix("/latest/meta-data/")
        if not has_token:
            self._answer(401, "")
        elif key in self.metadata:
            self._answer(200, self.metadata[key])
        else:
            self._answer(404, "")

    def _answer(self, status: int, body: str):
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def imds():
    FakeImds.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeImds)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


SYSTEMCTL = """#!/usr/bin/env bash
# Stand-in for systemctl: records the call; `start phoenix.service` does what the unit does.
set -euo pipefail
echo "$*" >>"$FAKE_LOG/systemctl"
if [ "$*" = "start phoenix.service" ]; then
    set -a; . "$PHOENIX_ETC/env"; set +a
    export PHOENIX_ENV_FILE="$PHOENIX_ETC/env"
    cd "$PHOENIX_PREFIX/app"
    setsid "$PHOENIX_PREFIX/venv/bin/gunicorn" --config deploy/gunicorn.conf.py \\
        >"$FAKE_LOG/gunicorn.log" 2>&1 </dev/null &
    echo $! >"$FAKE_LOG/gunicorn.pid"
fi
"""
RECORDER = """#!/usr/bin/env bash
echo "$*" >>"$FAKE_LOG/{name}"
"""


@pytest.fixture
def instance(tmp_path, imds, aws, moto_endpoint, fresh_database):
    """Lay out an AMI-like tree in tmp_path and return (environment for userdata.sh, paths)."""
    root = tmp_path / "root"
    prefix, etc, units, cwagent, fake_bin, log = (
        root / "opt/phoenix",
        root / "etc/phoenix",
        root / "etc/systemd/system",
        root / "opt/aws/amazon-cloudwatch-agent",
        tmp_path / "bin",
        tmp_path / "log",
    )
    for directory in (prefix, units, cwagent / "etc", cwagent / "bin", fake_bin, log):
        directory.mkdir(parents=True)
    (prefix / "app").symlink_to(REPO)
    (prefix / "venv").symlink_to(REPO / ".venv")
    for unit in (REPO / "deploy/systemd").iterdir():
        (units / unit.name).write_text(unit.read_text())
    (cwagent / "etc/phoenix.json.template").write_text((REPO / "deploy/cloudwatch-agent.json").read_text())
    scripts = {
        fake_bin / "systemctl": SYSTEMCTL,
        fake_bin / "cfn-signal": RECORDER.format(name="cfn-signal"),
        cwagent / "bin/amazon-cloudwatch-agent-ctl": RECORDER.format(name="cwagent"),
    }
    for path, text in scripts.items():
        path.write_text(text)
        path.chmod(0o755)

    name, _ = fresh_database
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "GUNICORN_", "AWS_"))}
    env.update(moto_endpoint)
    env.pop("AWS_REGION")  # the script takes the region from the instance metadata
    env.update(
        {
            "PATH": f"{fake_bin}:{os.environ['PATH']}",
            "FAKE_LOG": str(log),
            "PHOENIX_PREFIX": str(prefix),
            "PHOENIX_ETC": str(etc),
            "PHOENIX_UNIT_DIR": str(units),
            "PHOENIX_CWAGENT_DIR": str(cwagent),
            "PHOENIX_IMDS_URL": imds,
            # /healthz comes with the routing branch; the home page needs the migrated database.
            "PHOENIX_HEALTH_URL": f"http://127.0.0.1:{port}/",
            "PHOENIX_USER": getpass.getuser(),
            "PHOENIX_BOOT_LOG": str(log / "boot.log"),
            "PHOENIX_ENV": "test",
            "PHOENIX_DB_SECRET_ID": "rds!cluster-phoenix",
            "PHOENIX_DB_WRITER_HOST": "127.0.0.1",
            "PHOENIX_DB_PORT": os.environ["PHOENIX_WRITER_PORT"],
            "PHOENIX_DB_NAME": name,
            "PHOENIX_CFN_STACK": "phoenix-application",
            "PHOENIX_CFN_RESOURCE": "AutoScalingGroup",
            # The local servers speak plain MySQL (set but empty: no TLS); the AMI's default,
            # the baked RDS bundle, is tested below.
            "PHOENIX_DB_SSL_CA": "",
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": "1",
            "GUNICORN_THREADS": "2",
        }
    )
    aws.client("secretsmanager").create_secret(
        Name="rds!cluster-phoenix",
        SecretString=json.dumps({"username": "phoenix", "password": "phoenix-local"}),
    )
    yield env, etc, log, cwagent
    pid_file = log / "gunicorn.pid"
    if pid_file.exists():
        _stop_pid(int(pid_file.read_text()))


def _stop_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def _boot(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(REPO / "deploy/userdata.sh")], env=env, capture_output=True, text=True, timeout=400
    )


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _configure(aws, site_url: str = "https://track.example.com"):
    ssm = aws.client("ssm")
    if site_url:
        ssm.put_parameter(Name="/phoenix/test/PHOENIX_SITE_URL", Value=site_url, Type="String")
    ssm.put_parameter(Name="/phoenix/test/DJANGO_SECRET_KEY", Value="s" * 64, Type="SecureString")
    ssm.put_parameter(Name="/phoenix/test/DJANGO_ALLOWED_HOSTS", Value="localhost", Type="String")
    # The health check runs over plain HTTP on loopback, as on the instance behind the ALB.
    ssm.put_parameter(Name="/phoenix/test/DJANGO_SECURE_SSL_REDIRECT", Value="0", Type="String")


def test_first_boot_configures_migrates_starts_and_signals_success(instance, aws, writer_root, fresh_database):
    env, etc, log, cwagent = instance
    _configure(aws)

    result = _boot(env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert _lines(log / "cfn-signal") == [
        "--exit-code 0 --stack phoenix-application --resource AutoScalingGroup --region us-east-1"
    ]
    # IMDSv2: every metadata read carried the session token.
    assert FakeImds.requests and all(has_token for _, _, has_token in FakeImds.requests)
    assert stat.S_IMODE((etc / "env").stat().st_mode) == 0o600
    assert "DATABASE_URL=" in (etc / "env").read_text()
    assert 'PHOENIX_SITE_URL="https://track.example.com"' in (etc / "env").read_text()
    assert "PHOENIX_SSM_PATH=/phoenix/test/" in (etc / "source.env").read_text()
    assert '"/phoenix/test/web"' in (cwagent / "etc/phoenix.json").read_text()
    started = [line for line in _lines(log / "systemctl") if line.startswith("start ")]
    assert "start phoenix.service" in started
    assert "start phoenix-env-refresh.timer" in started
    assert "start phoenix-env-refresh.service" not in started
    name, _ = fresh_database
    with writer_root.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM `{name}`.django_migrations WHERE app = 'tracking'")
        assert cursor.fetchone()[0] >= 1


def test_a_writer_outage_at_migration_time_is_retried_and_the_boot_succeeds(instance, aws, writer_root, fresh_database):
    """The writer endpoint refuses connections for a few seconds from the boot's first one
    (deploy/rehearse/faults.py, a real TCP proxy), as during an Aurora failover."""
    env, etc, log, _ = instance
    _configure(aws)
    with WriterOutage(int(env["PHOENIX_DB_PORT"]), outage_seconds=4.0) as outage:
        result = _boot({**env, "PHOENIX_DB_PORT": str(outage.port), "PHOENIX_MIGRATE_RETRY_DELAY": "3"})

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert outage.refused >= 1
    assert "userdata: migrations failed (attempt 1 of 5); retrying in 3 s" in output
    assert _lines(log / "cfn-signal") == [
        "--exit-code 0 --stack phoenix-application --resource AutoScalingGroup --region us-east-1"
    ]
    name, _ = fresh_database
    with writer_root.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM `{name}`.django_migrations WHERE app = 'tracking'")
        assert cursor.fetchone()[0] >= 1


def test_a_failed_configuration_signals_failure_and_starts_nothing(instance, writer_root, fresh_database):
    env, etc, log, _ = instance
    # No SSM parameters at all: phoenix_env.py refuses, and the ERR trap signals failure.

    result = _boot(env)

    assert result.returncode != 0
    assert "no SSM parameters under /phoenix/test/" in result.stdout + result.stderr
    assert _lines(log / "cfn-signal") == [
        "--exit-code 1 --stack phoenix-application --resource AutoScalingGroup --region us-east-1"
    ]
    assert not [line for line in _lines(log / "systemctl") if line.startswith("start ")]
    assert not (etc / "env").exists()
    name, _ = fresh_database
    with writer_root.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", [name])
        assert cursor.fetchone() == (0,)


def _no_tables(writer_root, name: str) -> bool:
    with writer_root.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", [name])
        return cursor.fetchone() == (0,)


def test_a_site_url_customers_cannot_follow_fails_the_boot_before_migrating(instance, aws, writer_root, fresh_database):
    env, etc, log, _ = instance
    _configure(aws, site_url="")  # PHOENIX_SITE_URL missing: e-mail links would be http://127.0.0.1:8000
    del env["PHOENIX_DB_SSL_CA"]  # as on the AMI: the baked RDS bundle
    ca = Path(env["PHOENIX_PREFIX"]) / "certs/rds-global-bundle.pem"
    ca.parent.mkdir()
    ca.write_text("-----BEGIN CERTIFICATE-----\n")

    result = _boot(env)

    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "tracking.E001" in output and "PHOENIX_SITE_URL" in output
    assert _lines(log / "cfn-signal") == [
        "--exit-code 1 --stack phoenix-application --resource AutoScalingGroup --region us-east-1"
    ]
    assert not [line for line in _lines(log / "systemctl") if line.startswith("start ")]
    written = (etc / "env").read_text()
    # The database is verified against the baked RDS bundle by default, and AWS clients sign
    # for the instance's region.
    assert f'PHOENIX_DB_SSL_CA="{ca}"' in written
    assert 'AWS_REGION="us-east-1"' in written
    assert _no_tables(writer_root, fresh_database[0])


def test_a_missing_rds_ca_bundle_fails_the_boot_with_a_clear_message(instance, aws, writer_root, fresh_database):
    env, _etc, log, _ = instance
    _configure(aws)
    del env["PHOENIX_DB_SSL_CA"]  # the default path, where nothing was baked

    result = _boot(env)

    assert result.returncode != 0
    assert "certs/rds-global-bundle.pem does not exist" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert _lines(log / "cfn-signal")[-1].startswith("--exit-code 1 ")
    assert _no_tables(writer_root, fresh_database[0])


def test_it_is_committed_executable_because_the_launch_template_execs_it():
    listed = subprocess.run(
        ["git", "ls-files", "-s", "deploy/userdata.sh"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert listed.startswith("100755 "), listed
    assert "exec /opt/phoenix/app/deploy/userdata.sh" in (REPO / "deploy/cloudformation/application.yaml").read_text()
