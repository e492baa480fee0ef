"""The first boot of an instance of the rehearsed application stack, on loopback.

What runs for real: the user data that moto's CloudFormation rendered into the launch template
of phoenix-application (its exports from the database and network layers included), then
deploy/userdata.sh itself with bash and curl, deploy/phoenix_env.py against moto's SSM Parameter
Store and Secrets Manager, ``manage.py migrate_locked`` on a local MariaDB writer that requires
TLS (deploy/local/cluster.sh), gunicorn with deploy/gunicorn.conf.py answering /healthz.

Stand-ins: a loopback IMDSv2 (a token on PUT, metadata only with it, the id of an instance the
rehearsed Auto Scaling group launched on moto), and, on PATH, ``systemctl`` (starts gunicorn as
phoenix.service does, records the rest), ``cfn-signal`` and the CloudWatch agent's control
script (recorded). The AMI's layout is a temporary root whose /opt/phoenix/app is `git archive HEAD` with its static
files collected (the application part of the bake), and whose venv is this checkout's.
"""

from __future__ import annotations

import base64
import contextlib
import html
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy.local.lab.processes import free_port
from deploy.local.lab.servers import Cluster, sql
from deploy.phoenix_env import read_env_file
from deploy.rehearse import REPO
from deploy.rehearse.cloud import client
from deploy.rehearse.faults import BrownOut, WriterOutage

STAND_INS = Path(__file__).resolve().parent / "bin"
SITE_HOST = "track.qualitypost.mx"  # docs/deploy.md section 1's DJANGO_ALLOWED_HOSTS
PROBE = "Where is my package?"  # the home page's title; its Spanish from tracking/locale/es


def spanish(message: str) -> str:
    """Return the Spanish of MESSAGE in tracking/locale/es/LC_MESSAGES/django.po (empty if untranslated)."""
    catalogue = (REPO / "tracking/locale/es/LC_MESSAGES/django.po").read_text()
    match = re.search(rf'^msgid "{re.escape(message)}"\nmsgstr "(.*)"$', catalogue, re.MULTILINE)
    return match.group(1) if match else ""


@dataclass
class Boot:
    """What the boot did: its outcome, what it called, what was substituted, what was checked."""

    exit_code: int | None = None
    seconds: float = 0.0
    user_data: str = ""
    substitutions: list[str] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)
    systemctl: list[str] = field(default_factory=list)
    cwagent: list[str] = field(default_factory=list)
    imds: list[tuple[str, str, bool]] = field(default_factory=list)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)  # what, passed, detail
    output_tail: str = ""
    baked: list[str] = field(default_factory=list)  # provision.sh's manage.py commands, run on the archive
    app_log_tail: str = ""
    bootstrap: list[str] = field(default_factory=list)  # the operator's steps run before the boot
    fault: str = ""  # what went wrong on purpose during this boot (FAULTS), or nothing
    variants: list[Boot] = field(default_factory=list)  # the same boot under each of FAULTS
    restore: Any = None  # the DR restore rehearsal (deploy/rehearse/restore.py), when it ran
    as_rendered: str = ""  # how the user data fared exactly as rendered, when it needed a workaround

    @property
    def healthy(self) -> bool:
        """Return whether the boot exited 0, signalled success and passed every check."""
        return self.exit_code == 0 and all(passed for _, passed, _ in self.checks)


class Imds(http.server.BaseHTTPRequestHandler):
    """IMDSv2 on loopback: PUT /latest/api/token gives a session token; metadata needs it (401 without)."""

    token = secrets.token_urlsafe(24)
    metadata: dict[str, str] = {}
    requests: list[tuple[str, str, bool]] = []

    def do_PUT(self) -> None:
        """Answer the token request (only with a TTL header, as IMDSv2 does)."""
        ok = self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        self.requests.append(("PUT", self.path, bool(ok)))
        self._answer(200 if ok else 400, self.token if ok else "")

    def do_GET(self) -> None:
        """Answer a metadata path, given the session token."""
        has_token = self.headers.get("X-aws-ec2-metadata-token") == self.token
        self.requests.append(("GET", self.path, has_token))
        key = self.path.removeprefix("/latest/meta-data/")
        if not has_token:
            self._answer(401, "")
        else:
            self._answer(200, self.metadata[key]) if key in self.metadata else self._answer(404, "")

    def _answer(self, status: int, body: str) -> None:
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args) -> None:
        """Keep the rehearsal's output to its own progress lines."""


def rendered_user_data(endpoint: str, region: str, stack: str) -> tuple[str, str]:
    """Return (the user data of STACK's launch template as moto rendered it, an instance id of its group)."""
    cloudformation, ec2 = client(endpoint, "cloudformation", region), client(endpoint, "ec2", region)
    physical = {
        resource["LogicalResourceId"]: resource.get("PhysicalResourceId", "")
        for resource in cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
        if resource.get("LogicalResourceId")
    }
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=physical["LaunchTemplate"])
    data = versions["LaunchTemplateVersions"][0]["LaunchTemplateData"]["UserData"]
    groups = client(endpoint, "autoscaling", region).describe_auto_scaling_groups(
        AutoScalingGroupNames=[physical["AutoScalingGroup"]]
    )["AutoScalingGroups"]
    instances = [instance["InstanceId"] for group in groups for instance in group["Instances"]]
    return base64.b64decode(data).decode(), (instances or ["i-0123456789abcdef0"])[0]


def exported(user_data: str, name: str) -> str:
    """Return the value the user data exports as NAME (quoted or not)."""
    match = re.search(rf"^export {name}='?([^'\n]*)'?$", user_data, re.MULTILINE)
    return match.group(1) if match else ""


BUILD = "deploy/packer/build-app.sh"


def bake_builds_the_application() -> bool:
    """Return True when deploy/packer/provision.sh builds the application with BUILD."""
    text = (REPO / "deploy/packer/provision.sh").read_text()
    return any(BUILD in line and not line.lstrip().startswith("#") for line in text.splitlines())


def bake_application(app: Path) -> list[str]:
    """Install the application as deploy/packer/provision.sh does; return the commands run.

    `git archive HEAD` (docs/deploy.md section 2) is unpacked, file modes included, then the
    build step provision.sh runs on it (deploy/packer/build-app.sh: static files, compiled
    translations, bytecode). The rest of the bake (packages, the venv, units, the RDS CA bundle,
    log permissions) is not rehearsed: the venv is this checkout's .venv."""
    app.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", "HEAD"], check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(app)], input=archive.stdout, check=True)
    if not bake_builds_the_application():
        return []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    python = str(REPO / ".venv" / "bin" / "python")
    subprocess.run(["bash", str(app / BUILD), str(app), python], cwd=app, env=env, check=True, capture_output=True)
    return [f"{BUILD} <app> <venv python>"]


def lay_out(root: Path) -> dict:
    """Make the AMI's directories under ROOT as deploy/packer/provision.sh leaves them; return them
    (and, under "baked", the bake commands run)."""
    paths = {
        "prefix": root / "opt/phoenix",
        "etc": root / "etc/phoenix",
        "units": root / "etc/systemd/system",
        "cwagent": root / "opt/aws/amazon-cloudwatch-agent",
        "bin": root / "rehearsal-bin",
        "log": root / "rehearsal-log",
    }
    for key in ("prefix", "units", "bin", "log"):
        paths[key].mkdir(parents=True)
    for sub in ("etc", "bin"):
        (paths["cwagent"] / sub).mkdir(parents=True)
    paths["baked"] = bake_application(paths["prefix"] / "app")
    (paths["prefix"] / "venv").symlink_to(REPO / ".venv")
    for unit in (REPO / "deploy/systemd").iterdir():
        shutil.copy(unit, paths["units"] / unit.name)
    shutil.copy(REPO / "deploy/cloudwatch-agent.json", paths["cwagent"] / "etc/phoenix.json.template")
    shutil.copy(STAND_INS / "systemctl.sh", paths["bin"] / "systemctl")
    shutil.copy(STAND_INS / "record.sh", paths["bin"] / "cfn-signal")
    shutil.copy(STAND_INS / "record.sh", paths["cwagent"] / "bin/amazon-cloudwatch-agent-ctl")
    return paths


def _put_secret(manager, name: str, value: dict) -> None:
    """Create secret NAME holding VALUE, or give it VALUE as its new version (a later boot)."""
    try:
        manager.create_secret(Name=name, SecretString=json.dumps(value))
    except manager.exceptions.ResourceExistsException:
        manager.put_secret_value(SecretId=name, SecretString=json.dumps(value))


def configure(endpoint: str, region: str, user_data: str, cluster: Cluster) -> list[str]:
    """Put docs/deploy.md section 1's parameters in moto's SSM and run section 3's bootstrap of
    the database users (deploy/db_users.py) on the local writer; return what stood in for AWS."""
    environment = exported(user_data, "PHOENIX_ENV")
    ssm = client(endpoint, "ssm", region)
    for name, value, kind in (
        ("DJANGO_ALLOWED_HOSTS", SITE_HOST, "String"),
        ("PHOENIX_DB_SSL_CA", cluster.env["PHOENIX_DB_SSL_CA"], "String"),  # the local CA, not the RDS bundle
        # The checks come through loopback, where the ALB's VPC addresses would be.
        ("FORWARDED_ALLOW_IPS", "127.0.0.1", "String"),
    ):
        ssm.put_parameter(Name=f"/phoenix/{environment}/{name}", Value=value, Type=kind, Overwrite=True)
    # The stacks' secrets are shimmed (moto's CloudFormation has no model for them): made here
    # as their GenerateSecretString would, under the names the user data carries.
    manager = client(endpoint, "secretsmanager", region)
    for variable, value in (
        ("PHOENIX_DB_SECRET_ID", {"username": "phoenix_app", "password": secrets.token_urlsafe(30)}),
        ("PHOENIX_DB_MIGRATE_SECRET_ID", {"username": "phoenix_migrate", "password": secrets.token_urlsafe(30)}),
        ("PHOENIX_APP_SECRET_ID", {"DJANGO_SECRET_KEY": secrets.token_urlsafe(48), "DJANGO_SECRET_KEY_FALLBACKS": ""}),
    ):
        _put_secret(manager, exported(user_data, variable).rsplit(":secret:", 1)[-1], value)
    # RDS's master secret (the cluster is shimmed): a master user on the local writer, and its
    # secret under the ARN the database stack exports.
    outputs = client(endpoint, "cloudformation", region).describe_stacks(StackName="phoenix-database")
    master_arn = next(o["OutputValue"] for o in outputs["Stacks"][0]["Outputs"] if o["OutputKey"] == "SecretArn")
    master_password = secrets.token_urlsafe(24)
    sql(
        cluster.writer_socket,
        f"CREATE USER 'phoenix_admin'@'%' IDENTIFIED BY '{master_password}' REQUIRE SSL; "
        "GRANT ALL PRIVILEGES ON *.* TO 'phoenix_admin'@'%' WITH GRANT OPTION",
    )
    _put_secret(
        manager, master_arn.rsplit(":secret:", 1)[-1], {"username": "phoenix_admin", "password": master_password}
    )
    bootstrap = [
        "deploy/db_users.py",
        "--writer",
        "127.0.0.1",
        "--port",
        cluster.env["PHOENIX_WRITER_PORT"],
        "--ssl-ca",
        cluster.env["PHOENIX_DB_SSL_CA"],
        "--master-secret",
        master_arn,
        "--app-secret",
        exported(user_data, "PHOENIX_DB_SECRET_ID"),
        "--migrate-secret",
        exported(user_data, "PHOENIX_DB_MIGRATE_SECRET_ID"),
    ]
    aws_env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    result = subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), *bootstrap],
        cwd=REPO,
        env={**os.environ, **aws_env, "AWS_REGION": region},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode:
        raise RuntimeError(f"the database users' bootstrap failed: {result.stderr.strip()}")
    return [" ".join(bootstrap[:1] + ["--writer <the local writer>"] + bootstrap[5:6] + ["<its CA>"] + bootstrap[7:])]


def _stop_session(pid_file: Path) -> None:
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)


def _get(url: str, **headers: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, ""
    except OSError as error:  # nothing listening: the boot did not get as far as the services
        return 0, str(error)


# The faults a boot can be rehearsed under (FAULTS[name] describes it for the report).
FAULTS = {
    "slow-config": (
        "Parameter Store browns out: its first call hangs 15 s (past the 10 s per-call timeout), "
        "the second is throttled (ThrottlingException), the third answers 503; the rest pass"
    ),
    "failover": (
        "the writer endpoint refuses every connection for 25 s from the boot's first one (the "
        "migrations), as during an Aurora failover, then answers again"
    ),
}


def first_boot(
    endpoint: str, region: str = "us-east-1", stack: str = "phoenix-application", say=print, fault: str = ""
) -> Boot:
    """Boot one instance of STACK (already created on moto at ENDPOINT) in a temporary root,
    under FAULT (one of FAULTS, or none); return what happened."""
    boot = Boot(fault=fault)
    faults = contextlib.ExitStack()
    user_data, instance_id = rendered_user_data(endpoint, region, stack)
    boot.user_data = user_data
    imds = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Imds)
    Imds.metadata, Imds.requests = {"placement/region": region, "instance-id": instance_id}, []
    threading.Thread(target=imds.serve_forever, daemon=True).start()
    root = Path(tempfile.mkdtemp(prefix="phoenix-rehearse-root-"))
    cluster = None
    try:
        paths = lay_out(root)
        cluster = Cluster("phoenix-rehearse-db-", PHOENIX_CLUSTER_TLS="1")
        boot.baked = paths["baked"]
        writer_port = cluster.env["PHOENIX_WRITER_PORT"]
        boot.bootstrap = configure(endpoint, region, user_data, cluster)
        brown_out = outage = None
        if fault == "slow-config":
            brown_out = faults.enter_context(BrownOut(endpoint, ("hang", "throttle", "unavailable"), 15.0))
        elif fault == "failover":
            outage = faults.enter_context(WriterOutage(int(writer_port), 25.0))
        script = user_data
        for name, value in (
            ("PHOENIX_DB_WRITER_HOST", "127.0.0.1"),
            ("PHOENIX_DB_READER_HOST", "127.0.0.1"),
            ("PHOENIX_DB_PORT", str(outage.port) if outage else writer_port),
        ):
            script = script.replace(f"export {name}='{exported(user_data, name)}'", f"export {name}='{value}'")
            shown = "the local writer's port" if name == "PHOENIX_DB_PORT" else f"`{value}`"
            boot.substitutions.append(f"`{name}`: `{exported(user_data, name)}` -> {shown}")
        script = script.replace("exec /opt/phoenix/app/", f"exec {paths['prefix']}/app/")
        boot.substitutions.append(
            "`exec /opt/phoenix/app/deploy/userdata.sh` -> the same file under the root (<root>/opt/phoenix/app)"
        )
        (root / "user-data").write_text(script)
        port = free_port()
        # Nothing of this shell's settings (a test suite's database, AWS) reaches the instance.
        prefixes = ("DJANGO_", "DATABASE_", "GUNICORN_", "AWS_", "PHOENIX_", "FORWARDED_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
        env.update(
            {
                "AWS_ENDPOINT_URL": brown_out.url if brown_out else endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_EC2_METADATA_DISABLED": "true",  # boto3's own look-ups; the script reads the fake IMDS
                "PATH": f"{paths['bin']}:{os.environ['PATH']}",
                "REHEARSAL_LOG": str(paths["log"]),
                "PHOENIX_PREFIX": str(paths["prefix"]),
                "PHOENIX_ETC": str(paths["etc"]),
                "PHOENIX_UNIT_DIR": str(paths["units"]),
                "PHOENIX_CWAGENT_DIR": str(paths["cwagent"]),
                "PHOENIX_IMDS_URL": f"http://127.0.0.1:{imds.server_address[1]}",
                "PHOENIX_HEALTH_URL": f"http://127.0.0.1:{port}/healthz",
                "PHOENIX_USER": "root" if os.geteuid() == 0 else os.environ.get("USER", "root"),
                "PHOENIX_BOOT_LOG": str(paths["log"] / "boot.log"),
                "GUNICORN_BIND": f"127.0.0.1:{port}",
                "GUNICORN_WORKERS": "1",
                "GUNICORN_THREADS": "2",
                "FORWARDED_ALLOW_IPS": "127.0.0.1",  # the ALB's place: the checks below come through loopback
            }
        )
        say(f"booting {instance_id} from the user data of {stack} ({region})" + (f" under {fault}" if fault else ""))
        started = time.monotonic()
        result = subprocess.run(["bash", str(root / "user-data")], env=env, capture_output=True, text=True, timeout=600)
        if result.returncode == 126 and "Permission denied" in result.stderr:
            # The user data execs userdata.sh, which must then be executable on the AMI. Record
            # how it failed, then rehearse the rest of the boot through bash.
            boot.as_rendered = result.stderr.strip().splitlines()[-1].replace(str(root), "<root>")
            say(f"the user data as rendered failed: {boot.as_rendered}; booting again through bash")
            (root / "user-data").write_text(script.replace("exec /", "exec bash /"))
            boot.substitutions.append(
                "`exec <path>` -> `exec bash <path>` (see the finding: the file is not executable)"
            )
            started = time.monotonic()
            result = subprocess.run(
                ["bash", str(root / "user-data")], env=env, capture_output=True, text=True, timeout=600
            )
        boot.seconds = time.monotonic() - started
        boot.exit_code = result.returncode
        output = result.stdout + result.stderr
        boot.output_tail = "\n".join(output.splitlines()[-15:])

        def lines(name: str) -> list[str]:
            path = paths["log"] / name
            return path.read_text().splitlines() if path.exists() else []

        boot.signals, boot.systemctl = lines("cfn-signal"), lines("systemctl")
        boot.cwagent, boot.imds = lines("amazon-cloudwatch-agent-ctl"), list(Imds.requests)
        check = boot.checks.append
        check(("the user data runs as rendered", not boot.as_rendered, boot.as_rendered or "yes"))
        app_log = paths["log"] / "gunicorn.log"
        expected = f"--exit-code 0 --stack {stack} --resource AutoScalingGroup --region {region}"
        check(("cfn-signal success, once", boot.signals == [expected], "; ".join(boot.signals) or "no signal"))
        status, _ = _get(f"http://127.0.0.1:{port}/healthz")
        check(("/healthz answers 200", status == 200, str(status)))
        status, page = _get(
            f"http://127.0.0.1:{port}/", Host=SITE_HOST, **{"Accept-Language": "es", "X-Forwarded-Proto": "https"}
        )
        title = spanish(PROBE)
        translated = bool(title) and html.escape(title, quote=False) in page and PROBE not in page
        check(
            (
                "the home page in Spanish (Accept-Language: es)",
                status == 200 and translated,
                f"{status}; " + (f"title {title!r}" if translated else f"{PROBE!r} is not translated on the page"),
            )
        )
        mode = stat.S_IMODE((paths["etc"] / "env").stat().st_mode) if (paths["etc"] / "env").exists() else None
        check(("/etc/phoenix/env written with mode 0600", mode == 0o600, oct(mode) if mode is not None else "missing"))
        written = read_env_file(paths["etc"] / "env") if (paths["etc"] / "env").exists() else {}
        user = urllib.parse.urlparse(written.get("DATABASE_URL", "")).username or "none"
        check(("the application logs in as phoenix_app (rows only, no DDL)", user == "phoenix_app", user))
        leftover = [name for name in ("migrate.env", "migrate-password") if (paths["etc"] / name).exists()]
        check(("the migration user's credentials removed after migrating", not leftover, ", ".join(leftover)))
        if brown_out:
            retries = output.count("phoenix_env: attempt")
            detail = f"{brown_out.ssm_calls} Parameter Store calls, {retries} retried with backoff"
            check(("the configuration read retried through the brown-out", retries >= 3, detail))
        if outage:
            retries = output.count("userdata: migrations failed")
            detail = f"{outage.refused} connections refused, {retries} migration runs retried, then it migrated"
            check(("the migrations retried through the writer's outage", outage.refused > 0 and retries > 0, detail))
        check(("every IMDS read carried the session token", bool(boot.imds) and all(ok for *_, ok in boot.imds), ""))
        boot.app_log_tail = "\n".join(app_log.read_text().splitlines()[-20:]) if app_log.exists() else ""
        tables = "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'phoenix'"
        applied = 0
        if sql(cluster.writer_socket, tables)[0][0]:
            applied = sql(cluster.writer_socket, "SELECT COUNT(*) FROM phoenix.django_migrations")[0][0]
        check(("migrations applied on the writer (over TLS)", applied > 0, f"{applied} rows in django_migrations"))
        # The report names the temporary root once, as <root>, so that runs compare.
        boot.substitutions = [line.replace(str(root), "<root>") for line in boot.substitutions]
        boot.cwagent = [line.replace(str(root), "<root>") for line in boot.cwagent]
        return boot
    finally:
        faults.close()
        _stop_session(root / "rehearsal-log" / "gunicorn.pid")
        imds.shutdown()
        imds.server_close()
        if cluster:
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
