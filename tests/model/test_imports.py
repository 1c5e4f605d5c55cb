"""The model stage's modules form no import cycle (imports inside functions count), and keep their privates."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "src" / "scones" / "model"


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):  # every import: top level, in functions, TYPE_CHECKING
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from scones.model import jobs`
    return names


def test_no_import_cycle_in_the_model_stage() -> None:
    modules = {f"scones.model.{p.stem}": p for p in MODEL.glob("*.py") if p.stem != "__init__"}
    graph = {name: sorted(_imported(path) & set(modules)) for name, path in modules.items()}
    finished: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        assert name not in path, "import cycle: " + " -> ".join([*path[path.index(name) :], name])
        if name in finished:
            return
        for imported in graph[name]:
            visit(imported, [*path, name])
        finished.add(name)

    for name in graph:
        visit(name, [])


def test_nothing_imports_a_private_name_of_the_model_stage() -> None:
    offenders = []
    for path in [*(ROOT / "src").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("scones.model"):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                if private:
                    offenders.append(f"{path.relative_to(ROOT)} imports {', '.join(private)} from {node.module}")
    assert offenders == []
