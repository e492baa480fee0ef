"""docs/rehearsal.md's boot section: what the first boot ran, what stood in, what it showed.

Also says, in so many words, what of the issue's boot rehearsal is not rehearsed yet.
"""

from __future__ import annotations

from deploy.local.lab.report import marked
from deploy.rehearse.boot import FAULTS, Boot

SECTION = "boot"

NOT_YET = """### Not rehearsed yet

- **The bake.** `deploy/packer/provision.sh` does not run: only its application steps are
  repeated (the `git archive` unpacked with its file modes, then the `manage.py` commands it
  runs). Packages, the Python 3.12 venv (this checkout's `.venv` stands in), the units'
  installation and drop-ins, `compileall`, ownership and the service user are not. The issue
  asks for provision.sh in a throw-away root (a Debian root made with debootstrap).
- **systemd.** `systemctl` is recorded; `start phoenix.service` runs gunicorn the way the unit
  does, as this user. The worker, the refresh timer, the units' conditions and hardening, the
  journal and the CloudWatch agent (its control script is recorded) do not run, so "logs its
  agent user can read" is not checked.
- **cfn-signal and the creation policy.** The signal is recorded, not sent: moto's
  CloudFormation ignores `CreationPolicy` and completes the Auto Scaling group without signals.
- **The database as AWS has it.** The cluster is shimmed; its endpoints in the user data are
  pointed at a local MariaDB writer that requires TLS (its own CA as `PHOENIX_DB_SSL_CA`), the
  reader endpoint at the writer too (the user data carries one port for both). The stacks'
  secrets are shimmed too: the rehearsal makes them in moto's Secrets Manager as their
  `GenerateSecretString` would, and a master user on the local writer for RDS's secret.
- **The ALB in front.** The checks reach gunicorn over loopback, so the rehearsal overwrites the
  stack's `FORWARDED_ALLOW_IPS` parameter (the VPC CIDR) with `127.0.0.1`.
- **The DR restore as AWS does it.** The snapshot is a logical dump of the local writer, not an
  Aurora cluster snapshot copied by AWS Backup; the DR stacks are created (above), but the
  restored data is read by the application on loopback, not by an instance booted there. S3
  (the media bucket's copy to the DR region) is not rehearsed."""


def render(boot: Boot | None) -> str:
    """Return the markdown of the boot section (a note when the boot was not run)."""
    if boot is None:
        return "## The first boot\n\nNot run this time (`--no-boot`, or the primary phase left out)."
    verdict = "healthy" if boot.healthy else "**not healthy**"
    lines = [
        "## The first boot",
        "",
        f"One instance of phoenix-application (us-east-1) booted in a temporary root: {verdict}, "
        f"`userdata.sh` exited {boot.exit_code} after {boot.seconds:.0f} s.",
        "",
        "Run for real: the user data moto's CloudFormation rendered into the launch template (below),",
        "`deploy/userdata.sh` with bash and curl, `deploy/phoenix_env.py` against moto's SSM Parameter",
        "Store and Secrets Manager (docs/deploy.md section 1's parameters put there first),",
        "`manage.py migrate_locked` on a MariaDB writer over TLS, gunicorn with deploy/gunicorn.conf.py.",
        "Stand-ins: IMDSv2 on loopback (token on PUT, metadata only with it; the instance id of one the",
        "rehearsed Auto Scaling group launched on moto), and `systemctl`, `cfn-signal` and",
        "`amazon-cloudwatch-agent-ctl` first on PATH (deploy/rehearse/bin/).",
        "",
        "The user data as rendered:",
        "",
        "```bash",
        boot.user_data.rstrip(),
        "```",
        "",
        "What the rehearsal changed in it before running it:",
        "",
        *[f"- {change}" for change in boot.substitutions],
        "",
    ]
    if boot.as_rendered:
        lines += [f"As rendered, it failed at once: `{boot.as_rendered}` (see the findings).", ""]
    lines += [
        "Run before the boot, as docs/deploy.md section 3 says (the database users' bootstrap, as the",
        "master user over TLS): " + (", ".join(f"`{command}`" for command in boot.bootstrap) or "nothing") + ".",
        "",
        "Bake steps run on the archive: " + (", ".join(f"`{command}`" for command in boot.baked) or "none") + ".",
        "",
        "| check | result | detail |",
        "| --- | --- | --- |",
        *[
            f"| {what} | {'pass' if passed else '**FAIL**'} | {detail.replace('|', '/')} |"
            for what, passed, detail in boot.checks
        ],
        "",
        "Recorded instead of run:",
        "",
        *[f"- `systemctl {call}`" for call in boot.systemctl],
        *[f"- `cfn-signal {call}`" for call in boot.signals],
        *[f"- `amazon-cloudwatch-agent-ctl {call}`" for call in boot.cwagent],
        "",
        *faulty(boot.variants),
        *restored(boot.restore),
        NOT_YET,
    ]
    return "\n".join(lines)


def restored(restore) -> list[str]:
    """Return the lines of the DR restore rehearsal (deploy/rehearse/restore.py)."""
    if restore is None:
        return []
    verdict = (
        f"**every sealed value read back**: {restore.opened} of {restore.rows}"
        if restore.healthy
        else f"**FAILED**: {restore.opened} of {restore.rows} read back"
        + (f" ({restore.error})" if restore.error else "")
    )
    return [
        "### The DR restore reads the sealed columns",
        "",
        f"{verdict} (subscriber e-mails and webhook secrets), with the key read from the replica in "
        f"{restore.replica_region}; the same data with a newly generated key (what a restore without the "
        f"replicated secret would have): {max(restore.wrong_key_opened, 0)} opened.",
        "",
        *[f"{n}. {step}" for n, step in enumerate(restore.steps, 1)],
        "",
    ]


def faulty(variants: list[Boot]) -> list[str]:
    """Return the lines of the boots under faults: each on a fresh writer, the same user data."""
    if not variants:
        return []
    lines = [
        "### The same boot under faults",
        "",
        "Each on a fresh local writer and temporary root, with the same user data, stand-ins and",
        "bootstrap as above, and one fault on loopback (deploy/rehearse/faults.py) between the",
        "instance and AWS or the database. Every check of the table above must pass as well.",
        "",
        "| fault | what happens | outcome | s | what the boot did |",
        "| --- | --- | --- | ---: | --- |",
    ]
    for variant in variants:
        failed = [what for what, passed, _ in variant.checks if not passed]
        outcome = "healthy" if variant.healthy else "**not healthy**: " + ("; ".join(failed) or "exit status")
        extra = "; ".join(detail for what, _, detail in variant.checks if "retried" in what) or "-"
        lines.append(f"| {variant.fault} | {FAULTS[variant.fault]} | {outcome} | {variant.seconds:.0f} | {extra} |")
    return [*lines, ""]


def block(boot: Boot | None) -> str:
    """Return the boot section between its markers."""
    return marked(SECTION, render(boot))
