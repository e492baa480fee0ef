"""What the rehearsal can tell about the templates beyond "it creates": region-bound values.

A stack deployed in the DR region "as in section 3" gets the same parameters as in the primary
region, so a default that holds only in us-east-1 goes wrong there silently; moto accepts any
account id, so this is checked here against the values AWS documents per region.
"""

from __future__ import annotations

from dataclasses import dataclass

from deploy.rehearse.boot import Boot
from deploy.rehearse.cloud import Created
from deploy.rehearse.templates import context, load

# The Elastic Load Balancing account that writes ALB access logs, per region (AWS's
# "Enable access logs for your Application Load Balancer" page; regions before August 2022).
ELB_LOG_ACCOUNTS = {"us-east-1": "127311923021", "us-west-2": "797873946194"}


@dataclass(frozen=True)
class Finding:
    """One problem in a template or in the docs, and where it is."""

    where: str
    text: str


def elb_log_account(results: list[Created]) -> list[Finding]:
    """Return a finding for each application stack whose ALB log account is not its region's."""
    found = []
    for result in results:
        if result.step.template != "application":
            continue
        account = context(load(result.step.path), result.step).get("ElbAccountId", "")
        expected = ELB_LOG_ACCOUNTS.get(result.step.region)
        if account and expected and account != expected:
            found.append(
                Finding(
                    f"application.yaml, {result.step.name} in {result.step.region} ({result.step.docs})",
                    f"`ElbAccountId` is `{account}` (the default, us-east-1's log account) but the ALB in "
                    f"{result.step.region} is logged by `{expected}`: the access-log bucket policy admits the "
                    "wrong account, so the ALB there cannot write its logs: pass the region's `ElbAccountId`.",
                )
            )
    return found


def not_created(results: list[Created]) -> list[Finding]:
    """Return a finding for each stack that did not complete or had a failed check."""
    return [
        Finding(f"{result.step.template}.yaml, {result.step.name} in {result.step.region}", problem)
        for result in results
        for problem in (
            [f"the stack ended {result.status}: {result.reason}"] if result.status != "CREATE_COMPLETE" else []
        )
        + result.problems
    ]


def all_findings(results: list[Created]) -> list[Finding]:
    """Return everything the rehearsal found in the templates and the docs' parameters."""
    return not_created(results) + elb_log_account(results)


def boot_findings(boot: Boot | None) -> list[Finding]:
    """Return what the first boot showed about the bake, the user data and userdata.sh."""
    if boot is None:
        return []
    found = []
    if boot.as_rendered:
        found.append(
            Finding(
                "application.yaml's user data and deploy/userdata.sh (git mode 100644)",
                "the launch template's user data runs `exec /opt/phoenix/app/deploy/userdata.sh`, but the file "
                "is not executable in git, so not in `git archive` nor on the AMI (provision.sh does not chmod "
                f"it): `{boot.as_rendered.split(': ', 1)[-1]}`. Nothing traps that failure, so no instance ever "
                "signals, and the first creation of phoenix-application waits out its 20-minute creation policy "
                "and rolls back. tests/deploy/test_userdata.py runs `bash deploy/userdata.sh` and cannot see it. "
                "Fix: `git update-index --chmod=+x deploy/userdata.sh` (or `exec bash ...` in the user data).",
            )
        )
    if boot.restore is not None and not boot.restore.healthy:
        restore = boot.restore
        found.append(
            Finding(
                "the DR restore (docs/deploy.md section 9)",
                f"{restore.opened} of {restore.rows} sealed values read back with the replicated key, "
                f"{restore.wrong_key_opened} with a new key" + (f": {restore.error}" if restore.error else ""),
            )
        )
    for variant in boot.variants:
        failed = [f"{what} ({detail})" for what, passed, detail in variant.checks if not passed]
        if not variant.healthy:
            found.append(
                Finding(
                    f"the boot under the fault {variant.fault}",
                    f"not healthy (exit {variant.exit_code}): " + ("; ".join(failed) or variant.output_tail[-300:]),
                )
            )
    for what, passed, detail in boot.checks:
        if passed or what == "the user data runs as rendered":  # that one is the finding above
            continue
        if what.startswith("the home page in Spanish"):
            found.append(
                Finding(
                    "deploy/packer/provision.sh",
                    "Spanish visitors get English: the catalogues' compiled .mo files are not in git, and the "
                    "bake runs no `compilemessages` (its manage.py commands: "
                    + (", ".join(boot.baked) or "none")
                    + f"). The home page for `Accept-Language: es` answered {detail}.",
                )
            )
        else:
            found.append(Finding("first boot", f"{what}: {detail}"))
    return found
