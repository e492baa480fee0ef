"""moto in server mode on loopback, and the plan's stacks created on it with boto3.

Each step is submitted as `create_stack` (what `aws cloudformation deploy` does for a new stack)
with the docs' parameters and ``CAPABILITY_IAM``, in its region, then waited for. Before a step
is submitted, every `Fn::ImportValue` it uses must name an export of a stack created earlier in
the same region (the check the docs' order relies on); after it completes, every output and
export the template promises must be there.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from deploy.local.lab.servers import moto_server
from deploy.rehearse import shim
from deploy.rehearse.templates import (
    CERTIFICATE,
    SOURCE_SECURITY_GROUP,
    Step,
    context,
    imports,
    live_resources,
    load,
    promised_outputs,
)

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def client(endpoint: str, service: str, region: str):
    """Return a boto3 client of SERVICE in REGION against the moto server at ENDPOINT."""
    return boto3.client(service, region_name=region, endpoint_url=endpoint, **CREDENTIALS)


@dataclass
class Created:
    """What one step produced: its status, its resources, the shim's list, the checks' findings."""

    step: Step
    status: str = "NOT STARTED"
    reason: str = ""
    resources: int = 0  # in the template
    live: int = 0  # whose condition holds
    created: int = 0  # listed by moto as created (real models, stand-ins excluded)
    shimmed: list[shim.Shimmed] = field(default_factory=list)
    evaluated: list[str] = field(default_factory=list)  # intrinsic functions the shim evaluated
    imports: list[tuple[str, str, str]] = field(default_factory=list)  # export name, importer, exporter
    outputs: dict[str, str] = field(default_factory=dict)
    promised: int = 0  # outputs whose condition holds
    present: int = 0  # of those, the ones moto returned with a value
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def fill(step: Step, endpoint: str) -> dict[str, str]:
    """Return the step's parameters with the docs' placeholders replaced by things that exist on moto."""
    values = dict(step.parameters)
    for name, value in values.items():
        if value == CERTIFICATE:
            acm = client(endpoint, "acm", step.region)
            values[name] = acm.request_certificate(DomainName="track.qualitypost.mx", ValidationMethod="DNS")[
                "CertificateArn"
            ]
        elif value == SOURCE_SECURITY_GROUP:
            ec2 = client(endpoint, "ec2", step.region)
            vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
            values[name] = ec2.create_security_group(GroupName="phoenix-old-cluster", Description="source", VpcId=vpc)[
                "GroupId"
            ]
    return values


def exports_of(endpoint: str, region: str) -> dict[str, str]:
    """Return {export name: exporting stack id} of every export in REGION."""
    cloudformation = client(endpoint, "cloudformation", region)
    found, token = {}, None
    while True:
        page = cloudformation.list_exports(**({"NextToken": token} if token else {}))
        found.update({export["Name"]: export["ExportingStackId"] for export in page["Exports"]})
        token = page.get("NextToken")
        if not token:
            return found


def wait(cloudformation, name: str, timeout: float = 120) -> dict:
    """Return the stack NAME once it has left every *_IN_PROGRESS status (or after TIMEOUT)."""
    deadline = time.monotonic() + timeout
    while True:
        stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            return stack
        time.sleep(0.2)


def create(step: Step, endpoint: str) -> Created:
    """Create STEP's stack on moto, shimmed; check its imports before and its outputs after."""
    started = time.monotonic()
    result = Created(step)
    parameters = fill(step, endpoint)
    template = load(step.path)
    names = context(template, Step(step.name, step.template, step.region, parameters, step.phase, step.docs))
    live = live_resources(template, names)
    result.resources, result.live = len(template["Resources"]), len(live)

    available = exports_of(endpoint, step.region)
    for export, importer in imports(template, names):
        exporter = available.get(export, "")
        result.imports.append((export, importer, exporter.split("/")[1] if exporter.count("/") >= 2 else exporter))
        if not exporter:
            result.problems.append(f"`{importer}` imports `{export}`, which no earlier stack in {step.region} exports")

    shimmed_template, result.shimmed, result.evaluated = shim.apply(template, step, names, set(live))
    cloudformation = client(endpoint, "cloudformation", step.region)
    try:
        cloudformation.create_stack(
            StackName=step.name,
            TemplateBody=json.dumps(shimmed_template),
            Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
            Capabilities=["CAPABILITY_IAM"],
        )
        stack = wait(cloudformation, step.name)
    except Exception as error:  # moto answers an unmodellable property with a 500: record it, go on
        result.status, result.reason = "CREATE_FAILED", f"{type(error).__name__}: {error}"[:500]
        result.seconds = time.monotonic() - started
        return result
    result.status, result.reason = stack["StackStatus"], stack.get("StackStatusReason", "")
    result.outputs = {output["OutputKey"]: output.get("OutputValue", "") for output in stack.get("Outputs", [])}
    listed = cloudformation.describe_stack_resources(StackName=step.name)["StackResources"]
    # moto lists an entry for every resource; those it created carry their logical id.
    made = {resource["LogicalResourceId"] for resource in listed if resource.get("LogicalResourceId")}
    result.created = len(made)
    expected = set(live) - {entry.logical_id for entry in result.shimmed}
    for logical in sorted(expected - made):
        result.problems.append(f"`{logical}` ({live[logical]['Type']}) was not created")

    exported = exports_of(endpoint, step.region)
    promised = promised_outputs(template, names)
    result.promised, result.present = len(promised), sum(1 for key in promised if result.outputs.get(key))
    for key, export in promised.items():
        if not result.outputs.get(key):
            result.problems.append(f"output `{key}` is promised but missing or empty")
        if export and export not in exported:
            result.problems.append(f"export `{export}` (output `{key}`) is promised but not exported")
    result.seconds = time.monotonic() - started
    return result


def rehearse(
    plan: tuple[Step, ...], log: Path, say: Callable[[str], None] = lambda message: None, then: Callable | None = None
) -> tuple[list[Created], Any]:
    """Start moto, create every step of PLAN in order, run THEN(endpoint) if given, stop moto;
    return what each step produced and what THEN returned."""
    results = []
    with moto_server(log) as endpoint:
        for step in plan:
            result = create(step, endpoint)
            say(
                f"{step.name} ({step.region}): {result.status}, {len(result.shimmed)} shimmed, {len(result.problems)} problems"
            )
            results.append(result)
        return results, (then(endpoint) if then else None)
