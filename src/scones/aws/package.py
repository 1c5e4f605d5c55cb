"""Lambda zips: each function's module plus the scones modules it imports, nothing else.

The files are found by following `import scones...` statements from the handler module, so
a helper the functions engineer adds travels with them; anything outside the standard
library and boto3 (which the Lambda runtime provides) is refused, since it would not be
there on Lambda. Zips are reproducible: same sources, same bytes, same CodeSha256.
"""

from __future__ import annotations

import ast
import io
import sys
import zipfile
from pathlib import Path

import scones
from scones.aws.errors import AwsError

PACKAGE_ROOT = Path(scones.__file__).resolve().parent  # .../scones
_RUNTIME_PROVIDES = {"boto3", "botocore", "__future__"}
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps keep the zip bytes reproducible


def handler_name(module: str) -> str:
    """The Lambda `Handler` setting for a function module."""
    return f"scones.functions.{module}.handler"


def module_files(module: str) -> list[Path]:
    """The source files a function needs, relative to the directory holding `scones/`."""
    start = f"scones.functions.{module}"
    if _source(start) is None:
        raise AwsError(f"No function module {start}; the functions stage must provide it before deploying")
    seen: set[str] = set()
    pending = [start]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _source(name)
        if path is None:
            raise AwsError(f"{start} imports {name}, which is not a scones module")
        pending.extend(_scones_imports(path, name, start))
        parts = name.split(".")
        pending.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages
    files = {_source(name) for name in seen}
    return sorted(p.relative_to(PACKAGE_ROOT.parent) for p in files if p is not None)


def build_zip(module: str) -> bytes:
    """The deployment package of one function, as zip bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for rel in module_files(module):
            info = zipfile.ZipInfo(rel.as_posix(), date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (PACKAGE_ROOT.parent / rel).read_bytes())
    return buffer.getvalue()


def _source(name: str) -> Path | None:
    """The file of module `name` inside the scones package (or None)."""
    rel = Path(*name.split(".")[1:])
    for candidate in (PACKAGE_ROOT / rel / "__init__.py", (PACKAGE_ROOT / rel).with_suffix(".py")):
        if name != "scones" and candidate.is_file():
            return candidate
    return PACKAGE_ROOT / "__init__.py" if name == "scones" else None


def _scones_imports(path: Path, name: str, start: str) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, name, path)
            # `from scones.x import y` may import module y: keep it when it is one.
            imported = [base] + [f"{base}.{a.name}" for a in node.names if _source(f"{base}.{a.name}")]
        else:
            continue
        for target in imported:
            top = target.split(".")[0]
            if top == "scones":
                found.append(target)
            elif top not in sys.stdlib_module_names and top not in _RUNTIME_PROVIDES:
                raise AwsError(
                    f"{start} needs {target} (imported by {name}), which the Lambda runtime lacks; "
                    "functions may use only the standard library, boto3 and light scones modules"
                )
    return found


def _absolute(node: ast.ImportFrom, name: str, path: Path) -> str:
    if node.level == 0:
        return node.module or ""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))
