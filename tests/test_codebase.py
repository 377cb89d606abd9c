"""The shape of the code the next engineer reads: no import cycle, no function over 60 lines."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "hpo"
MAX_LINES = 60


def _trees() -> dict[str, ast.Module]:
    return {f"hpo.{p.stem}": ast.parse(p.read_text(), str(p)) for p in PACKAGE.glob("*.py")}


def _imports(tree: ast.Module, modules: set[str]) -> set[str]:
    """The package's modules that ``tree`` imports, at its top or inside a function (a cycle
    through a function-level import is still a cycle); what only a type checker reads is left
    out."""
    type_only = {id(n) for node in ast.walk(tree)
                 if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                 for stmt in node.body for n in ast.walk(stmt)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "hpo":
            found |= {f"hpo.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found & modules


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path (first module repeated at its end), or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                return path[path.index(imported):] + [imported]
            if imported not in state and (found := visit(imported)):
                return found
        state[module] = "done"
        path.pop()
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_the_package_has_no_import_cycle():
    trees = _trees()
    graph = {name: _imports(tree, set(trees)) - {name} for name, tree in trees.items()}
    cycle = _cycle(graph)
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_the_cycle_check_finds_a_cycle_through_a_function_level_import():
    tree = ast.parse("def f():\n    from hpo.b import x\n")
    graph = {"hpo.a": _imports(tree, {"hpo.a", "hpo.b"}), "hpo.b": {"hpo.a"}}
    assert _cycle(graph) == ["hpo.a", "hpo.b", "hpo.a"]


def test_no_function_is_longer_than_60_lines():
    long = [f"{name}.{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for name, tree in sorted(_trees().items()) for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.end_lineno - node.lineno + 1 > MAX_LINES]
    assert not long, f"split these by job: {', '.join(long)}"
