import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

from deploy.local.lab.processes import free_port as free_port  # the tests here take it from conftest

REPO = Path(__file__).resolve().parents[2]


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Return once URL answers (any status), or fail if PROCESS exits or TIMEOUT passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode} before answering")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def stop(process: subprocess.Popen) -> None:
    """Terminate PROCESS (started by a fixture) and wait for it, killing it if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def moto_endpoint():
    """Run moto in server mode on a free loopback port and return the environment that uses it."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/moto-api/", process)
        yield {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    finally:
        stop(process)


@pytest.fixture
def aws(moto_endpoint, monkeypatch):
    """Return a boto3 session against the moto server, with a clean slate for each test."""
    import boto3

    for key, value in moto_endpoint.items():
        monkeypatch.setenv(key, value)
    reset = urllib.request.Request(f"{moto_endpoint['AWS_ENDPOINT_URL']}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=10)
    return boto3.session.Session(region_name=moto_endpoint["AWS_REGION"])


@pytest.fixture
def subprocess_env():
    """Return a copy of the environment for child processes, without AWS settings leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PHOENIX_DB_", "PHOENIX_SSM_"))}
    env["PYTHONPATH"] = str(REPO)
    return env


@pytest.fixture
def fresh_database(writer_root):
    """Create an empty database on the writer and return its DATABASE_URL; drop it afterwards."""
    name = f"phoenix_boot_{secrets.token_hex(4)}"
    with writer_root.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    url = urlparse(os.environ["DATABASE_URL"])
    yield name, urlunparse(url._replace(path=f"/{name}"))
    with writer_root.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
