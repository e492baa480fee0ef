"""deploy/gunicorn.conf.py: valid, keeps connections longer than the ALB, logs JSON lines, and
re-reads the environment file on HUP (how a rotated database password reaches the workers)."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.deploy.cfn import load
from tests.deploy.conftest import REPO, free_port, stop, wait_for_http
from tests.deploy.test_phoenix_env import phoenix_env

CONFIG = REPO / "deploy" / "gunicorn.conf.py"
GUNICORN = Path(sys.executable).with_name("gunicorn")


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "PHOENIX_ENV_FILE"))}
    env.update({"DJANGO_SECURE_SSL_REDIRECT": "0", "DJANGO_SECURE_COOKIES": "0", "PYTHONPATH": str(REPO)})
    env.update(extra)
    return env


def _print_config(**extra: str) -> dict[str, str]:
    result = subprocess.run(
        [str(GUNICORN), "--config", str(CONFIG), "--print-config"],
        cwd=REPO,
        env=_env(**extra),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return dict(re.findall(r"^(\w+)\s+= (.*)$", result.stdout, re.MULTILINE))


def test_it_passes_check_config():
    result = subprocess.run(
        [str(GUNICORN), "--config", str(CONFIG), "--check-config"],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_it_keeps_idle_connections_open_longer_than_the_load_balancer():
    config = _print_config()
    alb = load("application")["Resources"]["LoadBalancer"]["Properties"]["LoadBalancerAttributes"]
    alb_idle = int(next(a["Value"] for a in alb if a["Key"] == "idle_timeout.timeout_seconds"))
    assert alb_idle == 60
    assert int(config["keepalive"]) > 60
    assert int(config["keepalive"]) > alb_idle


def test_it_runs_gthread_workers_sized_from_the_cpus_and_overridable():
    cpus = os.cpu_count() or 1
    config = _print_config()
    assert config["worker_class"] == "<HealthzThreadWorker()>"  # gthread plus /healthz in the main loop
    assert int(config["workers"]) == cpus + 1
    assert int(config["threads"]) == max(4, 2 * cpus)
    assert config["wsgi_app"] == "phoenix.wsgi:application"
    assert config["forwarded_allow_ips"] == "['10.20.0.0/16']"

    overridden = _print_config(
        GUNICORN_WORKERS="2",
        GUNICORN_THREADS="3",
        GUNICORN_BIND="127.0.0.1:9911",
        GUNICORN_PROC_NAME="phoenix-az-a",
        FORWARDED_ALLOW_IPS="127.0.0.1",
    )
    assert (overridden["workers"], overridden["threads"]) == ("2", "3")
    assert overridden["bind"] == "['127.0.0.1:9911']"
    assert overridden["proc_name"] == "phoenix-az-a"
    assert overridden["forwarded_allow_ips"] == "['127.0.0.1']"
    assert _print_config(PORT="8123")["bind"] == "['0.0.0.0:8123']"


def test_systemd_waits_longer_than_the_graceful_timeout():
    unit = (REPO / "deploy" / "systemd" / "phoenix.service").read_text()
    stop_timeout = int(re.search(r"^TimeoutStopSec=(\d+)$", unit, re.MULTILINE).group(1))
    assert stop_timeout > int(_print_config()["graceful_timeout"])
    for hardening in (
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "User=phoenix",
    ):
        assert hardening in unit
    assert "ExecReload=/bin/kill -s HUP $MAINPID" in unit
    assert "Restart=on-failure" in unit


@pytest.fixture
def gunicorn_server(tmp_path):
    """Start gunicorn with the production config on a free loopback port; yield (url, process, log)."""
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env_file = tmp_path / "env"
    phoenix_env.write_if_changed(env_file, phoenix_env.render_env_file({"DJANGO_ALLOWED_HOSTS": "first.example"}))
    with log.open("w") as handle:
        process = subprocess.Popen(
            [str(GUNICORN), "--config", str(CONFIG)],
            cwd=REPO,
            env=_env(
                GUNICORN_BIND=f"127.0.0.1:{port}",
                GUNICORN_WORKERS="1",
                GUNICORN_THREADS="2",
                GUNICORN_PROC_NAME=f"phoenix-test-{port}",
                PHOENIX_ENV_FILE=str(env_file),
            ),
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/readiness-probe/", process)
        yield f"http://127.0.0.1:{port}", process, log, env_file
    finally:
        stop(process)


def _status(url: str, host: str, **headers: str) -> int:
    request = urllib.request.Request(url, headers={"Host": host, **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_it_writes_one_json_access_log_line_per_request(gunicorn_server):
    url, process, log, _ = gunicorn_server
    assert (
        _status(
            f"{url}/no-such-page/?q=1&postal_code=06700",
            "first.example",
            **{"User-Agent": 'probe "quoted"', "Referer": "https://t.example/track/QP1/?postal_code=06700"},
        )
        == 404
    )

    assert _status(f"{url}/notify/confirm/sEcReT-token-42/", "first.example") in (200, 400, 404)

    entries, lines = [], []
    deadline = time.monotonic() + 30
    while not (entries and any(line["path"].startswith("/notify/") for line in lines)) and time.monotonic() < deadline:
        lines = [json.loads(line) for line in log.read_text().splitlines() if '"type":"access"' in line]
        entries = [line for line in lines if line["path"] == "/no-such-page/"]
        time.sleep(0.1)
    assert "sEcReT-token-42" not in log.read_text()
    assert any(line["path"] == "/notify/confirm/redacted/" for line in lines)
    (entry,) = entries
    assert entry["status"] == 404
    assert entry["method"] == "GET"
    assert entry["query"] == "q=1&postal_code=redacted"
    assert not [line for line in lines if "06700" in json.dumps(line)]
    assert entry["referer"] == "https://t.example/track/QP1/?postal_code=redacted"
    assert entry["user_agent"] == 'probe "quoted"'
    assert entry["duration_ms"] >= 0


def test_it_rereads_the_environment_file_on_hup(gunicorn_server):
    url, process, log, env_file = gunicorn_server
    assert _status(f"{url}/no-such-page/", "first.example") == 404
    assert _status(f"{url}/no-such-page/", "second.example") == 400  # DisallowedHost

    phoenix_env.write_if_changed(env_file, phoenix_env.render_env_file({"DJANGO_ALLOWED_HOSTS": "second.example"}))
    process.send_signal(signal.SIGHUP)

    # New workers come up with the new file; wait (bounded) until one answers for the new host.
    deadline = time.monotonic() + 60
    while _status(f"{url}/no-such-page/", "second.example") != 404:
        assert time.monotonic() < deadline, "the new environment never reached the workers"
        assert process.poll() is None, log.read_text()
        time.sleep(0.2)
    assert _status(f"{url}/no-such-page/", "first.example") == 400
    assert process.poll() is None


def test_it_does_not_name_gunicorn_in_the_server_header(gunicorn_server):
    url, _process, _log, _ = gunicorn_server
    request = urllib.request.Request(f"{url}/healthz", headers={"Host": "first.example"})
    with urllib.request.urlopen(request, timeout=10) as response:
        server = response.headers.get_all("Server") or []
    assert response.status == 200
    assert server == ["phoenix"]
