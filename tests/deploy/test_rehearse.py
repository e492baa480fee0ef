"""The deployment rehearsal (deploy/rehearse/): the primary region's stacks on a real moto server.

The full rehearsal (``make rehearse``) also creates the DR restore and the migration stack;
here the primary region's layers of docs/deploy.md section 3 are created as the docs order
them, docs/rehearsal.md must list exactly the resources the shim replaced, and one instance
boots from the user data the application stack rendered (deploy/rehearse/boot.py; it starts
its own MariaDB writer and replica). The boots under faults and the DR restore of the sealed
columns run only in make rehearse, which fails when one of them does (their quick forms: a
writer outage in test_userdata.py, a Parameter Store brown-out in test_phoenix_env.py, the
rotated key's fallbacks opening sealed values in test_secret_key_rotation.py).
"""

import dataclasses
import json

import pytest

from deploy.rehearse import REPO, shim
from deploy.rehearse.boot import bake_builds_the_application, exported, first_boot
from deploy.rehearse.cloud import Created, rehearse
from deploy.rehearse.findings import elb_log_account
from deploy.rehearse.report import shimmed_rows
from deploy.rehearse.templates import PLAN, Step, context, imports, live_resources, load

PRIMARY = tuple(step for step in PLAN if step.phase == "primary")


@pytest.fixture(scope="module")
def rehearsed(tmp_path_factory):
    """Create the primary phase's stacks on a fresh moto server and boot one instance, once."""
    return rehearse(PRIMARY, tmp_path_factory.mktemp("rehearse") / "moto.log", then=first_boot)


@pytest.fixture(scope="module")
def primary(rehearsed):
    """Return what each primary stack produced."""
    return rehearsed[0]


def test_every_primary_stack_completes_with_its_imports_and_outputs(primary):
    assert [(result.step.name, result.step.region) for result in primary] == [(s.name, s.region) for s in PRIMARY]
    for result in primary:
        assert result.status == "CREATE_COMPLETE", (result.step, result.reason)
        assert result.problems == [], result.step
        assert result.present == result.promised
        assert all(exporter for _, _, exporter in result.imports)
        assert result.created + sum(entry.created for entry in result.shimmed) == result.live, result.step


def test_the_report_lists_exactly_the_shimmed_resources(primary):
    report = shimmed_rows(REPO / "docs" / "rehearsal.md")
    steps = {(step.name, step.region) for step in PRIMARY}
    listed = {row for row in report if (row[0], row[1]) in steps}
    shimmed = {(e.stack, e.region, e.logical_id, e.type) for result in primary for e in result.shimmed}
    assert listed == shimmed, "docs/rehearsal.md is stale: run make rehearse"


def test_the_shim_leaves_no_reference_to_a_replaced_resource():
    step = next(step for step in PLAN if step.template == "database")
    template = load(step.path)
    names = context(template, step)
    shimmed, entries, _ = shim.apply(template, step, names, set(live_resources(template, names)))
    replaced = {entry.logical_id for entry in entries}
    text = json.dumps({key: shimmed[key] for key in ("Resources", "Outputs")})
    for logical in replaced:
        assert json.dumps({"Ref": logical}) not in text
        assert f'"Fn::GetAtt": ["{logical}"' not in text
        assert "${" + logical not in text
        assert shimmed["Resources"][logical]["Type"] == shim.STAND_IN
    assert load(step.path) == template, "the template on disk is read, never changed"
    cluster = next(entry for entry in entries if entry.logical_id == "Cluster")
    assert cluster.faked["Endpoint.Port"] == "3306"
    assert cluster.faked["DBClusterArn"].startswith("arn:aws:rds:us-east-1:")


def test_fn_cidr_is_evaluated_as_cloudformation_does():
    assert shim.cidr_blocks("10.20.0.0/16", 6, 12)[:2] == ["10.20.0.0/20", "10.20.16.0/20"]
    assert len(shim.cidr_blocks("10.20.0.0/16", 6, 12)) == 6


def test_imports_follow_conditions():
    vault = Step("phoenix-backup", "backup", "us-west-2", {"Mode": "dr-vault"})
    template = load(vault.path)
    assert imports(template, context(template, vault)) == [], "the DR vault stack needs no other layer"
    primary = Step("phoenix-backup", "backup", "us-east-1", {"Mode": "primary", "DrRegion": "us-west-2"})
    assert ("phoenix-database-ClusterArn", "Selection") in imports(template, context(template, primary))


def test_the_first_boot_configures_migrates_serves_and_signals(rehearsed):
    boot = rehearsed[1]
    assert "exec /opt/phoenix/app/deploy/userdata.sh" in boot.user_data
    assert exported(boot.user_data, "PHOENIX_CFN_STACK") == "phoenix-application"
    checks = {what: passed for what, passed, _ in boot.checks}
    assert boot.exit_code == 0, boot.output_tail
    assert checks["cfn-signal success, once"], boot.signals
    assert checks["/healthz answers 200"]
    assert checks["/etc/phoenix/env written with mode 0600"]
    assert checks["every IMDS read carried the session token"]
    assert checks["migrations applied on the writer (over TLS)"]
    assert "start phoenix.service" in boot.systemctl
    # docs/deploy.md section 3's bootstrap ran first; the instance then runs as phoenix_app and
    # keeps no trace of the migration user.
    assert boot.bootstrap and boot.bootstrap[0].startswith("deploy/db_users.py")
    assert checks["the application logs in as phoenix_app (rows only, no DDL)"]
    assert checks["the migration user's credentials removed after migrating"]


def test_the_bake_stand_in_runs_what_provision_sh_runs():
    assert bake_builds_the_application()


def test_a_dr_application_stack_with_the_primary_log_account_is_a_finding():
    dr = next(step for step in PLAN if step.template == "application" and step.region == "us-west-2")
    # As docs/deploy.md section 9 read before: no ElbAccountId, so us-east-1's default.
    without = dataclasses.replace(dr, parameters={k: v for k, v in dr.parameters.items() if k != "ElbAccountId"})
    assert [finding.where for finding in elb_log_account([Created(without)])] == [
        f"application.yaml, phoenix-application in us-west-2 ({dr.docs})"
    ]
    assert elb_log_account([Created(dr)]) == []  # as the docs say now
    assert elb_log_account([Created(next(step for step in PRIMARY if step.template == "application"))]) == []
