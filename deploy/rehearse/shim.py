"""The test-only shim: resources moto cannot model become stand-ins with faked ids and attributes.

moto's CloudFormation creates only the resource types it has a model for and drops the others
with a warning, so a stack "completes" without them and every `Ref` or `Fn::GetAtt` to them comes
out empty. The shim makes that explicit instead: each such resource is replaced, in a copy of
the template submitted as JSON, by an ``AWS::CloudFormation::WaitConditionHandle`` (which
creates nothing), and every `Ref`, `Fn::GetAtt` and `${...}` that names it is replaced by a fake
but well-formed value (an ARN, an id, an endpoint) derived from its stack and logical id. The
templates on disk are never edited; the report lists every shimmed resource.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from deploy.rehearse import ACCOUNT
from deploy.rehearse.templates import Step, resolve

STAND_IN = "AWS::CloudFormation::WaitConditionHandle"

# Types moto has a model for but that cannot stand as written in these templates, found by trying.
BROKEN: dict[str, str] = {
    "AWS::CloudWatch::Dashboard": (
        "moto's model resolves every `${...}` of the body, and its target group has no"
        " TargetGroupFullName attribute (AttributeError: 'FakeTargetGroup' object has no attribute"
        " 'get_cfn_attribute')"
    ),
    "AWS::RDS::DBInstance": (
        "moto creates an Aurora instance only in a cluster its RDS knows, and the cluster is shimmed"
        " (moto fails with KeyError 'aurora-mysql')"
    ),
}

# The property that names a resource, for the types whose `Ref` is that name.
NAME_PROPERTY = {
    "AWS::Backup::BackupVault": "BackupVaultName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::RDS::DBCluster": "DBClusterIdentifier",
    "AWS::RDS::DBClusterParameterGroup": "DBClusterParameterGroupName",
    "AWS::WAFv2::WebACL": "Name",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::DMS::ReplicationSubnetGroup": "ReplicationSubnetGroupIdentifier",
}
# Types whose `Ref` is an ARN (AWS's documented return values), and those whose `Ref` is an id.
REF_IS_ARN = {
    "AWS::SecretsManager::Secret": "secret",
    "AWS::DMS::ReplicationInstance": "rep",
    "AWS::DMS::Endpoint": "endpoint",
    "AWS::DMS::ReplicationTask": "task",
    "AWS::AutoScaling::ScalingPolicy": "scalingPolicy",
    "AWS::ApplicationAutoScaling::ScalingPolicy": "scalingPolicy",
    "AWS::CloudWatch::Alarm": "alarm",
}
REF_IS_ID = {
    "AWS::EC2::CustomerGateway": "cgw",
    "AWS::EC2::VPNConnection": "vpn",
    "AWS::EC2::SecurityGroupEgress": "sgr",
    "AWS::Backup::BackupPlan": "plan",
    "AWS::Backup::BackupSelection": "selection",
}


@dataclass
class Shimmed:
    """One resource replaced by a stand-in: where it is, what it was, what was faked for it."""

    stack: str
    region: str
    logical_id: str
    type: str
    reason: str
    created: bool  # False when its condition is false: CloudFormation would not create it either
    faked: dict[str, str] = field(default_factory=dict)  # "Ref" or attribute -> the fake value


@cache
def modelled_types() -> frozenset[str]:
    """Return the resource types moto's CloudFormation can create: the registry its parser consults
    (importing the parser imports every model it knows)."""
    from moto.cloudformation.parsing import NULL_MODELS, get_model_map

    return frozenset(get_model_map()) - set(NULL_MODELS)


def reason_for(kind: str) -> str | None:
    """Return why a resource of type KIND must be shimmed, or None if moto creates it."""
    if kind in BROKEN:
        return BROKEN[kind]
    if kind not in modelled_types():
        return "moto has no CloudFormation model for this type"
    return None


def _token(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:17]


def fake_ref(step: Step, logical: str, body: dict[str, Any], names: dict[str, str]) -> str:
    """Return the fake value of `Ref` to a shimmed resource: its ARN, its id or its name, as AWS would."""
    kind = body["Type"]
    service = kind.split("::")[1].lower()
    token = _token(step.region, step.name, logical)
    name = resolve(body.get("Properties", {}).get(NAME_PROPERTY.get(kind, ""), None), names)
    name = name or f"{step.name}-{logical}-shim".lower()
    if kind == "AWS::WAFv2::WebACL":
        return f"{name}|{token}|REGIONAL"
    if kind in REF_IS_ARN:
        return f"arn:aws:{service}:{step.region}:{ACCOUNT}:{REF_IS_ARN[kind]}:{name}"
    if kind in REF_IS_ID:
        return f"{REF_IS_ID[kind]}-{token}"
    return name


def fake_attribute(step: Step, logical: str, body: dict[str, Any], attribute: str, names: dict[str, str]) -> str:
    """Return the fake value of `Fn::GetAtt` LOGICAL.ATTRIBUTE for a shimmed resource."""
    kind = body["Type"]
    ref = fake_ref(step, logical, body, names)
    if kind == "AWS::RDS::DBCluster":
        cluster = {
            "Endpoint.Address": f"{ref}.cluster-shim.{step.region}.rds.amazonaws.com",
            "ReadEndpoint.Address": f"{ref}.cluster-ro-shim.{step.region}.rds.amazonaws.com",
            "Endpoint.Port": "3306",
            "DBClusterArn": f"arn:aws:rds:{step.region}:{ACCOUNT}:cluster:{ref}",
            "MasterUserSecret.SecretArn": f"arn:aws:secretsmanager:{step.region}:{ACCOUNT}:secret:rds!cluster-{_token(ref)}",
        }
        if attribute in cluster:
            return cluster[attribute]
    if kind == "AWS::WAFv2::WebACL" and attribute == "Arn":
        name, token, _ = ref.split("|")
        return f"arn:aws:wafv2:{step.region}:{ACCOUNT}:regional/webacl/{name}/{token}"
    if kind == "AWS::Backup::BackupVault" and attribute == "BackupVaultArn":
        return f"arn:aws:backup:{step.region}:{ACCOUNT}:backup-vault:{ref}"
    if attribute.endswith("Arn"):
        return f"arn:aws:{kind.split('::')[1].lower()}:{step.region}:{ACCOUNT}:{logical.lower()}/{ref}"
    return f"{ref}-{attribute.replace('.', '-').lower()}"


def _replace(value: Any, substitute) -> Any:
    """Return VALUE with every node for which SUBSTITUTE returns a replacement replaced by it."""
    replacement = substitute(value)
    if replacement is not None:
        return replacement
    if isinstance(value, dict):
        return {key: _replace(inner, substitute) for key, inner in value.items()}
    if isinstance(value, list):
        return [_replace(inner, substitute) for inner in value]
    return value


def cidr_blocks(block: str, count: int, bits: int) -> list[str]:
    """Return what `Fn::Cidr [BLOCK, COUNT, BITS]` returns: the first COUNT subnets of 32-BITS prefix."""
    network = ipaddress.ip_network(block)
    return [
        str(subnet)
        for _, subnet in zip(range(count), network.subnets(new_prefix=network.max_prefixlen - bits), strict=False)
    ]


def apply(
    template: dict[str, Any], step: Step, names: dict[str, str], live: set[str]
) -> tuple[dict[str, Any], list[Shimmed], list[str]]:
    """Return a copy of TEMPLATE with its unmodellable resources shimmed, the list of them, and the
    intrinsic functions moto cannot evaluate that the shim evaluated instead (moto has no `Fn::Cidr`).

    NAMES resolves parameters (for the fake names); LIVE holds the logical ids whose condition holds.
    """
    shimmed: dict[str, Shimmed] = {}
    evaluated: list[str] = []
    originals = template["Resources"]
    for logical, body in originals.items():
        reason = reason_for(body["Type"])
        if reason:
            shimmed[logical] = Shimmed(step.name, step.region, logical, body["Type"], reason, logical in live)

    def substitute(node: Any) -> Any:
        if not isinstance(node, dict) or len(node) != 1:
            return None
        ((key, inner),) = node.items()
        if key == "Ref" and inner in shimmed:
            return record(inner, "Ref", fake_ref(step, inner, originals[inner], names))
        if key == "Fn::GetAtt":
            logical, attribute = inner.split(".", 1) if isinstance(inner, str) else inner
            if logical in shimmed:
                return record(logical, attribute, fake_attribute(step, logical, originals[logical], attribute, names))
        if key == "Fn::Cidr":
            return cidr(inner)
        if key == "Fn::Sub":
            text, local = (inner, None) if isinstance(inner, str) else inner
            text = re.sub(r"\$\{([A-Za-z0-9]+)(?:\.([A-Za-z0-9.]+))?\}", lambda match: sub_fake(match, local), text)
            return {"Fn::Sub": text if local is None else [text, _replace(local, substitute)]}
        return None

    def sub_fake(match: re.Match, local: dict | None) -> str:
        logical, attribute = match.group(1), match.group(2)
        if logical not in shimmed or (local and logical in local):
            return match.group(0)
        body = originals[logical]
        if attribute:
            return record(logical, attribute, fake_attribute(step, logical, body, attribute, names))
        return record(logical, "Ref", fake_ref(step, logical, body, names))

    def cidr(arguments: list) -> list[str] | None:
        block, count, bits = (resolve(_replace(argument, substitute), names) for argument in arguments)
        if None in (block, count, bits):
            return None
        evaluated.append(f"Fn::Cidr [{block}, {count}, {bits}]")
        return cidr_blocks(block, int(count), int(bits))

    def record(logical: str, what: str, value: str) -> str:
        shimmed[logical].faked[what] = value
        return value

    result = copy.deepcopy(template)
    for section in ("Resources", "Outputs"):
        result[section] = _replace(result.get(section, {}), substitute)
    for logical, entry in shimmed.items():
        stand_in: dict[str, Any] = {"Type": STAND_IN, "Metadata": {"RehearsalShimFor": entry.type}}
        for key in ("Condition", "DependsOn"):
            if key in originals[logical]:
                stand_in[key] = originals[logical][key]
        result["Resources"][logical] = stand_in
    return result, list(shimmed.values()), sorted(set(evaluated))
