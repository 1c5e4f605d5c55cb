"""The layout is the architecture: data flows down the stages and never back up."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "scones"
# Stages in the order data flows; a module may import its own stage and those before it.
ORDER = ["data", "model", "endpoint", "functions", "workflow", "monitor", "console", "aws", "localaws", "cli"]
CORE = {"scones", "scones.errors", "scones.keys", "scones.config", "scones.progress", "scones.state", "scones.storage"}
# The Lambda functions ship as zips with boto3 and the standard library only; these scones
# modules are themselves standard-library only, so the zips bundle them.
FUNCTIONS_MAY_IMPORT = {"scones.keys", "scones.errors", "scones.config", "scones.functions"}
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
