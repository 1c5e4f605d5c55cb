"""Stage 1, data: fetch CIFAR-100, keep the chosen classes, stage PNGs + .lst files in a bucket.

Entry points: `stage` (archive or image folder -> bucket) and, for later stages, `read_split`
and `read_manifest` (bucket -> arrays). Imported lazily so `import scones.data` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["DEFAULT_SOURCE", "Split", "StageResult", "read_manifest", "read_split", "stage"]

_HOMES = {
    "DEFAULT_SOURCE": "scones.data.stage",
    "StageResult": "scones.data.stage",
    "stage": "scones.data.stage",
    "Split": "scones.data.dataset",
    "read_manifest": "scones.data.dataset",
    "read_split": "scones.data.dataset",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'scones.data' has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
