"""The package's import graph is one-way: no module imports, directly or through others, a module that imports
it. Every import counts, at the top of a file or inside a function (a lazy import hides a cycle from Python,
not from a reader)."""

from __future__ import annotations

import ast
from pathlib import Path

import tm_weather

PACKAGE = Path(tm_weather.__file__).parent


def module_name(path: Path) -> str:
    """`tm_weather/model/data.py` -> `tm_weather.model.data`; a package's `__init__.py` -> the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (`from a.b import c` names `a.b.c` when that is a module)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package, one level up per extra dot
                    base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], *filter(None, [base])])
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle `[a, b, ..., a]` of `graph`, or [] when it has none (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_the_graph_sees_function_level_and_from_imports():
    graph = import_graph()
    assert "tm_weather.tokenizers.fsq" in graph["tm_weather.tokenizers.series"]  # from tm_weather.tokenizers.fsq import FSQ
    assert "tm_weather.sources.era5" in graph["tm_weather.tokenizers.series_data"]  # inside load_hourly
    assert "tm_weather.model.transformer" in graph["tm_weather.train"]


#: The one import the package root may make: its lazy re-export `tm_weather.generate` (PEP 562 `__getattr__`, issue
#: 16). Modules import the root for its import order (pyproj first) and `__version__`, so any re-export from the
#: root closes a loop through it by construction; that edge, and only it, is left out of the search.
ROOT_EXPORTS = {"tm_weather.api"}


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert graph["tm_weather"] == ROOT_EXPORTS
    graph["tm_weather"] = set()
    assert find_cycle(graph) == []


#: Layers that must never import a higher one (issue 15): (lower package, higher package).
FORBIDDEN = (("tm_weather.sources", "tm_weather.model"), ("tm_weather.model", "tm_weather.commands"),
             ("tm_weather.jobs", "tm_weather.commands"), ("tm_weather.jobs", "tm_weather.cli"),
             ("tm_weather.sources", "tm_weather.commands"),
             ("tm_weather.verify", "tm_weather.commands"), ("tm_weather.tokenizers", "tm_weather.model"))


def test_no_import_from_a_lower_layer_to_a_higher_one():
    graph = import_graph()
    inside = lambda name, package: name == package or name.startswith(package + ".")  # noqa: E731
    steps_up = sorted((a, b) for a, edges in graph.items() for b in edges for low, high in FORBIDDEN
                      if inside(a, low) and inside(b, high))
    assert steps_up == []
