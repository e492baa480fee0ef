"""The report of `make bench`: the section "bench" of docs/performance.md and docs/performance.png."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from deploy.local.lab.load import Result
from deploy.local.lab.report import cores_and_memory, replace_section
from deploy.local.performance import REPEAT_NUMBERS, log
from deploy.local.performance.ingest import INGEST_BATCH


def write_report(output: Path, results: dict[str, Result], ingest: dict, profiles: dict, **run) -> None:
    """Write the figures of a run into the section "bench" of ``output`` and the plot beside it."""
    floor = results["floor"]
    single = results["detail_single"]
    repeat = results["detail_repeat"]
    rows = [
        ("floor: fixed body, same middleware", floor, 1.0),
        (
            "tracking page /track/<n>/, 5,000 numbers, every request rendered",
            results["detail_phoenix"],
            _paired(results["detail_phoenix"], floor),
        ),
        (
            f"tracking page, repeat visits to {REPEAT_NUMBERS} numbers (page cache, {repeat.hit_ratio:.0%} hits)",
            repeat,
            _paired(repeat, floor),
        ),
        ("25-number lookup /track/?numbers=", results["lookup25"], _paired(results["lookup25"], floor)),
        ("tracking API /api/v1/tracking/<n>", results["api"], _paired(results["api"], floor)),
        ("tracking page, Phoenix router", results["detail_phoenix"], _paired(results["detail_phoenix"], single)),
        (
            "tracking page, django-multidb-router",
            results["detail_multidb"],
            _paired(results["detail_multidb"], single),
        ),
        ("tracking page, single database", single, 1.0),
    ]
    scales = [("small", run["small"]), ("large", run["scale"])]
    targets = [
        (
            "tracking page, every request rendered >= 0.6 x floor throughput",
            _paired(results["detail_phoenix"], floor),
            0.6,
            ">=",
        ),
        ("tracking page, repeat visits >= 0.6 x floor throughput", _paired(repeat, floor), 0.6, ">="),
        ("Phoenix router >= 0.97 x single database", _paired(results["detail_phoenix"], single), 0.97, ">="),
        (
            "Phoenix router >= django-multidb-router",
            _paired(results["detail_phoenix"], results["detail_multidb"]),
            1.0,
            ">=",
        ),
        (
            f"tracking page p50 at {run['scale']:,} <= 1.2 x at {run['small']:,}",
            _ratio(results["detail_large"].p50_ms, results["detail_small"].p50_ms),
            1.2,
            "<=",
        ),
        (
            f"25-number lookup p50 at {run['scale']:,} <= 1.2 x at {run['small']:,}",
            _ratio(results["lookup25_large"].p50_ms, results["lookup25_small"].p50_ms),
            1.2,
            "<=",
        ),
        ("ingest >= 0.1 x raw executemany", _ratio(ingest["api_events_per_s"], ingest["raw_events_per_s"]), 0.1, ">="),
    ]
    command = "make bench" + ("" if run["scale"] == 1_000_000 else f" BENCH_SCALE={run['scale']}")
    lines = [
        "## make bench: pages, API, routing and ingest against their floors",
        "",
        f"Machine: {cores_and_memory()}, shared with other work (the figures",
        "that matter are the ratios, measured in the same run). "
        f"Command: `{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{run['elapsed'] / 60:.1f} minutes). Data: {run['scale']:,} shipments seeded by `seed_demo` "
        "(3 to 12 events and 2 contacts each) on the local MariaDB writer + replica.",
        "",
        f"Load: wrk, {run['connections']} connections, {run['seconds']} s per run, each scenario run {run['rounds']} times (the",
        f"order reversed every other time) after a warm-up, the figures are the medians of the {run['rounds']} runs; the paths rotate",
        "through 5,000 tracking numbers spread over the whole table (200 of them for repeat visits, each run of",
        "which follows a one-second pass, as a page someone looked at within the minute would). The app:",
        "gunicorn with deploy/gunicorn.conf.py (gthread, 2 workers x 4 threads, access log on), DEBUG off, lookup",
        "rate limits and API throttles lifted (wrk is one client). Four gunicorns, all started before the first",
        "run: the production settings (floor, repeat visits, lookup, API), and one per router with the page",
        "cache off (tracking/site/pagecache.py), so that every tracking page there is rendered from the database.",
        "",
        "| scenario | req/s | p50 ms | p99 ms | errors | CPU ms/req | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, result, ratio in rows:
        cpu = f"{result.cpu_ms:.1f}" if result.cpu_ms else "-"
        lines.append(
            f"| {label} | {result.rps:,.0f} | {result.p50_ms:.1f} | {result.p99_ms:.1f} | {result.errors} | {cpu} "
            f"| {ratio:.2f} |"
        )
    lines += [
        "",
        "Ratios: the pages and the API against the floor; the three router rows against the single database;",
        "each the median of the per-round ratios (runs seconds apart), so that the machine's drift over minutes",
        "cancels out. CPU ms/req: the CPU time of the app's gunicorn processes and of both MariaDB servers during",
        "the runs, per request (the load generator not included): the price of a request, whatever the noise.",
        "Repeat visits: the share of hits is the replica's SELECT count during the runs against the requests.",
        "",
        "Lookup latency against table size (1 connection, so latency is not queueing):",
        "",
        "| scenario | shipments | req/s | p50 ms | p99 ms | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, label in (("detail", "tracking page"), ("lookup25", "25-number lookup")):
        for size, count in scales:
            r = results[f"{key}_{size}"]
            lines.append(f"| {label} | {count:,} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} |")
    lines += [
        "",
        f"Bulk ingest, {ingest['events']:,} events in batches of {INGEST_BATCH}, one batch at a time:",
        "",
        "| ingest | events/s | batch p50 ms | batch p99 ms | ratio |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| raw `executemany` + commit through mysqlclient (floor) | {ingest['raw_events_per_s']:,.0f} | "
        f"{ingest['raw_batch_ms'][0]:.0f} | {ingest['raw_batch_ms'][1]:.0f} | 1.00 |",
        f"| `POST /api/v1/events` through gunicorn | {ingest['api_events_per_s']:,.0f} | "
        f"{ingest['api_batch_ms'][0]:.0f} | {ingest['api_batch_ms'][1]:.0f} | "
        f"{_ratio(ingest['api_events_per_s'], ingest['raw_events_per_s']):.2f} |",
        "",
        "| target | measured | met |",
        "| --- | ---: | --- |",
    ]
    for label, value, threshold, op in targets:
        met = value >= threshold if op == ">=" else value <= threshold
        lines.append(f"| {label} | {value:.2f} | {'yes' if met else '**no**'} |")
    if all(profiles.values()):
        names = list(profiles)
        lines += [
            "",
            "Where the gunicorn workers' time goes under the same load (py-spy, samples of the thread that",
            "holds the GIL, so waiting on the database is not counted; each sample is put in the outermost",
            "category it is in):",
            "",
            "| category | " + " | ".join(names) + " |",
            "| --- | " + " | ".join("---:" for _ in names) + " |",
        ]
        shares = {name: {category: share for share, category in profiles[name]["categories"]} for name in names}
        order = sorted({c for name in names for c in shares[name]}, key=lambda c: -shares[names[-1]].get(c, 0))
        for category in order:
            lines.append(f"| {category} | " + " | ".join(f"{shares[n].get(category, 0):.0%}" for n in names) + " |")
        for name in names:
            lines += ["", f"Top frames by own time, {name}:", "", "| share | frame |", "| ---: | --- |"]
            lines += [f"| {share:.1%} | `{frame}` |" for share, frame in profiles[name]["leaves"]]
    output.parent.mkdir(parents=True, exist_ok=True)
    plot = output.parent / "performance.png"
    if _plot(plot, rows, results, scales, ingest):
        lines += ["", f"![throughput and latency per scenario]({plot.name})"]
    replace_section(output, "bench", "\n".join(lines))
    log(f"wrote {output}")


def _paired(result: Result, base: Result) -> float:
    """Return the median of the per-round throughput ratios of ``result`` to ``base``.

    Each round runs the scenarios back to back, so a ratio within a round compares runs a few
    seconds apart; the machine's speed drifts over minutes, which a ratio of medians would keep.
    """
    pairs = list(zip(result.runs_rps, base.runs_rps, strict=False))
    if not pairs:
        return _ratio(result.rps, base.rps)
    return statistics.median(_ratio(a, b) for a, b in pairs)


def _ratio(value: float, floor: float) -> float:
    """Return value / floor, NaN when the floor is zero (a run too short to complete a request)."""
    return value / floor if floor else float("nan")


def _plot(path: Path, rows: list, results: dict[str, Result], scales: list, ingest: dict) -> bool:
    """Draw throughput, latency, latency against table size and ingest into one PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed; no plot")
        return False
    blue, orange, grey = "#1f5fa8", "#f0a030", "#9aa5b1"
    labels = [label for label, _, _ in rows]
    fig, axes = plt.subplots(2, 2, figsize=(13, 8), constrained_layout=True)
    (rps, latency), (size, ingest_ax) = axes
    rps.barh(labels, [r.rps for _, r, _ in rows], color=[grey] + [blue] * (len(rows) - 1))
    for y, (_, r, ratio) in enumerate(rows):
        rps.text(r.rps, y, f" {r.rps:,.0f} ({ratio:.2f})", va="center", fontsize=8)
    rps.set_xlabel("requests per second (ratio to its floor)")
    rps.set_title("throughput, 16 connections")
    rps.invert_yaxis()
    rps.margins(x=0.25)
    latency.barh(labels, [r.p50_ms for _, r, _ in rows], color=blue, label="p50")
    latency.barh(
        labels,
        [r.p99_ms - r.p50_ms for _, r, _ in rows],
        left=[r.p50_ms for _, r, _ in rows],
        color=orange,
        label="p99",
    )
    latency.set_xlabel("latency, ms")
    latency.set_title("latency, 16 connections")
    latency.invert_yaxis()
    latency.set_yticklabels([])
    latency.legend()
    groups = [("detail", "tracking page"), ("lookup25", "25-number lookup")]
    width = 0.38
    for i, (size_key, count) in enumerate(scales):
        xs = [g + (i - 0.5) * width for g in range(len(groups))]
        p50 = [results[f"{key}_{size_key}"].p50_ms for key, _ in groups]
        size.bar(xs, p50, width, color=[grey, blue][i], label=f"{count:,} shipments")
        for x, value in zip(xs, p50, strict=True):
            size.text(x, value, f"{value:.1f}", ha="center", va="bottom", fontsize=8)
    size.set_xticks(range(len(groups)), [label for _, label in groups])
    size.set_ylabel("p50 latency, ms (1 connection)")
    size.set_title("lookup latency against table size")
    size.legend()
    names = ["raw executemany (floor)", "POST /api/v1/events"]
    values = [ingest["raw_events_per_s"], ingest["api_events_per_s"]]
    ingest_ax.barh(names, values, color=[grey, blue])
    for y, value in enumerate(values):
        ingest_ax.text(value, y, f" {value:,.0f}", va="center", fontsize=8)
    ingest_ax.set_xlabel("events per second, batches of 500")
    ingest_ax.set_title("bulk ingest")
    ingest_ax.invert_yaxis()
    ingest_ax.margins(x=0.2)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True
