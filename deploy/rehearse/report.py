"""docs/rehearsal.md: what the rehearsal created, what it shimmed, what it checked, what it found.

The file holds one section per part of the rehearsal (``stacks`` today) between the markers of
deploy/local/lab/report.py, so that each part rewrites its own; ``shimmed_rows`` reads the shim
table back for the test that holds the report to what the stacks really need.
"""

from __future__ import annotations

import platform
import re
from importlib.metadata import version
from pathlib import Path

from deploy.local.lab.report import cores_and_memory, marked, write_marked
from deploy.rehearse.cloud import Created
from deploy.rehearse.findings import Finding

TITLE = """# Deployment rehearsal

Written by `make rehearse` (deploy/rehearse/); do not edit by hand. The deployment of
docs/deploy.md rehearsed on one machine, against moto in server mode on loopback: nothing here
reached AWS."""
SECTION = "stacks"
SHIM_HEADER = "| stack | region | logical id | type | why | faked for its users |"


def machine_line() -> str:
    """Return the machine and the versions that decide what moto can model."""
    tools = ", ".join(f"{name} {version(name)}" for name in ("moto", "boto3", "cfn-lint"))
    return (
        f"{cores_and_memory()}, {platform.system()} {platform.release()}, Python {platform.python_version()}; {tools}"
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(
    results: list[Created], findings: list[Finding], started: str, seconds: float, phases: tuple[str, ...]
) -> str:
    """Return the markdown of the stacks section."""
    complete = sum(result.status == "CREATE_COMPLETE" for result in results)
    shimmed = [entry for result in results for entry in result.shimmed]
    problems = [(result, problem) for result in results for problem in result.problems]
    per_template = {result.step.template: result.resources for result in results}
    templates = sum(per_template.values())
    distinct = {(result.step.template, entry.logical_id) for result in results for entry in result.shimmed}
    lines = [
        "## The stacks, in the docs' order",
        "",
        f"Run {started}, phases {', '.join(phases)}, {seconds:.0f} s in all, on {machine_line()}.",
        "",
        f"{complete} of {len(results)} stacks reached CREATE_COMPLETE; {len(shimmed)} resources shimmed "
        f"({sum(entry.created for entry in shimmed)} of them with their condition true); "
        f"{sum(len(result.imports) for result in results)} imports checked, {len(problems)} problems. "
        f"Counted once per template: {len(distinct)} of the {templates} resources of "
        f"{len(per_template)} templates need the shim.",
        "",
        "Each step is one `aws cloudformation deploy` of docs/deploy.md section 3 (the primary region),",
        "section 9 step 3 (the restore in the DR region) or docs/cutover.md section 2 (the temporary",
        "migration stack), submitted with boto3 as `create_stack` with the parameters those pages give",
        "and `CAPABILITY_IAM`. The docs' placeholders are filled with things that exist on moto: a",
        "certificate requested from moto's ACM for `CertificateArn`, a security group for",
        "`SourceSecurityGroupId`, a recovery-point ARN for `SnapshotIdentifier`.",
        "",
        "| # | stack | region | docs | status | resources | condition true | created by moto | shimmed | imports | outputs | s |",
        "| ---: | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for number, result in enumerate(results, 1):
        step = result.step
        status = result.status + (
            f" ({_cell(result.reason)})" if result.status != "CREATE_COMPLETE" and result.reason else ""
        )
        lines.append(
            f"| {number} | {step.name} ({step.template}.yaml) | {step.region} | {step.docs} | {status} | "
            f"{result.resources} | {result.live} | {result.created} | {len(result.shimmed)} | {len(result.imports)} | "
            f"{len(result.outputs)} | {result.seconds:.1f} |"
        )
    lines += [
        "",
        '"condition true": the resources CloudFormation creates with these parameters; "created by',
        'moto": those moto lists as created by its own models (the shimmed ones excluded).',
        "",
        "### Every shimmed resource",
        "",
        "moto's CloudFormation has no model for these types (or, for the DB instances, cannot create",
        "them without the shimmed cluster). Each is replaced, in the JSON submitted to moto, by an",
        "`AWS::CloudFormation::WaitConditionHandle` that creates nothing, and each `Ref`, `Fn::GetAtt`",
        "and `${...}` naming it by the fake value in the last column (so the resources and outputs",
        "that use it are still created and checked). The templates themselves are not edited.",
        "",
        SHIM_HEADER,
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for entry in shimmed:
        faked = "; ".join(f"{what} = `{value}`" for what, value in entry.faked.items()) or "(nothing refers to it)"
        why = entry.reason + ("" if entry.created else "; its condition is false here, so it would not be created")
        lines.append(
            f"| {entry.stack} | {entry.region} | {entry.logical_id} | {entry.type} | {_cell(why)} | {_cell(faked)} |"
        )
    evaluated = [(result, function) for result in results for function in result.evaluated]
    if evaluated:
        lines += ["", "Intrinsic functions moto cannot evaluate, evaluated by the shim before submission:", ""]
        lines += [f"- {result.step.name} ({result.step.region}): `{function}`" for result, function in evaluated]
    lines += [
        "",
        "### Exports and imports",
        "",
        "Before each step, every `Fn::ImportValue` it evaluates (resources and outputs whose condition",
        "holds, the branch of each `Fn::If` taken) must name an export of a stack created earlier in",
        "the same region; after it, every output the template promises must have a value and every",
        "export must be listed by `list_exports`.",
        "",
        "| stack | region | imports (export <- importing resources) | from | outputs promised / present |",
        "| --- | --- | --- | --- | --- |",
    ]
    for result in results:
        by_export: dict[str, list[str]] = {}
        sources = {}
        for export, importer, exporter in result.imports:
            by_export.setdefault(export, []).append(importer)
            sources[export] = exporter or "**missing**"
        imported = "<br>".join(f"`{export}` <- {', '.join(users)}" for export, users in by_export.items()) or "none"
        origins = ", ".join(sorted(set(sources.values()))) or "-"
        lines.append(
            f"| {result.step.name} | {result.step.region} | {imported} | {origins} | "
            f"{result.promised} / {result.present} |"
        )
    lines += ["", "### Problems", ""]
    lines += [f"- {result.step.name} ({result.step.region}): {problem}" for result, problem in problems] or [
        "None: every stack completed, every import found its export, every promised output is there."
    ]
    lines += ["", "### What the rehearsal found in the templates", ""]
    lines += [f"- **{finding.where}**: {finding.text}" for finding in findings] or ["Nothing."]
    return "\n".join(lines)


def write(path: Path, body: str) -> None:
    """Rewrite the stacks section of the report at PATH with BODY, keeping its other sections."""
    write_marked(path, SECTION, marked(SECTION, body), title=TITLE)


def shimmed_rows(path: Path) -> set[tuple[str, str, str, str]]:
    """Return (stack, region, logical id, type) of every row of the report's shim table."""
    text = path.read_text()
    table = text[text.index(SHIM_HEADER) :].split("\n\n", 1)[0].splitlines()[2:]
    return {tuple(re.split(r"\s*\|\s*", row.strip("| "))[:4]) for row in table}
