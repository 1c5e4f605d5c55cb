from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from scones.aws import package
from scones.aws.errors import AwsError
from scones.aws.plan import FUNCTIONS


@pytest.mark.parametrize("module", FUNCTIONS)
def test_zip_holds_the_handler_and_only_light_scones_modules(module: str) -> None:
    data = package.build_zip(module)
    names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    assert f"scones/functions/{module}.py" in names
    assert {"scones/__init__.py", "scones/functions/__init__.py", "scones/errors.py"} <= names
    heavy = ("scones/model/", "scones/endpoint/", "scones/workflow/", "scones/storage.py", "scones/cli/")
    # The endpoints table's owner reads the local registry with sqlite3 alone (tests/test_architecture.py).
    light = {"scones/endpoint/__init__.py", "scones/endpoint/table.py"}
    assert not [n for n in names if n.startswith(heavy) and n not in light]
    assert package.handler_name(module) == f"scones.functions.{module}.handler"


@pytest.mark.parametrize("module", ["filter_inferences", "classify_image"])
def test_zip_imports_and_finds_the_handler(tmp_path: Path, module: str) -> None:
    """Unpacked alone (no installed scones on the path), the module imports and has handler()."""
    import subprocess
    import sys

    zipfile.ZipFile(io.BytesIO(package.build_zip(module))).extractall(tmp_path)
    code = f"import scones.functions.{module} as m, sys; print(callable(m.handler), 'torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); {code}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert result.stdout.split() == ["True", "False"]


def test_zips_are_reproducible() -> None:
    assert package.build_zip("classify_image") == package.build_zip("classify_image")


def test_heavy_imports_are_refused(tmp_path: Path) -> None:
    source = tmp_path / "heavy.py"
    source.write_text("import numpy\n")
    with pytest.raises(AwsError, match="Lambda runtime lacks"):
        package._scones_imports(source, "scones.functions.heavy", "scones.functions.heavy")


def test_unknown_function_module() -> None:
    with pytest.raises(AwsError, match="No function module"):
        package.module_files("no_such_function")
