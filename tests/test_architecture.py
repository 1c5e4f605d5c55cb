"""The layout is the architecture: data flows down the stages and never back up."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "scones"
# Stages in the order data flows; a module may import its own stage and those before it.
ORDER = [
    "data",
    "model",
    "endpoint",
    "functions",
    "workflow",
    "monitor",
    "review",
    "loop",
    "console",
    "aws",
    "localaws",
    "cli",
]
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


def _is_module(name: str) -> bool:
    parts = name.split(".")[1:]
    base = SRC.joinpath(*parts)
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _targets(path: Path) -> set[str]:
    """Every scones module this file imports, in-function imports included, `from pkg import mod` resolved."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("scones"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("scones"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if _is_module(sub) else node.module)
    return found


def _cycle_in(stage: str) -> list[str] | None:
    graph = {_module_name(p): _targets(p) for p in _modules() if _stage(_module_name(p)) == stage}
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph or nxt == node:
                continue
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


@pytest.mark.parametrize("stage", ORDER)
def test_no_import_cycle_inside_a_stage(stage: str) -> None:
    cycle = _cycle_in(stage)
    assert cycle is None, "import cycle (in-function imports count): " + " -> ".join(cycle or [])


def _private_imports(path: Path) -> list[str]:
    """`_name`s this module takes from another scones module (a package may use its own `_module`s)."""
    module = _module_name(path) if path.is_relative_to(SRC) else f"bench.{path.stem}"
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    bad: list[str] = []
    aliases: dict[str, str] = {}
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("scones"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                if _is_module(sub):
                    aliases[alias.asname or alias.name] = sub
                    if alias.name.startswith("_") and node.module != package:
                        bad.append(sub)
                elif alias.name.startswith("_") and not alias.name.startswith("__") and node.module != module:
                    bad.append(sub)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("scones") and alias.asname:
                    aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and aliases[node.value.id] != module
            and not _is_module(f"{aliases[node.value.id]}.{node.attr}")
        ):
            bad.append(f"{aliases[node.value.id]}.{node.attr}")
    return sorted(set(bad))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_no_private_name_crosses_modules(path: Path) -> None:
    assert _private_imports(path) == [], f"{_module_name(path)} reaches into private names of another module"


@pytest.mark.parametrize("path", sorted((SRC.parent.parent / "bench").rglob("*.py")), ids=lambda p: p.name)
def test_benchmarks_use_only_public_names(path: Path) -> None:
    assert _private_imports(path) == [], f"{path.name} reaches into private names of scones"
