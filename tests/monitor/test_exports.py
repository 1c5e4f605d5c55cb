from __future__ import annotations

import subprocess
import sys


def test_importing_the_cli_stays_light() -> None:
    code = (
        "import sys, scones.cli, scones.monitor;"
        "heavy = [m for m in ('torch', 'matplotlib', 'scipy', 'onnxruntime') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
