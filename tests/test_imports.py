"""The dependency picture of `tyler` and `lye` has no cycle (type-only imports included).

A cycle is what lets a low layer reach into a high one (the run loop into `Agent`'s private
state); this walks every module's imports with `ast`, so it holds without importing anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _module_name(path: Path) -> tuple[str, list[str]]:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
        return ".".join(parts), parts
    return ".".join(parts), parts[:-1]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.Module, runtime_only: bool) -> list[ast.Import | ast.ImportFrom]:
    """Import statements; `runtime_only` keeps those run at import time (not type-only, not lazy)."""
    if not runtime_only:
        return [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If) and not _is_type_checking(node):
            pending += node.body + node.orelse
        elif isinstance(node, ast.Try):
            pending += node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body]
    return found


def _imports(path: Path, package: list[str], modules: set[str], runtime_only: bool) -> set[str]:
    found: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text()), runtime_only):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            subs = {f"{base}.{a.name}" for a in node.names}
            found |= subs & modules
            if node.module is not None or not subs <= modules:  # `from . import x` of a submodule only
                found.add(base)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found & modules


def _graph(runtime_only: bool = False) -> dict[str, set[str]]:
    files = sorted([*(SRC / "tyler").rglob("*.py"), *(SRC / "lye").rglob("*.py")])
    names = {_module_name(f)[0]: f for f in files}
    graph = {}
    for name, path in names.items():
        graph[name] = _imports(path, _module_name(path)[1], set(names), runtime_only) - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (each holds a cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for dep in graph[node]:
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_the_loop_and_its_context() -> None:
    graph = _graph()
    assert "tyler.tools" in graph["lye._common"]  # lye is walked too: it and tyler are one picture
    assert "tyler._context" in graph["tyler._run"]
    assert {"tyler._run", "tyler._context"} <= graph["tyler.agent"]


def test_the_cycle_finder_finds_one() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_the_runtime_walk_skips_type_only_imports() -> None:
    assert "tyler.storage" in _graph()["tyler.agent"]  # `if TYPE_CHECKING:` import
    assert "tyler.storage" not in _graph(runtime_only=True)["tyler.agent"]


def test_no_import_cycle_in_tyler_at_run_time() -> None:
    assert _cycles(_graph(runtime_only=True)) == []


def test_no_cycle_through_the_agent_and_its_run_loop_even_for_types() -> None:
    core = {"tyler.agent", "tyler._run", "tyler._context", "tyler.events", "tyler.tools", "tyler.providers.base"}
    assert [c for c in _cycles(_graph()) if c & core] == []


def test_no_import_cycle_in_the_whole_package_even_for_types() -> None:
    """Every import counts (type-only under TYPE_CHECKING and lazy ones in functions too): a
    type-only cycle still ties two modules into one unit that can only be read, tested and
    changed together. The HTTP server's endpoint modules (native, resume) type the `Server`
    they are handed with the `tyler.server._types.Host` Protocol, so they never import `app`."""
    assert _cycles(_graph()) == []


def test_the_server_endpoints_do_not_import_the_app() -> None:
    graph = _graph()
    assert "tyler.server.native" in graph["tyler.server.app"]  # the walk sees app's routes
    assert [m for m in ("tyler.server.native", "tyler.server.resume") if "tyler.server.app" in graph[m]] == []


def test_the_run_loop_does_not_know_the_agent() -> None:
    assert "tyler.agent" not in _graph()["tyler._run"]
