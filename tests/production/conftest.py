"""Phoenix in the shape production has, every part its own process, started once for this folder.

``deploy/local/stack.sh`` with TLS: a MariaDB writer and replica with a private CA made for the
run (the application verifies the servers' identity), HAProxy as the cluster and reader
endpoints and as the ALB, two gunicorn instances under deploy/gunicorn.conf.py, the
notifications worker (``db_worker``). Around it, as AWS and the partners would be: S3 on a moto
server for media, an SMTP server, a partner's webhook receiver, and an https site URL. The
tests talk to it as people do, through the ALB (or one instance, where the point is which one).
"""

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from tests.live import Client
from tests.moto import CREDENTIALS, moto_server
from tests.tracking.notify.support import SMTPReceiver, WebhookReceiver

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "deploy" / "local" / "stack.sh"
SITE_URL = "https://track.qualitypost.example"
BUCKET = "phoenix-media"

pytestmark = pytest.mark.cluster


@dataclass
class Production:
    dir: Path
    env: dict[str, str]
    smtp: SMTPReceiver
    webhooks: WebhookReceiver
    s3: object
    partner_token: str
    admin_password: str

    def url(self, name: str = "alb") -> str:
        """Return the base URL of the ALB or of one instance (``az-a``, ``az-b``)."""
        port = {"alb": "PHOENIX_ALB_PORT", "az-a": "PHOENIX_AZ_A_PORT", "az-b": "PHOENIX_AZ_B_PORT"}[name]
        return f"http://127.0.0.1:{self.env[port]}"

    def client(self, name: str = "alb") -> Client:
        return Client(self.url(name))

    def manage(self, *args: str, **extra: str) -> subprocess.CompletedProcess:
        """Run a management command with the instances' environment (as an operator on one)."""
        env = {**_outside_env(), **_read_env(self.dir / "app.env"), **extra}
        return subprocess.run(
            [str(REPO / ".venv" / "bin" / "python"), "manage.py", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def logs(self) -> dict[str, str]:
        """Return every process's log: both instances, the worker, HAProxy, both databases."""
        paths = [
            self.dir / "az-a" / "gunicorn.log",
            self.dir / "az-b" / "gunicorn.log",
            self.dir / "worker" / "worker.log",
            self.dir / "haproxy.log",
            self.dir / "cluster" / "writer" / "error.log",
            self.dir / "cluster" / "replica" / "error.log",
        ]
        return {str(path.relative_to(self.dir)): path.read_text(errors="replace") for path in paths}


def _outside_env() -> dict[str, str]:
    """Return this process's environment without the test cluster's and Django's settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PHOENIX_", "DATABASE_", "DJANGO_", "AWS_"))}


def _read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {name: value for name, value in pairs}


@pytest.fixture(scope="package")
def production(tmp_path_factory) -> Production:
    directory = tmp_path_factory.mktemp("production") / "stack"
    smtp, webhooks = SMTPReceiver(), WebhookReceiver()
    try:
        with moto_server() as s3_endpoint:
            s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **_boto(CREDENTIALS))
            s3.create_bucket(Bucket=BUCKET)
            extra = {
                "PHOENIX_SITE_URL": SITE_URL,
                "PHOENIX_EMAIL_BACKEND": "smtp",
                "EMAIL_HOST": "127.0.0.1",
                "EMAIL_PORT": str(smtp.port),
                "AWS_STORAGE_BUCKET_NAME": BUCKET,
                "AWS_S3_ENDPOINT_URL": s3_endpoint,
                "AWS_S3_REGION_NAME": "us-east-1",
                **CREDENTIALS,
                # The partner's receiver listens on loopback over http (in AWS: https only).
                "PHOENIX_WEBHOOK_ALLOW_LOOPBACK": "1",
            }
            env = {
                **_outside_env(),
                "PHOENIX_STACK_TLS": "1",
                "PHOENIX_STACK_SHIPMENTS": "20",
                "PHOENIX_STACK_EXTRA_ENV": " ".join(f"{name}={value}" for name, value in extra.items()),
            }
            started = subprocess.run(
                [str(STACK), "start", str(directory)], env=env, capture_output=True, text=True, timeout=600
            )
            assert started.returncode == 0, f"the stack did not start:\n{started.stdout}\n{started.stderr}"
            try:
                partner = (directory / "partner.txt").read_text()
                yield Production(
                    dir=directory,
                    env=_read_env(directory / "stack.env"),
                    smtp=smtp,
                    webhooks=webhooks,
                    s3=s3,
                    partner_token=re.search(r"phx_\S+", partner).group(0),
                    admin_password=_read_env(directory / "credentials")["PHOENIX_ADMIN_PASSWORD"],
                )
            finally:
                subprocess.run([str(STACK), "stop", str(directory)], env=env, capture_output=True, timeout=300)
    finally:
        smtp.close()
        webhooks.close()


def _boto(credentials: dict[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": credentials["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": credentials["AWS_SECRET_ACCESS_KEY"],
    }
