from __future__ import annotations

import subprocess
import sys

import scones.monitor


def test_every_export_resolves() -> None:
    for name in scones.monitor.__all__:
        assert getattr(scones.monitor, name).__name__ == name


def test_importing_the_cli_stays_light() -> None:
    code = (
        "import sys, scones.cli, scones.monitor;"
        "heavy = [m for m in ('torch', 'matplotlib', 'scipy', 'onnxruntime') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
