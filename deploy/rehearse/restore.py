"""The DR restore, rehearsed: sealed columns written in the primary region read back in the DR region.

What runs for real: the application secret made as application.yaml's AppSecret says (its
name, its generated key, its replica in the DR region: the resource is shimmed, so the
rehearsal creates it in moto's Secrets Manager with `AddReplicaRegions`), a MariaDB writer
migrated and filled by the application itself under the primary's key (demo shipments, then
subscriptions and webhook endpoints through the code that seals their e-mails and secrets), a
logical snapshot of it (``mariadb-dump``, standing in for the Aurora snapshot AWS Backup copies),
restored into a fresh writer, and every sealed column opened there with the key read from the
*DR region's* replica, as docs/deploy.md section 9 says.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from dataclasses import dataclass, field

from deploy.local.lab.servers import Cluster
from deploy.rehearse import REPO
from deploy.rehearse.cloud import client
from deploy.rehearse.templates import DR, PRIMARY

SECRET_NAME = "phoenix/prod/app"  # noqa: S105 - a name: application.yaml's AppSecret for Environment=prod

# Runs in the application's environment: seal a few values the way the app does, print them.
WRITE = """
import json
from tracking import sealing
from tracking.models import Partner, Shipment, WebhookEndpoint
from tracking.notify.subscriptions import TOPICS, subscription_request
written = {"subscriptions": {}, "webhooks": {}}
shipments = [s for s in Shipment.objects.order_by("pk")[:40] if not s.is_terminal][:5]
for n, shipment in enumerate(shipments):
    email = f"cliente{n}@example.mx"
    sub = subscription_request(shipment=shipment, email=email, topics=[TOPICS[0]], language="es", client=f"10.0.0.{n}")
    written["subscriptions"][sub.pk] = email
partner = Partner.objects.order_by("pk").first() or Partner.objects.create(name="Rehearsal")
for n in range(3):
    secret = f"whsec-rehearsal-{n}"
    endpoint = WebhookEndpoint.objects.create(
        partner=partner, url=f"https://hooks.example.com/{n}", topics=["milestone"], secret_encrypted=sealing.seal(secret)
    )
    written["webhooks"][endpoint.pk] = secret
print(json.dumps(written))
"""

# Runs against the restored database with the DR region's key: open every sealed column.
READ = """
import json
from tracking import sealing
from tracking.models import Subscription, WebhookEndpoint
read, failed = {"subscriptions": {}, "webhooks": {}}, 0
for kind, model, column in (("subscriptions", Subscription, "email_encrypted"), ("webhooks", WebhookEndpoint, "secret_encrypted")):
    for pk, token in model.objects.values_list("pk", column):
        try:
            read[kind][str(pk)] = sealing.unseal(token)
        except ValueError:
            failed += 1
print(json.dumps({"read": read, "failed": failed}))
"""


@dataclass
class Restore:
    """What the DR restore rehearsal did and saw."""

    replica_region: str = ""
    same_key: bool = False
    rows: int = 0  # sealed values written in the primary
    opened: int = 0  # of them, opened after the restore with the DR replica's key, equal to what was written
    wrong_key_opened: int = -1  # opened with a newly generated key (the old runbook): must be 0
    steps: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def healthy(self) -> bool:
        """Return whether every sealed value came back in the DR region, and only with its key."""
        return not self.error and self.rows > 0 and self.opened == self.rows and self.wrong_key_opened == 0


def _manage(cluster: Cluster, key: str, *args: str, script: str = "") -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "PHOENIX_", "AWS_"))}
    env.update(
        DATABASE_URL=cluster.env["DATABASE_URL"],
        PHOENIX_DB_SSL_CA=cluster.env.get("PHOENIX_DB_SSL_CA", ""),
        DJANGO_SECRET_KEY=key,
        DJANGO_DEBUG="0",
        DJANGO_SECURE_SSL_REDIRECT="0",
    )
    command = [str(REPO / ".venv" / "bin" / "python"), "manage.py", *args]
    if script:
        command += ["-c", script]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    if result.returncode:
        raise RuntimeError(f"manage.py {args[0]} failed: {result.stderr.strip()[-400:]}")
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def dr_restore(endpoint: str, say=print) -> Restore:
    """Rehearse docs/deploy.md section 9 for the sealed columns; return what happened."""
    restore = Restore(replica_region=DR)
    primary = restored = None
    try:
        key = client(endpoint, "secretsmanager", PRIMARY).get_random_password(
            PasswordLength=64, ExcludePunctuation=True
        )["RandomPassword"]
        value = json.dumps({"DJANGO_SECRET_KEY": key, "DJANGO_SECRET_KEY_FALLBACKS": ""})
        client(endpoint, "secretsmanager", PRIMARY).create_secret(
            Name=SECRET_NAME, SecretString=value, AddReplicaRegions=[{"Region": DR}]
        )
        restore.steps.append(f"`{SECRET_NAME}` created in {PRIMARY} with its replica in {DR} (AppSecret, shimmed)")
        primary = Cluster("phoenix-rehearse-primary-", PHOENIX_CLUSTER_TLS="1")
        _manage(primary, key, "migrate", "--no-input", "-v0")
        _manage(primary, key, "seed_demo", "--shipments", "40", "--seed", "7", "--quiet")
        written = json.loads(_manage(primary, key, "shell", script=WRITE))
        restore.rows = sum(len(values) for values in written.values())
        restore.steps.append(
            f"primary writer migrated and seeded; {len(written['subscriptions'])} subscriptions and "
            f"{len(written['webhooks'])} webhook endpoints sealed by the application"
        )
        dump = subprocess.run(
            ["mariadb-dump", f"--socket={primary.writer_socket}", "-uroot", "--single-transaction", "phoenix"],
            capture_output=True,
            check=True,
            timeout=300,
        ).stdout
        restore.steps.append(f"snapshot: `mariadb-dump --single-transaction phoenix` ({len(dump) // 1024} KiB)")
        primary.stop()
        primary = None
        restored = Cluster("phoenix-rehearse-dr-", PHOENIX_CLUSTER_TLS="1")
        subprocess.run(
            ["mariadb", f"--socket={restored.writer_socket}", "-uroot", "phoenix"], input=dump, check=True, timeout=300
        )
        restore.steps.append("restored into a fresh writer (the DR region's cluster from the copied recovery point)")
        replica = json.loads(
            client(endpoint, "secretsmanager", DR).get_secret_value(SecretId=SECRET_NAME)["SecretString"]
        )
        restore.same_key = replica["DJANGO_SECRET_KEY"] == key
        restore.steps.append(f"the key read from `{SECRET_NAME}` in {DR} (the replica)")
        seen = json.loads(_manage(restored, replica["DJANGO_SECRET_KEY"], "shell", script=READ))
        restore.opened = sum(
            1 for kind, values in written.items() for pk, value in values.items() if seen["read"][kind].get(pk) == value
        )
        fresh = json.loads(_manage(restored, secrets.token_urlsafe(64), "shell", script=READ))
        restore.wrong_key_opened = sum(len(values) for values in fresh["read"].values())
        say(f"DR restore: {restore.opened} of {restore.rows} sealed values read back with the replicated key")
    except (RuntimeError, OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
        restore.error = str(exc)
        say(f"DR restore failed: {exc}")
    finally:
        for cluster in (primary, restored):
            if cluster:
                cluster.stop()
    return restore
