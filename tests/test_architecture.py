"""The layout is the architecture: data flows down the stages and never back up."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "scones"
# Stages in the order data flows; a module may import its own stage and those before it.
ORDER = ["data", "model", "endpoint", "functions", "workflow", "monitor", "console", "aws", "cli"]
CORE = {"scones", "scones.errors", "scones.keys", "scones.config", "scones.progress", "scones.state", "scones.storage"}
# The Lambda functions ship as zips with boto3 and the standard library only; these scones
# modules are themselves standard-library only, so the zips bundle them.
FUNCTIONS_MAY_IMPORT = {"scones.keys", "scones.errors", "scones.config", "scones.functions", "scones.endpoint.table"}
# ...and so are the modules those import (the endpoints table's owner reads it with sqlite3).
LAMBDA_LIGHT_MODULES = ["keys.py", "errors.py", "config.py", "state.py", "endpoint/table.py", "endpoint/__init__.py"]
LIGHT_FOR_LAMBDA = {"boto3", "botocore"}


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ORDER else None


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_flow_down_the_stages(path: Path) -> None:
    module = _module_name(path)
    mine = _stage(module)
    for imported in _imports(path):
        if not imported.startswith("scones"):
            continue
        theirs = _stage(imported)
        if mine is None:  # core modules import only core modules
            assert theirs is None, f"{module} (core) imports stage module {imported}"
        elif theirs is not None:
            assert ORDER.index(theirs) <= ORDER.index(mine), f"{module} imports {imported}: data flows down only"


@pytest.mark.parametrize("path", sorted((SRC / "functions").glob("*.py")), ids=lambda p: p.name)
def test_functions_stay_light_enough_for_lambda(path: Path) -> None:
    import sys

    for imported in _imports(path):
        top = imported.split(".")[0]
        if imported.startswith("scones"):
            assert any(imported == m or imported.startswith(m + ".") for m in FUNCTIONS_MAY_IMPORT), imported
        else:
            assert top in sys.stdlib_module_names or top in LIGHT_FOR_LAMBDA or top == "__future__", imported


@pytest.mark.parametrize("name", LAMBDA_LIGHT_MODULES)
def test_modules_the_lambda_zips_bundle_are_standard_library_only(name: str) -> None:
    import sys

    for imported in _imports(SRC / name):
        top = imported.split(".")[0]
        if imported.startswith("scones"):
            assert _stage(imported) is None or imported == "scones.endpoint.table", imported
        else:
            assert top in sys.stdlib_module_names or top == "__future__", imported


def _stage_graph(stage: str) -> dict[str, set[str]]:
    """Module -> the modules of the same stage it imports anywhere (in functions and TYPE_CHECKING too)."""
    package = f"scones.{stage}"
    graph: dict[str, set[str]] = {}
    for path in sorted((SRC / stage).glob("*.py")):
        module = _module_name(path)
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from pkg import module`
        graph[module] = {
            m
            for m in found
            if m.startswith(package + ".") and m != module and (SRC.parent / (m.replace(".", "/") + ".py")).is_file()
        }
    return graph


def test_no_import_cycle_inside_the_endpoint_stage() -> None:
    graph = _stage_graph("endpoint")
    assert "scones.endpoint.app" in graph and graph["scones.endpoint.app"]  # the walk sees the stage

    def cycle_from(module: str, path: list[str]) -> list[str] | None:
        for imported in sorted(graph.get(module, ())):
            if imported in path:
                return [*path[path.index(imported) :], imported]
            found = cycle_from(imported, [*path, imported])
            if found:
                return found
        return None

    cycles = [c for m in graph if (c := cycle_from(m, [m]))]
    assert cycles == [], " -> ".join(cycles[0]) if cycles else ""


# model/__init__.py sets OMP_WAIT_POLICY for libgomp before torch loads: it writes the
# environment of the process for a C library, it reads no configuration.
ENVIRONMENT_WRITERS = {"model/__init__.py"}


def test_only_config_reads_the_environment() -> None:
    offenders = [
        str(p.relative_to(SRC))
        for p in _modules()
        if ("os.environ" in p.read_text() or "os.getenv" in p.read_text())
        and p.name != "config.py"
        and str(p.relative_to(SRC)) not in ENVIRONMENT_WRITERS
    ]
    assert offenders == []
