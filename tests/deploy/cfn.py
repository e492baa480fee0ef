"""Read CloudFormation templates (with their short-form tags) for the architecture tests."""

import functools
from pathlib import Path

import yaml

TEMPLATES = Path(__file__).resolve().parents[2] / "deploy" / "cloudformation"


class CfnLoader(yaml.SafeLoader):
    """A YAML loader that turns `!Ref X` into {"Ref": "X"} and `!Sub s` into {"Fn::Sub": s}."""


def _construct_tag(loader: CfnLoader, tag_suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_tag)


@functools.cache
def load(name: str) -> dict:
    """Return the parsed template deploy/cloudformation/NAME.yaml (parsed once; do not modify it)."""
    return yaml.load((TEMPLATES / f"{name}.yaml").read_text(), Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass


def resources(template: dict, kind: str) -> dict[str, dict]:
    """Return {logical id: resource} for every resource of type KIND."""
    return {name: res for name, res in template["Resources"].items() if res["Type"] == kind}


def az_index(subnet_or_instance: dict) -> int:
    """Return N of `!Select [N, !GetAZs ""]`, the zone a subnet or DB instance is placed in."""
    select = subnet_or_instance["Properties"]["AvailabilityZone"]["Fn::Select"]
    assert "Fn::GetAZs" in select[1], "zones must come from !GetAZs, not be hard-coded"
    return int(select[0])


def import_name(value) -> str:
    """Return the export name an `!ImportValue {Fn::Sub: ...}` refers to, or '' if VALUE is no import."""
    if isinstance(value, dict) and "Fn::ImportValue" in value:
        inner = value["Fn::ImportValue"]
        return inner["Fn::Sub"] if isinstance(inner, dict) else inner
    return ""
