"""The rehearsal's plan and what it reads in the templates, without any AWS API.

The plan is docs/deploy.md's section 3 as an operator types it (stack names, regions,
``--parameter-overrides``), then the disaster-recovery layers of section 9 and the migration
stack of docs/cutover.md. Templates are read with cfn-lint's YAML decoder, which understands the
short-form tags (``!Ref``, ``!Sub``, ``!GetAtt`` ...). Conditions, ``Fn::Sub`` strings and import
names are resolved here whenever their inputs are parameters or pseudo parameters, so that the
imports can be checked before a stack is submitted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

from deploy.rehearse import ACCOUNT, TEMPLATES

PRIMARY, DR = "us-east-1", "us-west-2"

# Values the docs leave for the operator to fill in; cloud.py supplies one that exists on moto.
CERTIFICATE = "<a certificate of the region>"
SOURCE_SECURITY_GROUP = "<the source cluster's security group>"
SITE_URL = "https://track.qualitypost.mx"
ADMIN = {"AdminCidrs": "203.0.113.10/32"}  # the office's public address (docs/deploy.md section 3)
# A recovery point copied into the DR vault: for Aurora, a cluster snapshot ARN of the DR region.
SNAPSHOT = "arn:aws:rds:us-west-2:123456789012:cluster-snapshot:awsbackup:job-rehearsal"


@dataclass(frozen=True)
class Step:
    """One `aws cloudformation deploy` of the docs: a stack, its region, its parameters."""

    name: str
    template: str
    region: str
    parameters: dict[str, str] = field(default_factory=dict)
    phase: str = "primary"
    docs: str = "docs/deploy.md §3"

    @property
    def path(self) -> Path:
        """Return the template file of this step."""
        return TEMPLATES / f"{self.template}.yaml"


PLAN: tuple[Step, ...] = (
    Step("phoenix-network", "network", PRIMARY, {"Environment": "prod", "AlarmEmail": "ops@qualitypost.mx"}),
    Step("phoenix-database", "database", PRIMARY),
    Step("phoenix-access", "access", PRIMARY),
    Step(
        "phoenix-application",
        "application",
        PRIMARY,
        {"AmiId": "ami-0123456789abcdef0", "CertificateArn": CERTIFICATE, "SiteUrl": SITE_URL} | ADMIN,
    ),
    Step("phoenix-backup", "backup", DR, {"Mode": "dr-vault"}),
    Step("phoenix-backup", "backup", PRIMARY, {"Mode": "primary", "DrRegion": DR}),
    Step("phoenix-vpn", "vpn", PRIMARY, {"OfficePublicIp": "203.0.113.10", "OfficeCidr": "192.168.0.0/16"}),
    # Section 9, step 3: the restore in the DR region, "as in section 3, with --region us-west-2".
    Step(
        "phoenix-network",
        "network",
        DR,
        {"Environment": "prod", "AlarmEmail": "ops@qualitypost.mx"},
        "dr",
        "docs/deploy.md §9",
    ),
    Step("phoenix-database", "database", DR, {"SnapshotIdentifier": SNAPSHOT}, "dr", "docs/deploy.md §9"),
    Step("phoenix-access", "access", DR, {}, "dr", "docs/deploy.md §9"),
    Step(
        "phoenix-application",
        "application",
        DR,
        {"AmiId": "ami-0123456789abcdef0", "CertificateArn": CERTIFICATE, "SiteUrl": SITE_URL}
        | ADMIN
        | {"ElbAccountId": "797873946194"},
        "dr",
        "docs/deploy.md §9",
    ),
    Step(
        "phoenix-migration",
        "migration",
        PRIMARY,
        {
            "SourceHost": "phoenix-old.cluster-abc.us-east-1.rds.amazonaws.com",
            "SourceSecurityGroupId": SOURCE_SECURITY_GROUP,
        },
        "cutover",
        "docs/cutover.md §2",
    ),
)
PHASES = ("primary", "dr", "cutover")


def load(path: Path) -> dict[str, Any]:
    """Return the template at PATH as plain JSON-ready data (short-form tags expanded)."""
    return json.loads(json.dumps(cfn_yaml.load(str(path))))


def parameter_values(template: dict[str, Any], given: dict[str, str]) -> dict[str, str]:
    """Return every parameter's value: the given ones, else the template's defaults."""
    values = {name: str(spec["Default"]) for name, spec in template.get("Parameters", {}).items() if "Default" in spec}
    values.update(given)
    return values


def context(template: dict[str, Any], step: Step) -> dict[str, str]:
    """Return the names a `Ref` or `${...}` can resolve to before creation: parameters, pseudo parameters."""
    return {
        **parameter_values(template, step.parameters),
        "AWS::StackName": step.name,
        "AWS::Region": step.region,
        "AWS::AccountId": ACCOUNT,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }


def resolve(value: Any, names: dict[str, str]) -> str | None:
    """Return VALUE as a string if it is a literal, a known `Ref` or a `Fn::Sub` of known names, else None."""
    if isinstance(value, str | int | float):
        return str(value)
    if not isinstance(value, dict) or len(value) != 1:
        return None
    ((key, inner),) = value.items()
    if key == "Ref":
        return names.get(inner)
    if key != "Fn::Sub":
        return None
    text, local = (inner, {}) if isinstance(inner, str) else (inner[0], inner[1])
    known = dict(names)
    for name, expression in local.items():
        known[name] = resolve(expression, names)

    missing = False

    def substitute(match: re.Match) -> str:
        nonlocal missing
        if match.group(1).startswith("!"):
            return "${" + match.group(1)[1:] + "}"
        found = known.get(match.group(1))
        if found is None:
            missing = True
            return match.group(0)
        return found

    result = re.sub(r"\$\{([^}]+)\}", substitute, text)
    return None if missing else result


def condition_values(template: dict[str, Any], names: dict[str, str]) -> dict[str, bool]:
    """Return the truth of every condition of the template, given the parameters in NAMES."""
    conditions = template.get("Conditions", {})
    done: dict[str, bool] = {}

    def truth(expression: Any) -> bool:
        ((key, inner),) = expression.items()
        if key == "Condition":
            return named(inner)
        if key == "Fn::Equals":
            left, right = (resolve(side, names) for side in inner)
            return left == right
        if key == "Fn::Not":
            return not truth(inner[0])
        if key == "Fn::And":
            return all(truth(part) for part in inner)
        if key == "Fn::Or":
            return any(truth(part) for part in inner)
        raise ValueError(f"cannot evaluate the condition {expression!r}")

    def named(name: str) -> bool:
        if name not in done:
            done[name] = truth(conditions[name])
        return done[name]

    for name in conditions:
        named(name)
    return done


def taken(value: Any, conditions: dict[str, bool]):
    """Yield every mapping nested in VALUE that CloudFormation evaluates: one branch of each `Fn::If`."""
    if isinstance(value, dict):
        if set(value) == {"Fn::If"}:
            name, when_true, when_false = value["Fn::If"]
            yield from taken(when_true if conditions[name] else when_false, conditions)
            return
        yield value
        for inner in value.values():
            yield from taken(inner, conditions)
    elif isinstance(value, list):
        for inner in value:
            yield from taken(inner, conditions)


def imports(template: dict[str, Any], names: dict[str, str]) -> list[tuple[str, str]]:
    """Return (export name, the resource or output that imports it) for every `Fn::ImportValue`
    CloudFormation evaluates (resources and outputs whose condition holds, branches taken).

    An import whose name cannot be resolved before creation is returned as its JSON text.
    """
    conditions = condition_values(template, names)
    found = []
    for section in ("Resources", "Outputs"):
        for logical, body in template.get(section, {}).items():
            if "Condition" in body and not conditions[body["Condition"]]:
                continue
            for node in taken(body, conditions):
                if "Fn::ImportValue" in node:
                    name = resolve(node["Fn::ImportValue"], names)
                    found.append((name or json.dumps(node["Fn::ImportValue"]), logical))
    return sorted(set(found))


def promised_outputs(template: dict[str, Any], names: dict[str, str]) -> dict[str, str | None]:
    """Return {output key: export name or None} for the outputs whose condition holds."""
    conditions = condition_values(template, names)
    promised = {}
    for key, output in template.get("Outputs", {}).items():
        if "Condition" in output and not conditions[output["Condition"]]:
            continue
        promised[key] = resolve(output["Export"]["Name"], names) if "Export" in output else None
    return promised


def live_resources(template: dict[str, Any], names: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Return the resources whose condition holds (those CloudFormation creates)."""
    conditions = condition_values(template, names)
    return {
        logical: body
        for logical, body in template["Resources"].items()
        if "Condition" not in body or conditions[body["Condition"]]
    }
