#!/usr/bin/env python3
"""Benchmark: instructions per request (callgrind), Phoenix's paths beside bare references.

    deploy/local/bench_instructions.py [--shipments 2000] [--requests 20] [--write]

Instructions, unlike seconds, do not move with the machine's load: the same binary, inputs and
environment give the same count, so ratios between paths hold on a shared two-core machine.
Each target runs once under ``valgrind --tool=callgrind`` (Debian's valgrind) in its own
process, requests made in a loop through its WSGI application, without an HTTP server
(deploy/local/performance/instructions_child.py): Phoenix with its production settings
(DEBUG off, JSON logs, both database aliases on a real writer and replica), a minimal Django
project, and the bare references (deploy/local/performance/references.py). Warm-up requests
are left out; the fixed cost of a counter dump is measured and taken off. ``--write`` rewrites
the section ``instructions`` of docs/performance.md (or of BENCH_OUTPUT).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run by path: the deploy package sits at the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deploy.local.lab import REPO
from deploy.local.lab.processes import environment_without, manage, partner_token
from deploy.local.lab.report import cores_and_memory, marked, say, write_marked
from deploy.local.lab.servers import Cluster

SECTION = "instructions"
CHILD = REPO / "deploy" / "local" / "performance" / "instructions_child.py"
UNLIMITED = {
    "PHOENIX_API_RATE_IP": "100000000/minute",
    "PHOENIX_API_RATE_PARTNER": "100000000/minute",
    "PHOENIX_LOOKUP_BUDGET": "100000000",
}


def scenarios(numbers: list[str], key: str, requests: int) -> dict[str, list[dict]]:
    """Return each target's scenarios; an ``empty`` one first measures the cost of a dump."""
    pages = [f"/track/{number}/" for number in numbers]
    api = [f"/api/v1/tracking/{number}" for number in numbers]
    lookup = [f"/track/?numbers={','.join(numbers[:25])}"]
    es, en = {"Accept-Language": "es-MX,es;q=0.9"}, {"Accept-Language": "en-US,en;q=0.9"}
    few = max(2, requests // 4)
    return {
        "phoenix": [
            {"name": "empty", "paths": ["/healthz"], "requests": 0},
            {"name": "healthz", "paths": ["/healthz"]},
            {"name": "floor", "paths": ["/bench/floor"]},
            {"name": "page-es", "paths": pages, "headers": es},
            {"name": "page-en", "paths": pages, "headers": en},
            {"name": "api", "paths": api},
            {"name": "api-owner", "paths": api, "headers": {"Authorization": f"Token {key}"}},
            {"name": "lookup25", "paths": lookup, "headers": es, "warmup": 2, "requests": few},
        ],
        "phoenix-cached": [
            {"name": "empty", "paths": ["/healthz"], "requests": 0},
            {"name": "page-cached", "paths": pages, "headers": es, "warmup": len(pages)},
        ],
        "django-minimal": [
            {"name": "empty", "paths": ["/fixed"], "requests": 0},
            {"name": "minimal", "paths": ["/fixed"]},
        ],
        "flask": [
            {"name": "empty", "paths": pages, "requests": 0},
            {"name": "flask-page", "paths": pages},
        ],
        "bare": [
            {"name": "empty", "paths": pages, "requests": 0},
            {"name": "bare-page", "paths": pages},
            {"name": "bare-api", "paths": api},
        ],
    }


def measure(
    target: str, plan: list[dict], env: dict[str, str], *, warmup: int, requests: int, count: bool = True
) -> dict[str, float]:
    """Run ``target`` under callgrind; return instructions per request of each scenario.

    Without ``count`` the loop runs without valgrind: every request is still checked (200),
    nothing is counted (what the test suite runs).
    """
    with tempfile.TemporaryDirectory(prefix="phoenix-callgrind-") as work:
        plan_file = Path(work, "plan.json")
        child_target = "phoenix" if target.startswith("phoenix") else target
        plan_file.write_text(
            json.dumps(
                {"repo": str(REPO), "target": child_target, "warmup": warmup, "requests": requests, "scenarios": plan}
            )
        )
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={work}/cg.%p"] if count else []
        command.append(sys.executable)
        started = time.monotonic()
        run = subprocess.run(
            [*command, str(CHILD), str(plan_file)], cwd=REPO, env=env, capture_output=True, text=True, check=False
        )
        if run.returncode != 0:
            raise RuntimeError(f"{target} failed under callgrind:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}")
        totals = {}
        for dump in Path(work).glob("cg.*.*"):
            text = dump.read_text(errors="replace")
            trigger = re.search(r"^desc: Trigger: dump (\S+)", text, re.MULTILINE)
            summary = re.search(r"^summary: (\d+)", text, re.MULTILINE)
            if trigger and summary:
                totals[trigger.group(1)] = int(summary.group(1))
        say(f"{target}: {time.monotonic() - started:.0f} s{' under callgrind' if count else ''}")
    if not count:
        return {}
    empty = totals["empty"]
    return {
        scenario["name"]: (totals[scenario["name"]] - empty) / scenario.get("requests", requests)
        for scenario in plan
        if scenario["name"] != "empty"
    }


def run(shipments: int, requests: int, warmup: int, cluster: Cluster, count: bool = True) -> dict[str, float]:
    """Seed, then measure every target; return instructions per request by scenario."""
    env = {
        **environment_without("DJANGO_", "PHOENIX_", "DATABASE_"),
        **{k: v for k, v in cluster.env.items() if k.startswith("DATABASE_")},
        "DJANGO_SECRET_KEY": "benchmark-only-secret-key-not-for-production-0123456789",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_ALLOWED_HOSTS": "localhost",
        "PHOENIX_BENCH": "1",
        **UNLIMITED,
    }
    manage(env, "migrate", "--no-input", "-v0")
    manage(env, "compilemessages", "-v0", "--ignore=.venv", "--ignore=node_modules")
    manage(env, "collectstatic", "--no-input", "-v0")
    manage(env, "seed_demo", "--shipments", str(shipments), "--seed", "8", "--quiet")
    key = partner_token(manage(env, "create_partner", f"bench instructions {os.getpid()}").stdout)
    numbers = [
        line.split()[-1]
        for line in manage(env, "shell", "-c", NUMBERS).stdout.splitlines()
        if re.fullmatch(r"QP\d{12}", line.split()[-1] if line.split() else "")
    ]
    if len(numbers) < 25:
        raise RuntimeError(f"the seed gave {len(numbers)} numbers; 25 are needed")
    plans = scenarios(numbers, key, requests)
    cluster.wait_for_replica(say)
    figures: dict[str, float] = {}
    for target, plan in plans.items():
        cache = {"PHOENIX_PAGE_CACHE_SECONDS": "60" if target == "phoenix-cached" else "0"}
        figures.update(measure(target, plan, {**env, **cache}, warmup=warmup, requests=requests, count=count))
    return figures


# Numbers of shipments in every milestone the seed made, newest first (the pages' variety).
NUMBERS = (
    "from tracking.models import Shipment\n"
    "for n in Shipment.objects.order_by('-id').values_list('tracking_number', flat=True)[:25]: print(n)"
)

ROWS = [
    ("Phoenix `/healthz`", "healthz", "minimal"),
    ("fixed body through Phoenix's middleware (`/bench/floor`)", "floor", "minimal"),
    ("tracking page, Spanish, rendered (page cache off)", "page-es", "flask-page"),
    ("tracking page, English, rendered (page cache off)", "page-en", "flask-page"),
    ("tracking page, page-cache hit", "page-cached", "minimal"),
    ("tracking API, public", "api", "bare-api"),
    ("tracking API, the owner's token", "api-owner", "bare-api"),
    ("25-number lookup", "lookup25", "page-es"),
    ("reference: minimal Django view, startproject middleware", "minimal", None),
    ("reference: the page through Flask + Jinja2, one query", "flask-page", "bare-page"),
    ("reference: bare page, plain WSGI + Jinja2, one query", "bare-page", None),
    ("reference: bare JSON, plain WSGI + json, one query", "bare-api", None),
]


def render(figures: dict[str, float], command: str) -> str:
    """Return the report section: instructions per request and the ratio to each path's reference."""
    names = {
        "minimal": "minimal Django",
        "flask-page": "Flask page",
        "bare-page": "bare page",
        "bare-api": "bare JSON",
        "page-es": "one page",
    }
    lines = [
        "## Instructions per request",
        "",
        f"Counted by callgrind (`{command}`; {cores_and_memory()}), in-process through each WSGI",
        "application, warm-up requests left out. Instructions do not move with the machine's load, so",
        "these ratios hold on a noisy machine; the throughput sections above measure through gunicorn.",
        "",
        "| path | instructions per request | against | ratio |",
        "| --- | ---: | --- | ---: |",
    ]
    for label, name, base in ROWS:
        value = figures[name]
        against = f"{names[base]}" if base else ""
        ratio = f"{value / figures[base]:.2f}" if base else ""
        lines.append(f"| {label} | {value / 1e6:.2f} M | {against} | {ratio} |")
    return marked(SECTION, "\n".join(lines)) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shipments", type=int, default=2_000)
    parser.add_argument("--requests", type=int, default=20, help="measured requests per path")
    parser.add_argument("--warmup", type=int, default=10, help="requests per path left out")
    parser.add_argument("--write", action="store_true", help="rewrite the instructions section of the report")
    parser.add_argument("--check", action="store_true", help="run every path once without valgrind; count nothing")
    args = parser.parse_args()
    if args.shipments < 25 or args.requests < 1 or args.warmup < 1:
        parser.error("--shipments is at least 25; --requests and --warmup at least 1")
    if not args.check and not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        parser.error("valgrind is not installed: apt-get install valgrind")
    command = "deploy/local/bench_instructions.py " + " ".join(sys.argv[1:])
    cluster = Cluster("phoenix-bench-instructions-")
    try:
        figures = run(args.shipments, args.requests, args.warmup, cluster, count=not args.check)
    finally:
        cluster.stop()
    if args.check:
        print("every path of every target answered 200")
        return 0
    text = render(figures, command.strip())
    print(text)
    if args.write:
        write_marked(Path(os.environ.get("BENCH_OUTPUT", REPO / "docs" / "performance.md")), SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
