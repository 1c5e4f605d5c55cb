"""The workflow stage reads one way: its modules import each other without a cycle (counting
imports inside functions) and none reaches for another's `_private` names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

STAGE = Path(__file__).resolve().parents[2] / "src" / "scones" / "workflow"
PACKAGE = "scones.workflow"


def _modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text(), str(path)) for path in sorted(STAGE.glob("*.py"))}


def _local_imports(tree: ast.Module, names: set[str]) -> dict[str, str]:
    """Every import of a sibling module anywhere in `tree`, as {name bound here: sibling module}."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == PACKAGE:
            bound.update({alias.asname or alias.name: alias.name for alias in node.names if alias.name in names})
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith(PACKAGE + "."):
            sibling = (node.module or "").split(".")[2]
            bound.update({f"{sibling}.{alias.name}": sibling for alias in node.names})
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + ".") and alias.name.split(".")[2] in names:
                    bound[alias.asname or alias.name] = alias.name.split(".")[2]
    return bound


def import_graph(modules: dict[str, ast.Module]) -> dict[str, set[str]]:
    names = set(modules)
    return {name: set(_local_imports(tree, names).values()) - {name} for name, tree in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as [a, b, ..., a], or [] if the graph has none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], node, nxt] if nxt in path else [node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, node])):
                return cycle
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [])):
            return cycle
    return []


def private_uses(modules: dict[str, ast.Module]) -> list[str]:
    """`from scones.workflow.x import _y` and `x._y` where x is a sibling module, in any module."""
    found = []
    names = set(modules)
    for name, tree in modules.items():
        bound = _local_imports(tree, names)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE + "."):
                found += [f"{name}: from {node.module} import {a.name}" for a in node.names if a.name.startswith("_")]
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.attr.startswith("_"):
                sibling = bound.get(node.value.id)
                if sibling is not None and sibling != name:
                    found.append(f"{name}: {node.value.id}.{node.attr}")
    return found


def test_the_workflow_modules_import_each_other_without_a_cycle() -> None:
    assert find_cycle(import_graph(_modules())) == []


def test_no_workflow_module_uses_another_ones_private_names() -> None:
    assert private_uses(_modules()) == []


def test_standard_executions_run_down_one_path() -> None:
    graph = import_graph(_modules())
    assert "standard" in graph["executions"]  # imported inside run(): DBOS is slow to import
    assert {"durable", "workers"} <= graph["standard"]
    for backend in ("durable", "workers"):
        assert {"launcher", "tasks"} <= graph[backend]
        assert not graph[backend] & {"standard", "executions", "durable", "workers"}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"a": "from scones.workflow import b", "b": "def f():\n    from scones.workflow import a"}, ["a", "b", "a"]),
        ({"a": "from scones.workflow import b", "b": "x = 1"}, []),
    ],
)
def test_the_cycle_check_sees_lazy_imports(source: dict[str, str], expected: list[str]) -> None:
    graph = import_graph({name: ast.parse(text) for name, text in source.items()})
    assert find_cycle(graph) == expected


def test_the_private_check_sees_attributes_and_imports() -> None:
    modules = {
        "a": ast.parse("from scones.workflow import b\ndef f():\n    return b._hidden()"),
        "b": ast.parse("from scones.workflow.a import _secret"),
    }
    assert private_uses(modules) == ["a: b._hidden", "b: from scones.workflow.a import _secret"]
