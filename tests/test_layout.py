"""The layout's rules, read from the code's own imports: no cycles, and imports point down.

Every ``import`` counts, at module level or inside a function, so a cycle cannot hide behind a
function-level import. The rooms: ``phoenix`` (the project: settings, database routing) knows
nothing of ``tracking``; the domain at ``tracking/``'s root serves every audience and imports
none of them, except that recording a scan event records what it owes (``tracking.notify.outbox``);
each audience (``site``, ``api``, ``admin``, ``notify``, ``cutover``) builds on the domain and not
on another audience, except the admin, which registers the notify screens, and the API, whose
webhook self-service calls the same notify functions (registration, URL rules, replay) as the admin.
"""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("phoenix", "tracking")
AUDIENCES = ("site", "api", "admin", "notify", "cutover")
# Wiring, not rooms: the app config registers checks, commands and migrations may use anything.
WIRING = ("tracking.apps", "tracking.management", "tracking.migrations")
# Room -> rooms it may import besides itself and the domain.
ALLOWED = {
    "phoenix": set(),
    "domain": {"notify.outbox"},
    "site": set(),
    "api": {"notify.webhooks", "notify.outbox"},
    "admin": {"notify"},
    "notify": set(),
    "cutover": set(),
}


def _modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Return the project modules that ``name`` imports anywhere in its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from a import b`` imports the module a.b when there is one, else a name of a.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


# Root modules that one audience alone uses today, and why they live at the root anyway.
ROOT_BY_DESIGN = {
    # The notify worker's task: its dotted path is stored in every queued task row.
    "tracking.tasks": "notify",
    # Sealing personal data at rest is the domain's: e-mails today, phones and addresses next.
    "tracking.sealing": None,
}


def _room(module: str) -> str:
    if module.split(".")[0] == "phoenix":
        return "phoenix"
    if ROOT_BY_DESIGN.get(module):
        return ROOT_BY_DESIGN[module]
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in AUDIENCES:
        return parts[1]
    return "domain"


def _allowed(source: str, target: str) -> bool:
    room, target_room = _room(source), _room(target)
    if target_room == room or target_room == "phoenix":
        return True
    if room == "phoenix":
        return False
    if target_room == "domain":
        return True
    rules = ALLOWED[room]
    short = target.removeprefix("tracking.")
    return target_room in rules or short in rules or any(short.startswith(f"{rule}.") for rule in rules)


def _cycles() -> list[list[str]]:
    """Return the strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    return components


def test_it_reads_the_whole_project():
    assert {"tracking.models", "tracking.site.views", "tracking.notify.sender", "phoenix.db.router"} <= set(MODULES)
    assert "tracking.notify.sender" in GRAPH["tracking.tasks"]


def test_it_has_no_import_cycle():
    assert _cycles() == []


def test_it_finds_a_cycle_where_there_is_one(monkeypatch):
    monkeypatch.setitem(GRAPH, "tracking.notify.sender", GRAPH["tracking.notify.sender"] | {"tracking.tasks"})
    assert ["tracking.notify.sender", "tracking.tasks"] in _cycles()


def test_it_keeps_the_project_package_below_the_domain():
    upward = {(source, target) for source, targets in GRAPH.items() for target in targets}
    assert {(s, t) for s, t in upward if _room(s) == "phoenix" and t.startswith("tracking")} == set()


@pytest.mark.parametrize("room", ["domain", *AUDIENCES])
def test_it_points_every_import_of_a_room_down(room):
    wrong = {
        (source, target)
        for source, targets in GRAPH.items()
        if _room(source) == room and not source.startswith(WIRING)
        for target in targets
        if not _allowed(source, target)
    }
    assert wrong == set()


def test_it_keeps_no_single_audience_module_at_the_root():
    single = {}
    for name in MODULES:
        if name.count(".") != 1 or _room(name) != "domain" or name.startswith(WIRING) or name in ROOT_BY_DESIGN:
            continue
        rooms = {
            _room(source) for source, targets in GRAPH.items() if name in targets and not source.startswith(WIRING)
        }
        if len(rooms) == 1 and rooms != {"domain"}:
            single[name] = rooms
    assert single == {}
