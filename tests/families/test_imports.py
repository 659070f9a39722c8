"""The families' imports, read from the source with ``ast``: no two family modules import each other
(at module level or inside a function, where a cycle hides from import-time failures), and only
``families/routes.py`` touches the web framework, so that an action returns data and the routes
alone decide what goes on the wire."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = ROOT / "mock_server" / "families"
# The modules that turn the families' data into HTTP; every other family module returns data.
ROUTE_MODULES = {"mock_server.families.routes", "mock_server.families.model_list"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Every module name an import statement anywhere in ``tree`` names, relative ones resolved;
    ``from package import name`` yields both ``package`` and ``package.name`` (which of the two is
    a module is for the caller to know)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: None if is_package else -1]
                base = base[: len(base) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            yield source
            yield from (f"{source}.{alias.name}" for alias in node.names)


def _graph() -> dict[str, set[str]]:
    paths = {_module(p): p for p in FAMILIES.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = _imported(tree, module, path.name == "__init__.py")
        graph[module] = {name for name in names if name in paths and name != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_two_family_modules_import_each_other() -> None:
    graph = _graph()
    assert "mock_server.families.rl.model" in graph  # the walk sees the sub-packages
    assert _cycles(graph) == []


def test_only_the_routes_module_imports_the_web_framework() -> None:
    web = ("fastapi", "starlette")
    users = sorted(
        _module(path)
        for path in FAMILIES.rglob("*.py")
        if _module(path) not in ROUTE_MODULES
        and any(
            name.split(".")[0] in web
            for name in _imported(ast.parse(path.read_text(encoding="utf-8")), "", False)
        )
    )
    assert users == []
