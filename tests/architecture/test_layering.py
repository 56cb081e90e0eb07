"""The house rule: libraries below, one application on top, no cycles.

    protocol (no I/O)  <  edge, cloud (libraries)  <  firmware_sim (fakes)  <  waystation (app)

A library importing upward (`cloud` → `waystation`, a production tool → the simulator) or
sideways (`cloud` ↔ `edge`) makes an install drag in parts it does not run and ties releases
together. Every import counts, also one inside a function: a lazy import still breaks the
install that lacks the package. Cycles are checked on module-level imports (outside
`if TYPE_CHECKING:`), the ones that run at import time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.imports import PACKAGES, ROOT, imports, modules

# What each package may import from the others (itself always).
ALLOWED: dict[str, set[str]] = {
    "protocol": set(),
    "edge": {"protocol"},
    "cloud": {"protocol"},
    "firmware_sim": {"protocol", "edge"},
    "waystation": {"protocol", "edge", "cloud", "firmware_sim"},
}


def test_no_package_imports_upward_or_sideways() -> None:
    wrong = []
    for module, path in modules():
        own = module.split(".")[0]
        for target, line in imports(module, path, top_level_only=False):
            other = target.split(".")[0]
            if other in PACKAGES and other != own and other not in ALLOWED[own]:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {own} imports {target}")
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_no_import_cycles() -> None:
    known = dict(modules())
    graph: dict[str, set[str]] = {m: set() for m in known}
    for module, path in known.items():
        for target, _ in imports(module, path, top_level_only=True):
            if target in known and target != module:
                graph[module].add(target)
    cycles = _strongly_connected(graph)
    assert not cycles, "\n".join(" -> ".join(sorted(c)) for c in cycles)


def _room(module: str) -> str:
    """The sub-package (or root module) of a library a module lives in: `cloud.stations`
    for `cloud.stations.finder`, `cloud.models` for itself."""
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_cycles_between_the_rooms_of_a_library() -> None:
    """Sub-packages form floors too: `cloud.stations` below `cloud.alarms` below
    `cloud.ingest`. A cycle between two of them (every import counted, lazy ones too, not
    those for type checking only) means
    one of them holds something of the other's: `cloud.stations.sight` once read the alarm
    table, and `cloud.auth` once took its client address from `cloud.api`."""
    graph: dict[str, set[str]] = {}
    where: dict[tuple[str, str], str] = {}
    for module, path in modules():
        if module.split(".")[0] not in ("edge", "cloud", "protocol", "firmware_sim"):
            continue
        room = _room(module)
        graph.setdefault(room, set())
        for target, line in imports(module, path, top_level_only=False, typing_only=False):
            other = _room(target)
            if other != room and target.split(".")[0] == module.split(".")[0]:
                graph[room].add(other)
                where.setdefault((room, other), f"{path.relative_to(ROOT)}:{line}")
    for room in list(graph.values()):
        for other in room:
            graph.setdefault(other, set())
    cycles = _strongly_connected(graph)
    described = []
    for cycle in cycles:
        arrows = [where[(a, b)] for a in cycle for b in graph[a] if b in cycle]
        described.append(" <-> ".join(sorted(cycle)) + ": " + ", ".join(sorted(arrows)))
    assert not cycles, "\n".join(described)


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative; components of more than one module (the cycles)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("import cloud.db\n", "cloud.db"),
        ("def f():\n    from waystation import demo\n", "waystation.demo"),
        ("try:\n    from cloud.auth import Role\nexcept ImportError:\n    pass\n", "cloud.auth"),
    ],
)
def test_the_rule_sees_lazy_and_plain_imports(tmp_path: Path, source: str, target: str) -> None:
    path = tmp_path / "x.py"
    path.write_text(source)
    assert target in [t for t, _ in imports("edge.x", path, top_level_only=False)]


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        {"a", "b", "c"}
    ]
