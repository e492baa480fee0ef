"""Rehearse the deployment on moto and write docs/rehearsal.md.

    .venv/bin/python -m deploy.rehearse [--phases primary,dr,cutover] [--report docs/rehearsal.md]

Starts moto in server mode on a free loopback port, creates every stack of the plan
(deploy/rehearse/templates.py) in order with the docs' parameters, the unmodellable resources
shimmed, checks exports, imports and outputs, boots one instance from the rendered user data
(deploy/rehearse/boot.py), stops everything and writes the report. Exits 1 if a stack did not
complete, a check failed or the rehearsal found a problem in the templates (the report is
written either way and says which).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run by path: the deploy package sits at the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deploy.local.lab.report import stamped, write_marked
from deploy.rehearse import REPO, bootreport, report
from deploy.rehearse.boot import FAULTS, Boot, first_boot
from deploy.rehearse.cloud import rehearse
from deploy.rehearse.findings import all_findings, boot_findings
from deploy.rehearse.restore import dr_restore
from deploy.rehearse.templates import PHASES, PLAN


def boots(endpoint: str, log) -> Boot:
    """Boot one instance as the docs say, then the same boot under each fault of FAULTS, then
    rehearse the DR restore of the sealed columns."""
    boot = first_boot(endpoint, say=log)
    boot.variants = [first_boot(endpoint, say=log, fault=fault) for fault in FAULTS]
    for variant in boot.variants:
        log(
            f"boot under {variant.fault}: {'healthy' if variant.healthy else 'NOT healthy'} after {variant.seconds:.0f} s"
        )
    boot.restore = dr_restore(endpoint, say=log)
    return boot


def main(argv: list[str] | None = None) -> int:
    """Run the rehearsal and write its report; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phases", default=",".join(PHASES), help="comma-separated subset of " + ", ".join(PHASES))
    parser.add_argument("--report", default=str(REPO / "docs" / "rehearsal.md"))
    parser.add_argument("--no-boot", action="store_true", help="create the stacks only, no first boot")
    args = parser.parse_args(argv)
    phases = tuple(phase for phase in PHASES if phase in args.phases.split(","))
    log = stamped("rehearse")
    started, clock = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), time.monotonic()
    with tempfile.TemporaryDirectory(prefix="phoenix-rehearse-") as scratch:
        moto_log = Path(scratch) / "moto.log"
        try:
            boot = None if args.no_boot or "primary" not in phases else (lambda endpoint: boots(endpoint, log))
            results, booted = rehearse(tuple(step for step in PLAN if step.phase in phases), moto_log, log, boot)
        except Exception:
            sys.stderr.write(moto_log.read_text()[-5000:] if moto_log.exists() else "")
            raise
    findings = all_findings(results) + boot_findings(booted)
    body = report.render(results, findings, started, time.monotonic() - clock, phases)
    report.write(Path(args.report), body)
    write_marked(Path(args.report), bootreport.SECTION, bootreport.block(booted), title=report.TITLE)
    log(f"wrote {args.report}: {len(results)} stacks, {sum(len(r.shimmed) for r in results)} shimmed resources")
    if booted:
        log(f"first boot: {'healthy' if booted.healthy else 'NOT healthy'}")
    failed = [r for r in results if r.status != "CREATE_COMPLETE" or r.problems]
    if failed or findings:
        # The report is written either way; the status says the deployment would not come up
        # as written (a stack failed, a check failed, or the templates have a finding).
        log(f"{len(failed)} stacks failed, {len(findings)} findings: see {args.report}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
