"""The drills' report: docs/reliability.md (`make drills`)."""

from __future__ import annotations

from datetime import datetime

from deploy.local.lab.report import machine
from deploy.local.reliability.figures import Drill, verdicts


def report(drills: list[Drill], *, quick: bool, elapsed: float, started: datetime) -> str:
    """Return docs/reliability.md for the drills of a run."""
    lines = [
        "# Reliability drills",
        "",
        "Written by `make drills` (deploy/local/drills.py); do not edit by hand. The drills run on",
        "real parts: a MariaDB writer and replica with GTID replication, HAProxy as the Aurora",
        "cluster and reader endpoints and as the ALB, two gunicorn instances with",
        "deploy/gunicorn.conf.py standing for two Availability Zones (docs/stack.md).",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC, {'quick subset' if quick else 'full run'}, {elapsed:.0f} s in all, on {machine()}.",
        "",
        "Each drill runs under a steady mixed load: customers viewing tracking pages of known numbers,",
        "a shop looking parcels up over the API, two hub scanners posting events with unique ids (and",
        "retrying an unacknowledged one with the same id, as partners do), a partner that posts an event",
        "and reads its shipment back at once with the same token, and a staff user who changes a",
        "facility in the admin and reads the change page back. After each drill the writer is asked",
        "for every event id that was posted.",
        "",
        "| drill | requests | failed GETs | writes answered 503 | other failed write attempts | writes lost | writes duplicated | writes resume after the endpoint moves (s) | longest gap between acknowledged writes (s) | stale reads of own writes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for d in drills:
        f = d.figures
        resume = ", ".join("-" if s is None else f"{s:.2f}" for s in f["resume_seconds"]) or "n/a"
        lines.append(
            f"| {d.number}. {d.title} | {f['requests']} | {f['failed_gets']} of {f['gets']} | {f['writes_503']} | "
            f"{f['write_errors_other']} | {f['writes_lost']} of {f['writes_acknowledged']} | {f['writes_duplicated']} | "
            f"{resume} | {f['longest_write_gap']} | {f['stale_own_reads']} of {f['own_reads']} |"
        )
    silent = [d for d in drills if d.fault is not None]
    if silent:
        lines += [
            "",
            "### Slow or silent servers (drills 6 to 13)",
            "",
            "Run in a network namespace of their own (iptables rules and floods touch only the drill's",
            'stack). "During" counts the requests in flight at some moment of the fault; recovery is how',
            "long after the fault ended the last failed request of the drill came back (0: none after it",
            "ended).",
            "",
            "| drill | fault (s) | public pages served during | page p99 (s) | partner lookups served | lookup p99 (s) | writes acknowledged during | recovery (s) | instance out of the ALB (samples) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for d in silent:
            f = d.figures
            share = f"{100 * f['pages_served_during'] / f['pages_during']:.1f} %" if f["pages_during"] else "-"
            lines.append(
                f"| {d.number}. {d.title} | {f['fault_seconds']} | {f['pages_served_during']} of {f['pages_during']} ({share}) | "
                f"{f['page_p99_during']} | {f['lookups_served_during']} of {f['lookups_during']} | {f['lookup_p99_during']} | "
                f"{f['writes_acknowledged_during']} | {f['recover_seconds']} | {sum(f['balancer_out'].values())} of {f['balancer_samples']} |"
            )
        for d in silent:
            if d.flood:
                fl = d.flood
                lines += [
                    "",
                    f"Drill {d.number}'s flood: {fl['answers']} answers {fl['statuses']}; served p99 {fl['served_p99']} s, "
                    f"shed (503) p99 {fl['shed_p99']} s.",
                ]
    lines += ["", "## Targets", ""]
    for d in drills:
        for target, met, figure in verdicts(d):
            lines.append(f"- drill {d.number}, {target}: **{'met' if met else 'MISSED'}** ({figure})")
    lines += ["", "## Details", ""]
    for d in drills:
        f = d.figures
        lines.append(f"### {d.number}. {d.title}")
        lines.append("")
        lines.append(
            f"- {f['writes']} event posts for {f['write_ids']} event ids, {f['writes_acknowledged']} acknowledged, "
            f"{f['writes_given_up']} given up after 15 s of retries, "
            f"{f['acknowledged_as_duplicate']} acknowledged on a retry as a duplicate (an earlier attempt that "
            "got no 2xx had been stored); failed write attempts by status: "
            f"{f['write_error_statuses'] or 'none'}; ids missing on the replica after it caught up: {f['replica_missing']}"
        )
        lines.append(
            f"- GETs failed by status: {f['failed_get_statuses'] or 'none'}; staff changes saved: {f['staff_writes']}; "
            f"reads of one's own writes: {f['own_reads']}, stale: {f['stale_own_reads']}"
        )
        lines.append(
            f"- control: right after each partner event another client (no pin) read the shipment "
            f"{f['control_reads']} times and did not see the event yet {f['control_missed']} times "
            "(expected only while the replica lags: it shows the lag was real and the check can fail)"
        )
        lines.append(f"- latency p50 {f['latency_p50']} s, p99 {f['latency_p99']} s (status 0 = no answer)")
        if f.get("replica_behind") is not None:
            lines.append(
                f"- the replica lacked {f['replica_behind']} scan events just before its SQL thread started again "
                "(the lag was real; reads by others that stayed fresh show the lag-aware reader at work)"
            )
        if f["write_pause_seconds"]:
            lines.append(
                f"- writes resumed {f['resume_seconds']} s after the cluster endpoint moved; the whole pause, "
                "from the last acknowledged write before the failover began (fencing the old writer, "
                "waiting for the replica to apply everything, promoting it) to the first one after, "
                f"was {f['write_pause_seconds']} s"
            )
        if f["resume_after_writer_back"] is not None:
            lines.append(f"- writes succeeded again {f['resume_after_writer_back']} s after the writer answered again")
        if d.actions:
            begin = min(r.started for r in d.records) if d.records else d.actions[0][0]
            timeline = "; ".join(f"{at - begin:.1f} s {what}" for at, what in d.actions)
            lines.append(f"- timeline from the first request: {timeline}")
        for note in d.notes:
            lines.append(f"- {note}")
        for example in f["examples"]:
            quoted = example.replace("`", "'")
            lines.append(f"- example: `{quoted}`")
        for message, times in sorted(d.app_log.items(), key=lambda item: -item[1])[:6]:
            quoted = message.replace("`", "'")
            lines.append(f"- the instances logged {times} x `{quoted}`")
        for target, met, figure in verdicts(d):
            if not met:
                lines.append(f"- **missed: {target}** ({figure}); see the examples above and the report's notes")
        lines.append("")
    lines += [
        "## How to rerun",
        "",
        "    make drills                                   # all thirteen drills, rewrites this file",
        "    .venv/bin/python deploy/local/drills.py --quick   # drills 1, 3 and 5 at a reduced load",
        "    .venv/bin/python deploy/local/drills.py --quick --drills 6,13   # as tests/deploy/test_slow_drills.py",
        "",
        "The quick subsets also run inside `make test` (tests/deploy/test_drills.py,",
        "tests/deploy/test_slow_drills.py), asserting the targets that do not depend on timing. Each",
        "run starts its own stack on free ports in a temporary directory and stops it at the end; see",
        "docs/stack.md to run the stack by hand. How the application is meant to behave in each",
        "failure, and why: [docs/failure-modes.md](failure-modes.md).",
        "",
    ]
    return "\n".join(lines)
