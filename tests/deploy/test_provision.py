"""The AMI's bake (deploy/packer/provision.sh), on the parts this machine can run.

provision.sh itself needs Amazon Linux as root (dnf, systemd, the CloudWatch agent's package);
its steps that matter for what users see live in scripts it calls, which run here for real:
build-app.sh on a fresh copy of the repository (then a page is read in Spanish) and logs.sh on
a log directory (then the agent's user reads the files). The RDS CA bundle cannot be downloaded
here, so its path is checked against what the first boot uses.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.deploy.conftest import REPO

PACKER = REPO / "deploy" / "packer"
PROVISION = (PACKER / "provision.sh").read_text()

RENDER = """
import django
django.setup()
from django.test import Client
response = Client().get("/", HTTP_HOST="localhost", HTTP_X_FORWARDED_PROTO="https")
print(response.status_code)
print(response.content.decode())
"""


def _fresh_copy(target: Path) -> Path:
    """Copy the repository's files as a clone has them (no .mo, no static files, no venv)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _home_page(app: Path, tmp_path: Path) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "PHOENIX_"))}
    env.update(
        DJANGO_SECRET_KEY="test-only-" + "k" * 50,
        DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        PYTHONPATH=str(app),
        DJANGO_SETTINGS_MODULE="phoenix.settings",
        PHOENIX_LOG_LEVEL="ERROR",  # stdout carries the page alone
    )
    result = subprocess.run(
        [sys.executable, "-c", RENDER], cwd=app, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    status, _, body = result.stdout.partition("\n")
    return int(status), body


def test_the_bake_compiles_the_translations_so_a_fresh_build_serves_spanish(tmp_path):
    app = _fresh_copy(tmp_path / "app")
    assert not list(app.rglob("*.mo"))  # a clone has no compiled catalogue (build output)

    result = subprocess.run(
        ["bash", str(app / "deploy/packer/build-app.sh"), str(app), sys.executable],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr

    status, after = _home_page(app, tmp_path)
    assert status == 200
    assert '<html lang="es"' in after
    assert "¿Dónde está mi paquete?" in after
    assert "Where is my package?" not in after
    # The bake runs exactly this step on the AMI's copy, and installs msgfmt for it.
    assert 'build-app.sh" "$app" "$venv/bin/python"' in PROVISION
    assert re.search(r"dnf -y -q install .*\bgettext\b", PROVISION.replace("\\\n", " "))


def test_the_rds_ca_bundle_is_baked_where_the_first_boot_points_the_database_tls():
    url = re.search(r'^rds_ca_url="(.+)"$', PROVISION, re.M).group(1)
    assert url == "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
    baked = re.search(r'^rds_ca="(.+)"$', PROVISION, re.M).group(1).replace("$prefix", "/opt/phoenix")
    assert baked == "/opt/phoenix/certs/rds-global-bundle.pem"
    assert 'curl -fsS --retry 5 --proto \'=https\' -o "$rds_ca.tmp" "$rds_ca_url"' in PROVISION
    userdata = (REPO / "deploy/userdata.sh").read_text()
    assert 'db_ssl_ca="${PHOENIX_DB_SSL_CA-$prefix/certs/rds-global-bundle.pem}"' in userdata
    assert 'prefix="${PHOENIX_PREFIX:-/opt/phoenix}"' in userdata
    # The packer template runs provision.sh (tests/deploy/test_userdata.py boots with the default).
    assert 'script          = "${path.root}/provision.sh"' in (PACKER / "phoenix.pkr.hcl").read_text()


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="runs the check as another user (needs root)")


@pytest.fixture
def log_setup():
    """Return (log directory, agent configuration) in a directory every user may traverse."""
    base = Path(tempfile.mkdtemp(prefix="phoenix-logs-"))
    base.chmod(0o755)
    config = json.loads((REPO / "deploy/cloudwatch-agent.json").read_text())
    assert config["agent"]["run_as_user"] == "cwagent"  # provision.sh makes sure it exists
    config["agent"]["run_as_user"] = "nobody"  # the agent's user on this machine
    (base / "agent.json").write_text(json.dumps(config))
    yield base / "log", base / "agent.json"
    shutil.rmtree(base)


def _logs(config: Path, log_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(PACKER / "logs.sh"), *args, str(config)],
        env={**os.environ, "PHOENIX_LOG_DIR": str(log_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )


@needs_root
def test_the_bake_check_refuses_logs_the_agent_cannot_read(log_setup):
    log_dir, config = log_setup
    # What the bake made before: the directory 0750 for the service user alone, root's files.
    log_dir.mkdir(mode=0o750)
    for name in ("phoenix.log", "phoenix-worker.log"):
        (log_dir / name).touch(mode=0o640)

    result = _logs(config, log_dir, "--check")

    assert result.returncode == 1
    assert f"nobody cannot read {log_dir}/phoenix.log" in result.stderr
    assert "Traceback" not in result.stderr


@needs_root
def test_the_bake_makes_every_log_file_readable_by_the_agent_also_the_ones_created_later(log_setup):
    log_dir, config = log_setup

    result = _logs(config, log_dir)

    assert result.returncode == 0, result.stderr
    assert "nobody can read" in result.stdout
    # As systemd opens a unit's log file later: as root, with the web unit's UMask 0027.
    subprocess.run(["bash", "-c", f"umask 0027; echo started >{log_dir}/phoenix-new.log"], check=True)
    for name in ("phoenix.log", "phoenix-worker.log", "phoenix-new.log"):
        read = subprocess.run(["runuser", "-u", "nobody", "--", "cat", str(log_dir / name)], capture_output=True)
        assert read.returncode == 0, (name, read.stderr)
    assert _logs(config, log_dir, "--check").returncode == 0
    # The bake runs it with the configuration the agent gets.
    assert 'logs.sh" "$app/deploy/cloudwatch-agent.json"' in PROVISION
